//! The request headers Waveguide parses itself (`Content-Type`, and the
//! stream secret in `Authorization: Bearer`) on arbitrary text. Input: the
//! channel on the first line, the header value after it.
#![no_main]

use waveguide::net::headers::{bearer_secret, media_type};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (channel, value) = text.split_once('\n').unwrap_or(("123", text));
    let media = media_type(value);
    assert!(!media.contains(';'), "parameters removed");
    assert_eq!(media, media.trim(), "no surrounding space");
    assert!(value.contains(media), "a slice of the value");
    if let Some(secret) = bearer_secret(value, channel) {
        assert!(value.contains(secret), "a slice of the value");
        assert_eq!(secret, secret.trim_start(), "no leading space");
    }
});
