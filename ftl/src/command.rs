//! Command: one control line parsed into what the client asked for
//! (FTL-SPEC §3.2, §3.3). Parse, don't validate: a `Connect` exists only once
//! its channel and digest are well-formed.

use crate::hmac::{DIGEST_LEN, Digest, decode_hex};

/// Longest vendor name, vendor version or protocol version kept (ftl-sdk caps
/// the first two at 49 chars).
pub const MAX_TEXT_ATTRIBUTE_LEN: usize = 64;

/// A parsed control line from the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `HMAC`: asks for the challenge.
    Hmac,
    /// `CONNECT <channel> $<hex digest>`.
    Connect {
        /// The channel id; ftl-sdk prints ids ≥ 2^31 as negative numbers.
        channel: u32,
        /// The HMAC-SHA512 digest of the challenge.
        digest: Digest,
    },
    /// `Key: Value`.
    Attribute(Attribute),
    /// `.`: the end of the attributes.
    Dot,
    /// `PING` or `PING <channel>`.
    Ping {
        /// The channel id, if the client sent one.
        channel: Option<u32>,
    },
    /// `DISCONNECT`, with or without an argument.
    Disconnect,
    /// A line that is none of the above; the server counts and ignores it.
    Unknown,
}

/// A well-formed attribute line. Values are already checked: a payload type
/// that would collide with the sender-report or ping encodings never gets here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attribute {
    /// `ProtocolVersion`: free text, stored (nobody enforces it).
    ProtocolVersion(String),
    /// `VendorName`: free text.
    VendorName(String),
    /// `VendorVersion`: free text.
    VendorVersion(String),
    /// `Video: true|false`.
    Video(bool),
    /// `VideoCodec`.
    VideoCodec(Codec),
    /// `VideoWidth`: a legacy hint; ftl-sdk always says 1280.
    VideoWidth(u32),
    /// `VideoHeight`: a legacy hint; ftl-sdk always says 720.
    VideoHeight(u32),
    /// `VideoPayloadType`.
    VideoPayloadType(u8),
    /// `VideoIngestSSRC`.
    VideoIngestSsrc(u32),
    /// `Audio: true|false`.
    Audio(bool),
    /// `AudioCodec`.
    AudioCodec(Codec),
    /// `AudioPayloadType`.
    AudioPayloadType(u8),
    /// `AudioIngestSSRC`.
    AudioIngestSsrc(u32),
    /// A key this server does not know; ignored.
    Unknown,
}

/// A codec name an FTL client can announce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    /// `H264`.
    H264,
    /// `VP8`: ftl-sdk can announce it; Waveguide does not take it.
    Vp8,
    /// `OPUS`.
    Opus,
    /// `AAC`: ftl-sdk can announce it; Waveguide does not take it.
    Aac,
}

/// The attribute keys the server understands, for error reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttributeKey {
    /// `ProtocolVersion`.
    ProtocolVersion,
    /// `VendorName`.
    VendorName,
    /// `VendorVersion`.
    VendorVersion,
    /// `Video`.
    Video,
    /// `VideoCodec`.
    VideoCodec,
    /// `VideoWidth`.
    VideoWidth,
    /// `VideoHeight`.
    VideoHeight,
    /// `VideoPayloadType`.
    VideoPayloadType,
    /// `VideoIngestSSRC`.
    VideoIngestSsrc,
    /// `Audio`.
    Audio,
    /// `AudioCodec`.
    AudioCodec,
    /// `AudioPayloadType`.
    AudioPayloadType,
    /// `AudioIngestSSRC`.
    AudioIngestSsrc,
}

