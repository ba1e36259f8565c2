//! The request headers Waveguide reads itself, as pure functions over the
//! header text: the media type of `Content-Type` and the stream secret in
//! `Authorization: Bearer`. Fuzzed (fuzz/fuzz_targets/http_headers.rs).

/// The media type of a `Content-Type` value, without parameters or spaces.
pub fn media_type(content_type: &str) -> &str {
    content_type.split(';').next().unwrap_or_default().trim()
}

/// The token of an `Authorization: Bearer <token>` value (any case of
/// `Bearer`), trimmed.
pub fn bearer_token(authorization: &str) -> Option<&str> {
    let (scheme, token) = authorization.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// The secret in an `Authorization` value for `channel`: the scheme must be
/// `Bearer` (any case); the token is `<channel>-<secret>` (`-`, `,` or `_`
/// after the channel, as encoders write it) or the bare secret.
pub fn bearer_secret<'a>(authorization: &'a str, channel: &str) -> Option<&'a str> {
    let token = bearer_token(authorization)?;
    let secret = token
        .strip_prefix(channel)
        .and_then(|rest| rest.strip_prefix(['-', ',', '_']))
        .unwrap_or(token);
    Some(secret.trim())
}

/// The channel of a stream key `<channel>-<secret>` (the seed's
/// `/whip/stream/{channel}-{key}` path): the text before the first `-`.
pub fn channel_of_stream_key(stream_key: &str) -> Option<&str> {
    let (channel, secret) = stream_key.split_once('-')?;
    (!channel.is_empty() && !secret.is_empty()).then_some(channel)
}

/// Equality whose time does not depend on where the inputs differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_keys_name_their_channel() {
        assert_eq!(channel_of_stream_key("123-abc"), Some("123"));
        assert_eq!(channel_of_stream_key("123-abc-def"), Some("123"));
        assert_eq!(channel_of_stream_key("123"), None);
        assert_eq!(channel_of_stream_key("-abc"), None);
        assert_eq!(channel_of_stream_key("123-"), None);
    }

    #[test]
    fn constant_time_eq_compares_whole_keys() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
        assert!(!constant_time_eq(b"", b"a"));
    }

    #[test]
    fn media_types_lose_their_parameters() {
        assert_eq!(media_type("application/sdp"), "application/sdp");
        assert_eq!(
            media_type(" application/sdp ; charset=utf-8"),
            "application/sdp"
        );
        assert_eq!(media_type(""), "");
        assert_eq!(media_type(";"), "");
    }

    #[test]
    fn bearer_tokens_with_or_without_the_channel() {
        assert_eq!(bearer_secret("Bearer 123-abc", "123"), Some("abc"));
        assert_eq!(bearer_secret("bearer  123_abc ", "123"), Some("abc"));
        assert_eq!(bearer_secret("BEARER abc", "123"), Some("abc"));
        assert_eq!(bearer_secret("Bearer 1234-abc", "123"), Some("1234-abc"));
        assert_eq!(bearer_secret("Basic abc", "123"), None);
        assert_eq!(bearer_secret("Bearer", "123"), None);
        assert_eq!(bearer_secret("", "123"), None);
        // Found by fuzz/fuzz_targets/http_headers.rs: no space survives.
        assert_eq!(
            bearer_secret("bearer  7_ 7_arer set ", "7"),
            Some("7_arer set")
        );
    }
}
