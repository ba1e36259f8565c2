//! Service: who may stream, and what the platform is told. `dummy` is the
//! rule of the original Waveguide (a channel's secret is the hex SHA-256 of
//! its id: anyone can stream; local use). `static` takes channel → secret from
//! the configuration. `webhook` asks an HTTP endpoint for each channel's
//! secret and tells it when streams start, stop, and how they are doing.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
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
    /// [`ServiceClient::authorize`]).
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

/// The service with what it needs to make calls.
#[derive(Debug, Clone)]
pub struct ServiceClient {
    service: Service,
    http: reqwest::Client,
}

impl ServiceClient {
    /// A client for `service` (its HTTP client can fail to build only if
    /// the system's TLS roots cannot be loaded).
    pub fn new(service: Service) -> std::io::Result<Self> {
        crate::http::install_crypto_provider();
        let http = reqwest::Client::builder()
            .build()
            .map_err(|error| std::io::Error::other(format!("HTTP client: {error}")))?;
        Ok(Self { service, http })
    }

    /// The service.
    pub fn service(&self) -> &Service {
        &self.service
    }

    /// The webhook, if that is the service.
    pub fn webhook(&self) -> Option<&Webhook> {
        match &self.service {
            Service::Webhook(webhook) => Some(webhook),
            _ => None,
        }
    }

    /// The secret `channel` streams with, or `None` if it may not stream.
    /// A webhook answers `200 {"secret": "..."}`; anything else, a timeout
    /// or an unreachable endpoint refuses (fail closed).
    pub async fn authorize(&self, channel: &str) -> Option<String> {
        if self.webhook().is_none() {
            return self.service.stream_secret(channel);
        }
        let reply = self
            .call(&json!({ "event": "authorize", "channel": channel }))
            .await?;
        reply
            .get("secret")
            .and_then(Value::as_str)
            .filter(|secret| !secret.is_empty())
            .map(str::to_owned)
    }

    /// Whether a viewer holding `token` (its Bearer token, if it sent one)
    /// may watch `channel`: always without viewer auth; otherwise the
    /// webhook must answer 2xx to `authorize_viewer` (fail closed).
    pub async fn authorize_viewer(&self, channel: &str, token: Option<&str>) -> bool {
        match self.webhook() {
            Some(webhook) if webhook.viewer_auth => self
                .call(&json!({ "event": "authorize_viewer", "channel": channel, "token": token }))
                .await
                .is_some(),
            _ => true,
        }
    }

    /// Tells the webhook about `event` (`stream_started`, `stream_stopped`,
    /// `metadata`). True if it answered 2xx (always true without a webhook).
    pub async fn notify(&self, event: &Value) -> bool {
        self.webhook().is_none() || self.call(event).await.is_some()
    }

    /// POSTs `body`, retrying network errors and 5xx answers; the JSON reply
    /// of a 2xx answer (`Null` if it has none), or `None`.
    async fn call(&self, body: &Value) -> Option<Value> {
        let webhook = self.webhook()?;
        let timeout = Duration::from_millis(webhook.timeout_ms);
        for attempt in 0..=webhook.retries {
            let sent = self
                .http
                .post(&webhook.url)
                .timeout(timeout)
                .json(body)
                .send()
                .await;
            match sent {
                Ok(response) if response.status().is_success() => {
                    return Some(response.json::<Value>().await.unwrap_or(Value::Null));
                }
                Ok(response) if response.status().is_client_error() => {
                    tracing::debug!(status = %response.status(), "webhook refused");
                    return None;
                }
                Ok(response) => {
                    tracing::warn!(status = %response.status(), attempt, "webhook failed")
                }
                Err(error) => tracing::warn!(%error, attempt, "webhook unreachable"),
            }
        }
        None
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
