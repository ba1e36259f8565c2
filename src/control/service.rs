//! Service: who may stream, and what the platform is told, as configured
//! (the calls are made by `service_client.rs`). `dummy` is the rule of the
//! original Waveguide (a channel's secret is the hex SHA-256 of its id:
//! anyone can stream; local use). `static` takes channel → secret from the
//! configuration. `webhook` asks an HTTP endpoint for each channel's secret
//! and tells it when streams start, stop, and how they are doing.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Decides which secret a channel streams with.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum Service {
    /// A channel's secret is `hex(sha256(channel id))`.
    #[default]
    Dummy,
    /// Secrets listed in the configuration; other channels may not stream.
    Static {
        /// Channel → secret.
        keys: BTreeMap<String, String>,
    },
    /// An HTTP endpoint decides, and hears about every stream.
    Webhook(Webhook),
}

/// Where and how the webhook is called.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Webhook {
    /// The URL every event is POSTed to as JSON (`http://` only for now).
    pub url: String,
    /// Longest wait for one call, in milliseconds.
    #[serde(default = "Webhook::default_timeout_ms")]
    pub timeout_ms: u64,
    /// Extra attempts after a failed call (network error or 5xx).
    #[serde(default = "Webhook::default_retries")]
    pub retries: u32,
    /// How often each live stream's metadata is sent, in milliseconds.
    #[serde(default = "Webhook::default_heartbeat_ms")]
    pub heartbeat_ms: u64,
    /// Consecutive failed heartbeats after which a stream is stopped.
    #[serde(default = "Webhook::default_max_failed_heartbeats")]
    pub max_failed_heartbeats: u32,
    /// Whether viewers must be authorized too (`authorize_viewer` events).
    #[serde(default)]
    pub viewer_auth: bool,
}

impl Webhook {
    fn default_timeout_ms() -> u64 {
        2_000
    }
    fn default_retries() -> u32 {
        2
    }
    fn default_heartbeat_ms() -> u64 {
        15_000
    }
    fn default_max_failed_heartbeats() -> u32 {
        3
    }
}

impl Service {
    /// The secret of `channel` known without asking anyone (`dummy`,
    /// `static`); `None` for a webhook, which must be asked (see
    /// [`ServiceClient::authorize`](super::service_client::ServiceClient::authorize)).
    pub fn stream_secret(&self, channel: &str) -> Option<String> {
        match self {
            Self::Dummy => Some(
                Sha256::digest(channel.as_bytes())
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect(),
            ),
            Self::Static { keys } => keys.get(channel).cloned(),
            Self::Webhook(_) => None,
        }
    }

    /// A full stream key for `channel`, as an encoder is configured with.
    pub fn example_stream_key(&self, channel: &str) -> Option<String> {
        self.stream_secret(channel)
            .map(|secret| format!("{channel}-{secret}"))
    }

    /// A channel whose key may be shown at start-up: only with `dummy`,
    /// whose keys anyone can compute. Real secrets never reach the logs.
    pub fn example_channel(&self) -> Option<String> {
        match self {
            Self::Dummy => Some("123".into()),
            Self::Static { .. } | Self::Webhook(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dummy_secret_is_sha256_hex_of_the_channel() {
        assert_eq!(
            Service::Dummy.stream_secret("123").as_deref(),
            Some("a665a45920422f9d417e4867efdc4fb8a04a1f3fff1fa07e998e86f7f7a27ae3")
        );
    }

    #[test]
    fn static_keys_allow_only_listed_channels() {
        let service = Service::Static {
            keys: [("7".to_string(), "hunter2".to_string())].into(),
        };
        assert_eq!(service.stream_secret("7").as_deref(), Some("hunter2"));
        assert_eq!(service.stream_secret("8"), None);
        assert_eq!(
            service.example_stream_key("7").as_deref(),
            Some("7-hunter2")
        );
        assert_eq!(
            service.example_channel(),
            None,
            "real secrets are never printed"
        );
    }
}