impl AttributeKey {
    /// The key as it appears on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ProtocolVersion => "ProtocolVersion",
            Self::VendorName => "VendorName",
            Self::VendorVersion => "VendorVersion",
            Self::Video => "Video",
            Self::VideoCodec => "VideoCodec",
            Self::VideoWidth => "VideoWidth",
            Self::VideoHeight => "VideoHeight",
            Self::VideoPayloadType => "VideoPayloadType",
            Self::VideoIngestSsrc => "VideoIngestSSRC",
            Self::Audio => "Audio",
            Self::AudioCodec => "AudioCodec",
            Self::AudioPayloadType => "AudioPayloadType",
            Self::AudioIngestSsrc => "AudioIngestSSRC",
        }
    }

    fn from_wire(key: &[u8]) -> Option<Self> {
        Some(match key {
            b"ProtocolVersion" => Self::ProtocolVersion,
            b"VendorName" => Self::VendorName,
            b"VendorVersion" => Self::VendorVersion,
            b"Video" => Self::Video,
            b"VideoCodec" => Self::VideoCodec,
            b"VideoWidth" => Self::VideoWidth,
            b"VideoHeight" => Self::VideoHeight,
            b"VideoPayloadType" => Self::VideoPayloadType,
            b"VideoIngestSSRC" => Self::VideoIngestSsrc,
            b"Audio" => Self::Audio,
            b"AudioCodec" => Self::AudioCodec,
            b"AudioPayloadType" => Self::AudioPayloadType,
            b"AudioIngestSSRC" => Self::AudioIngestSsrc,
            _ => return None,
        })
    }
}

/// A line that names a known command or attribute but is malformed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    /// `CONNECT` without exactly a channel id and a `$` plus 128 lowercase hex chars.
    #[error("malformed CONNECT: expected 'CONNECT <channel> $<128 lowercase hex>'")]
    MalformedConnect,
    /// A known attribute with a value that does not parse or is not allowed.
    #[error("invalid value for attribute {}", .0.as_str())]
    InvalidAttribute(AttributeKey),
}

impl Command {
    /// Parses one line, without its terminator.
    pub fn parse(line: &[u8]) -> Result<Self, CommandError> {
        match line {
            b"HMAC" => return Ok(Self::Hmac),
            b"." => return Ok(Self::Dot),
            b"PING" => return Ok(Self::Ping { channel: None }),
            b"DISCONNECT" => return Ok(Self::Disconnect),
            b"CONNECT" => return Err(CommandError::MalformedConnect),
            _ => {}
        }
        if let Some(args) = line.strip_prefix(b"CONNECT ") {
            return parse_connect(args);
        }
        if line.starts_with(b"DISCONNECT ") {
            return Ok(Self::Disconnect);
        }
        if let Some(arg) = line.strip_prefix(b"PING ") {
            return Ok(match parse_u32_as_printed(arg) {
                Some(channel) => Self::Ping {
                    channel: Some(channel),
                },
                None => Self::Unknown,
            });
        }
        if let Some(colon) = find(line, b": ") {
            let key = &line[..colon];
            let value = &line[colon + 2..];
            if !key.is_empty() && key.iter().all(u8::is_ascii_alphanumeric) {
                return parse_attribute(key, value).map(Self::Attribute);
            }
        }
        Ok(Self::Unknown)
    }

    /// A short name for logs and errors.
    pub fn kind(&self) -> CommandKind {
        match self {
            Self::Hmac => CommandKind::Hmac,
            Self::Connect { .. } => CommandKind::Connect,
            Self::Attribute(_) => CommandKind::Attribute,
            Self::Dot => CommandKind::Dot,
            Self::Ping { .. } => CommandKind::Ping,
            Self::Disconnect => CommandKind::Disconnect,
            Self::Unknown => CommandKind::Unknown,
        }
    }
}

/// Which command a line was, without its arguments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommandKind {
    /// `HMAC`.
    Hmac,
    /// `CONNECT`.
    Connect,
    /// An attribute line.
    Attribute,
    /// `.`.
    Dot,
    /// `PING`.
    Ping,
    /// `DISCONNECT`.
    Disconnect,
    /// Anything else.
    Unknown,
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn parse_connect(args: &[u8]) -> Result<Command, CommandError> {
    let mut parts = args.split(|&b| b == b' ');
    let (Some(channel), Some(hash), None) = (parts.next(), parts.next(), parts.next()) else {
        return Err(CommandError::MalformedConnect);
    };
    let channel = parse_u32_as_printed(channel).ok_or(CommandError::MalformedConnect)?;
    let hex = hash
        .strip_prefix(b"$")
        .ok_or(CommandError::MalformedConnect)?;
    let mut digest = [0u8; DIGEST_LEN];
    decode_hex(hex, &mut digest, true).ok_or(CommandError::MalformedConnect)?;
    Ok(Command::Connect { channel, digest })
}

