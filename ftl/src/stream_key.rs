//! StreamKey: the `<channel>-<secret>` string a streamer pastes into an FTL
//! encoder, split the way ftl-sdk splits it (FTL-SPEC §2).

use std::fmt;

/// Longest HMAC key ftl-sdk can hold (a 100-byte buffer with its NUL).
pub const MAX_KEY_LEN: usize = 99;

/// Why a stream key cannot be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum StreamKeyError {
    /// No `-`, `,` or `_` separates the channel from the secret.
    #[error("stream key has no '-', ',' or '_' separator")]
    NoSeparator,
    /// The secret part is empty.
    #[error("stream key has an empty secret")]
    EmptySecret,
    /// The secret is longer than ftl-sdk's buffer.
    #[error("stream key secret is longer than {MAX_KEY_LEN} bytes")]
    SecretTooLong,
}

/// A stream key split into the channel id and the HMAC secret.
#[derive(Clone, PartialEq, Eq)]
pub struct StreamKey {
    /// The channel id, read like C's `atol` and stored as `uint32_t`.
    pub channel: u32,
    /// The secret after the separator, used as the HMAC key.
    pub secret: String,
}

impl StreamKey {
    /// Splits a key like ftl-sdk's `_get_chan_id_and_key`: drop a `re_` prefix,
    /// split at the first `-`, `,` or `_`, read the prefix like `atol`.
    pub fn parse(key: &str) -> Result<Self, StreamKeyError> {
        let key = key.strip_prefix("re_").unwrap_or(key);
        let split = key
            .find(['-', ',', '_'])
            .ok_or(StreamKeyError::NoSeparator)?;
        let (prefix, rest) = key.split_at(split);
        let secret = &rest[1..];
        if secret.is_empty() {
            return Err(StreamKeyError::EmptySecret);
        }
        if secret.len() > MAX_KEY_LEN {
            return Err(StreamKeyError::SecretTooLong);
        }
        Ok(Self {
            channel: atol_u32(prefix),
            secret: secret.to_owned(),
        })
    }

    /// The SSRC ftl-sdk uses for audio: the channel id.
    pub fn audio_ssrc(&self) -> u32 {
        self.channel
    }

    /// The SSRC ftl-sdk uses for video: the channel id plus one, wrapping.
    pub fn video_ssrc(&self) -> u32 {
        self.channel.wrapping_add(1)
    }
}

impl fmt::Debug for StreamKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The secret never reaches a log line.
        f.debug_struct("StreamKey")
            .field("channel", &self.channel)
            .finish_non_exhaustive()
    }
}

/// C's `atol` stored into a `uint32_t`: optional leading spaces and sign, then
/// digits up to the first non-digit; non-numeric input gives 0, and overflow
/// clamps to `LONG_MAX`/`LONG_MIN` as glibc's `strtol` does, before the
/// conversion keeps the low 32 bits.
fn atol_u32(text: &str) -> u32 {
    let text = text.trim_start_matches([' ', '\t', '\n', '\r', '\x0b', '\x0c']);
    let (negative, digits) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let mut value: i64 = 0;
    for digit in digits.bytes().take_while(u8::is_ascii_digit) {
        let digit = i64::from(digit - b'0');
        let next = value.checked_mul(10).and_then(|v| {
            if negative {
                v.checked_sub(digit)
            } else {
                v.checked_add(digit)
            }
        });
        match next {
            Some(next) => value = next,
            None => {
                value = if negative { i64::MIN } else { i64::MAX };
                break;
            }
        }
    }
    value as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_example_key() {
        let key = StreamKey::parse("123-secretkey").unwrap();
        assert_eq!(key.channel, 123);
        assert_eq!(key.secret, "secretkey");
        assert_eq!(key.audio_ssrc(), 123);
        assert_eq!(key.video_ssrc(), 124);
    }

    #[test]
    fn first_separator_wins_and_secret_keeps_dashes() {
        let key = StreamKey::parse("7_a-b,c").unwrap();
        assert_eq!((key.channel, key.secret.as_str()), (7, "a-b,c"));
        let key = StreamKey::parse("re_42,xyz").unwrap();
        assert_eq!((key.channel, key.secret.as_str()), (42, "xyz"));
    }

    #[test]
    fn non_numeric_channel_is_zero_like_atol() {
        assert_eq!(StreamKey::parse("abc-key").unwrap().channel, 0);
        assert_eq!(StreamKey::parse("-key").unwrap().channel, 0);
        assert_eq!(StreamKey::parse("12ab-key").unwrap().channel, 12);
    }

    #[test]
    fn channel_converts_like_uint32() {
        assert_eq!(StreamKey::parse("4294967295-k").unwrap().channel, u32::MAX);
        assert_eq!(StreamKey::parse("4294967296-k").unwrap().channel, 0);
        assert_eq!(
            StreamKey::parse("-1-k").unwrap().channel,
            0,
            "the first '-' is the separator"
        );
        assert_eq!(
            StreamKey::parse("99999999999999999999-k").unwrap().channel,
            u32::MAX,
            "clamped to LONG_MAX"
        );
        assert_eq!(atol_u32("-99999999999999999999"), 0, "clamped to LONG_MIN");
        assert_eq!(atol_u32(" -5"), (-5i32) as u32);
        assert_eq!(StreamKey::parse("4294967295-k").unwrap().video_ssrc(), 0);
    }

    #[test]
    fn bad_keys() {
        assert_eq!(StreamKey::parse("123"), Err(StreamKeyError::NoSeparator));
        assert_eq!(StreamKey::parse("123-"), Err(StreamKeyError::EmptySecret));
        let long = format!("1-{}", "k".repeat(MAX_KEY_LEN + 1));
        assert_eq!(StreamKey::parse(&long), Err(StreamKeyError::SecretTooLong));
    }

    #[test]
    fn debug_hides_the_secret() {
        let key = StreamKey::parse("123-secretkey").unwrap();
        assert!(!format!("{key:?}").contains("secretkey"));
    }
}
