//! Service: who may stream. `dummy` is the rule of the original Waveguide: a
//! channel's stream secret is the hex SHA-256 of its id, so anyone can stream
//! on any channel (local use). `static` takes channel → secret from the
//! configuration file.

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
}

impl Service {
    /// The secret (the HMAC key for FTL, the Bearer secret for WHIP) of
    /// `channel`, if it may stream.
    pub fn stream_secret(&self, channel: &str) -> Option<String> {
        match self {
            Self::Dummy => Some(
                Sha256::digest(channel.as_bytes())
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect(),
            ),
            Self::Static { keys } => keys.get(channel).cloned(),
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
            Self::Static { .. } => None,
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
    }
}