/// A `uint32_t` as ftl-sdk prints it with `%d`: decimal, and negative for
/// values ≥ 2^31. Accepts `-2147483648..=4294967295`; no `+`, no spaces.
pub(crate) fn parse_u32_as_printed(text: &[u8]) -> Option<u32> {
    let (negative, digits) = match text.strip_prefix(b"-") {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let magnitude = digits.iter().try_fold(0u64, |acc, &d| {
        acc.checked_mul(10)?.checked_add(u64::from(d - b'0'))
    })?;
    if negative {
        let value = i32::try_from(-i64::try_from(magnitude).ok()?).ok()?;
        Some(value as u32)
    } else {
        u32::try_from(magnitude).ok()
    }
}

/// A payload type FTL can use: 1..=127, and not 72 or 122, which would make a
/// marker packet look like a sender report (0xC8) or an FTL ping (0xFA)
/// (FTL-SPEC §4.6).
fn parse_payload_type(text: &[u8]) -> Option<u8> {
    if text.is_empty() || text.len() > 3 || !text.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let value = text
        .iter()
        .fold(0u16, |acc, &d| acc * 10 + u16::from(d - b'0'));
    let pt = u8::try_from(value).ok()?;
    (matches!(pt, 1..=127) && pt != 72 && pt != 122).then_some(pt)
}

fn parse_bool(text: &[u8]) -> Option<bool> {
    if text.eq_ignore_ascii_case(b"true") {
        Some(true)
    } else if text.eq_ignore_ascii_case(b"false") {
        Some(false)
    } else {
        None
    }
}

fn parse_codec(text: &[u8]) -> Option<Codec> {
    [
        (&b"H264"[..], Codec::H264),
        (b"VP8", Codec::Vp8),
        (b"OPUS", Codec::Opus),
        (b"AAC", Codec::Aac),
    ]
    .into_iter()
    .find(|(name, _)| text.eq_ignore_ascii_case(name))
    .map(|(_, codec)| codec)
}

fn parse_dimension(text: &[u8]) -> Option<u32> {
    if text.is_empty() || text.len() > 5 || !text.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(
        text.iter()
            .fold(0u32, |acc, &d| acc * 10 + u32::from(d - b'0')),
    )
}

fn parse_text(text: &[u8]) -> Option<String> {
    (text.len() <= MAX_TEXT_ATTRIBUTE_LEN).then(|| String::from_utf8_lossy(text).into_owned())
}

fn parse_attribute(key: &[u8], value: &[u8]) -> Result<Attribute, CommandError> {
    let Some(key) = AttributeKey::from_wire(key) else {
        return Ok(Attribute::Unknown);
    };
    let nonzero = |ssrc: u32| (ssrc != 0).then_some(ssrc);
    let parsed = match key {
        AttributeKey::ProtocolVersion => parse_text(value).map(Attribute::ProtocolVersion),
        AttributeKey::VendorName => parse_text(value).map(Attribute::VendorName),
        AttributeKey::VendorVersion => parse_text(value).map(Attribute::VendorVersion),
        AttributeKey::Video => parse_bool(value).map(Attribute::Video),
        AttributeKey::VideoCodec => parse_codec(value).map(Attribute::VideoCodec),
        AttributeKey::VideoWidth => parse_dimension(value).map(Attribute::VideoWidth),
        AttributeKey::VideoHeight => parse_dimension(value).map(Attribute::VideoHeight),
        AttributeKey::VideoPayloadType => {
            parse_payload_type(value).map(Attribute::VideoPayloadType)
        }
        AttributeKey::VideoIngestSsrc => parse_u32_as_printed(value)
            .and_then(nonzero)
            .map(Attribute::VideoIngestSsrc),
        AttributeKey::Audio => parse_bool(value).map(Attribute::Audio),
        AttributeKey::AudioCodec => parse_codec(value).map(Attribute::AudioCodec),
        AttributeKey::AudioPayloadType => {
            parse_payload_type(value).map(Attribute::AudioPayloadType)
        }
        AttributeKey::AudioIngestSsrc => parse_u32_as_printed(value)
            .and_then(nonzero)
            .map(Attribute::AudioIngestSsrc),
    };
    parsed.ok_or(CommandError::InvalidAttribute(key))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn connect_line(channel: &str, hex: &str) -> Vec<u8> {
        format!("CONNECT {channel} ${hex}").into_bytes()
    }

    const HEX: &str = "286f2a83b1626ce272c2161d02fe43870d1e6b0d14db70586d0f5617e4071d1af83e8c48959db4a76e0867f35c3a411ecc679abe7e5a7ab31de2f44f5630cecb";

    #[test]
    fn bare_commands() {
        assert_eq!(Command::parse(b"HMAC"), Ok(Command::Hmac));
        assert_eq!(Command::parse(b"."), Ok(Command::Dot));
        assert_eq!(Command::parse(b"PING"), Ok(Command::Ping { channel: None }));
        assert_eq!(
            Command::parse(b"PING 123"),
            Ok(Command::Ping { channel: Some(123) })
        );
        assert_eq!(Command::parse(b"DISCONNECT"), Ok(Command::Disconnect));
        assert_eq!(Command::parse(b"DISCONNECT 123"), Ok(Command::Disconnect));
    }

    #[test]
    fn near_misses_are_unknown() {
        for line in [
            &b"hmac"[..],
            b"HMAC ",
            b"HMAC x",
            b"..",
            b" .",
            b". ",
            b"PING abc",
            b"XCONNECT 1 $ab",
            b"CONNECTED",
            b"GET / HTTP/1.1",
            b"\x16\x03\x01\x02\x00\x01",
            b"Key:Value",
            b": value",
            b"\0\0\0",
            b"\xff\xc0\xaf",
        ] {
            assert_eq!(Command::parse(line), Ok(Command::Unknown), "{line:?}");
        }
    }

    #[test]
    fn connect_well_formed() {
        let Ok(Command::Connect { channel, digest }) = Command::parse(&connect_line("123", HEX))
        else {
            panic!("not a connect");
        };
        assert_eq!(channel, 123);
        assert_eq!(digest[0], 0x28);
        assert_eq!(digest[63], 0xcb);
    }

    #[test]
    fn connect_channel_as_printed_by_percent_d() {
        let channel = |text: &str| match Command::parse(&connect_line(text, HEX)) {
            Ok(Command::Connect { channel, .. }) => Some(channel),
            _ => None,
        };
        assert_eq!(channel("-1"), Some(u32::MAX));
        assert_eq!(channel("-2147483648"), Some(1 << 31));
        assert_eq!(channel("4294967295"), Some(u32::MAX));
        assert_eq!(channel("0"), Some(0));
        assert_eq!(channel("007"), Some(7));
        assert_eq!(channel("4294967296"), None);
        assert_eq!(channel("-2147483649"), None);
        assert_eq!(channel("99999999999999999999"), None);
        assert_eq!(channel("+5"), None);
        assert_eq!(channel("-"), None);
        assert_eq!(channel(""), None);
    }

    #[test]
    fn connect_malformed() {
        let bad = [
            "CONNECT".to_string(),
            "CONNECT ".to_string(),
            "CONNECT 1".to_string(),
            "CONNECT 1 ".to_string(),
            "CONNECT 1 $".to_string(),
            "CONNECT 1 abc".to_string(),
            "CONNECT 1 $$abc".to_string(),
            format!("CONNECT 1 ${}", &HEX[1..]),
            format!("CONNECT 1 ${}", HEX.to_uppercase()),
            format!("CONNECT 1 $zz{}", &HEX[2..]),
            format!("CONNECT 1 ${}", &HEX[..127]),
            format!("CONNECT 1 ${HEX}0"),
            format!("CONNECT 1 ${}", "a".repeat(100_000)),
            format!("CONNECT 1 ${HEX} extra"),
            format!("CONNECT  1 ${HEX}"),
            format!("CONNECT 1  ${HEX}"),
            format!("CONNECT\t1 ${HEX}"),
            format!("CONNECT 1\t${HEX}"),
            format!("CONNECT  5 ${HEX}"),
        ];
        for line in bad {
            let parsed = Command::parse(line.as_bytes());
            assert!(
                matches!(
                    parsed,
                    Err(CommandError::MalformedConnect) | Ok(Command::Unknown)
                ),
                "{line:?} gave {parsed:?}"
            );
            assert!(!matches!(parsed, Ok(Command::Connect { .. })));
        }
    }

    #[test]
    fn ftl_sdk_attributes() {
        let cases: [(&[u8], Attribute); 13] = [
            (
                b"ProtocolVersion: 0.9",
                Attribute::ProtocolVersion("0.9".into()),
            ),
            (
                b"VendorName: ftl_app",
                Attribute::VendorName("ftl_app".into()),
            ),
            (
                b"VendorVersion: 0.0.1",
                Attribute::VendorVersion("0.0.1".into()),
            ),
            (b"Video: true", Attribute::Video(true)),
            (b"VideoCodec: H264", Attribute::VideoCodec(Codec::H264)),
            (b"VideoHeight: 720", Attribute::VideoHeight(720)),
            (b"VideoWidth: 1280", Attribute::VideoWidth(1280)),
            (b"VideoPayloadType: 96", Attribute::VideoPayloadType(96)),
            (b"VideoIngestSSRC: 124", Attribute::VideoIngestSsrc(124)),
            (b"Audio: true", Attribute::Audio(true)),
            (b"AudioCodec: OPUS", Attribute::AudioCodec(Codec::Opus)),
            (b"AudioPayloadType: 97", Attribute::AudioPayloadType(97)),
            (b"AudioIngestSSRC: 123", Attribute::AudioIngestSsrc(123)),
        ];
        for (line, attribute) in cases {
            assert_eq!(Command::parse(line), Ok(Command::Attribute(attribute)));
        }
    }

    #[test]
    fn payload_types_that_collide_or_wrap_are_rejected() {
        for value in [
            "-1", "0", "72", "122", "128", "255", "256", "352", "96 ", " 96", "0x60", "",
        ] {
            let line = format!("VideoPayloadType: {value}");
            assert_eq!(
                Command::parse(line.as_bytes()),
                Err(CommandError::InvalidAttribute(
                    AttributeKey::VideoPayloadType
                )),
                "{value:?}"
            );
        }
        assert_eq!(
            Command::parse(b"AudioPayloadType: 127"),
            Ok(Command::Attribute(Attribute::AudioPayloadType(127)))
        );
    }

    #[test]
    fn ssrc_values() {
        let ssrc = |value: &str| Command::parse(format!("AudioIngestSSRC: {value}").as_bytes());
        assert_eq!(
            ssrc("-1"),
            Ok(Command::Attribute(Attribute::AudioIngestSsrc(u32::MAX)))
        );
        assert_eq!(
            ssrc("-2147483647"),
            Ok(Command::Attribute(Attribute::AudioIngestSsrc(0x8000_0001)))
        );
        assert_eq!(
            ssrc("4294967295"),
            Ok(Command::Attribute(Attribute::AudioIngestSsrc(u32::MAX)))
        );
        for bad in ["0", "4294967296", "1e3", ""] {
            assert_eq!(
                ssrc(bad),
                Err(CommandError::InvalidAttribute(
                    AttributeKey::AudioIngestSsrc
                )),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn values_and_keys() {
        assert_eq!(
            Command::parse(b"Video: TRUE"),
            Ok(Command::Attribute(Attribute::Video(true)))
        );
        assert_eq!(
            Command::parse(b"Video: yes"),
            Err(CommandError::InvalidAttribute(AttributeKey::Video))
        );
        assert_eq!(
            Command::parse(b"VideoCodec: h264"),
            Ok(Command::Attribute(Attribute::VideoCodec(Codec::H264)))
        );
        assert_eq!(
            Command::parse(b"VideoCodec: "),
            Err(CommandError::InvalidAttribute(AttributeKey::VideoCodec))
        );
        assert_eq!(
            Command::parse(b"VideoWidth: -1"),
            Err(CommandError::InvalidAttribute(AttributeKey::VideoWidth))
        );
        assert_eq!(
            Command::parse(b"VideoWidth: 70000"),
            Ok(Command::Attribute(Attribute::VideoWidth(70000)))
        );
        assert_eq!(
            Command::parse(b"VendorName: a: b"),
            Ok(Command::Attribute(Attribute::VendorName("a: b".into())))
        );
        assert_eq!(
            Command::parse(b"SomethingNew: 1"),
            Ok(Command::Attribute(Attribute::Unknown))
        );
        let long = format!("VendorName: {}", "v".repeat(MAX_TEXT_ATTRIBUTE_LEN + 1));
        assert_eq!(
            Command::parse(long.as_bytes()),
            Err(CommandError::InvalidAttribute(AttributeKey::VendorName))
        );
    }
}
