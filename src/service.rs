//! Service: who may stream. For now the `dummy` rule of the original
//! Waveguide: a channel's stream secret is the hex SHA-256 of its id, so
//! anyone can stream on any channel whose key they can compute (local use).

use sha2::{Digest, Sha256};

/// Decides which secret a channel streams with.
#[derive(Debug, Clone, Default)]
pub enum Service {
    /// A channel's secret is `hex(sha256(channel id))`.
    #[default]
    Dummy,
}

impl Service {
    /// The secret (the HMAC key for FTL) of `channel`, if it may stream.
    pub fn stream_secret(&self, channel: &str) -> Option<String> {
        match self {
            Self::Dummy => Some(
                Sha256::digest(channel.as_bytes())
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect(),
            ),
        }
    }

    /// A full FTL stream key for `channel`, as an encoder is configured with.
    pub fn example_stream_key(&self, channel: &str) -> Option<String> {
        self.stream_secret(channel)
            .map(|secret| format!("{channel}-{secret}"))
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
}
