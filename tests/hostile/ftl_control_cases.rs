//! The FTL control cases of the hostile matrix (FTL-SPEC §6, 1-9), as
//! tables of what a connection sends and the answer it must get: before
//! authentication, after it, while streaming, malformed CONNECT lines and
//! odd channel numbers.

use std::time::Duration;

use crate::common::witness::hex;

/// How long a case whose answer is immediate waits for it.
pub const SHORT: Duration = Duration::from_millis(800);
/// How long a case that waits for the handshake deadline waits.
pub const DEADLINE: Duration = Duration::from_secs(7);

/// A case: its name, what it sends, how long it waits, the answer.
pub type Case<Sent> = (&'static str, Sent, Duration, &'static str);

/// Each line, framed as ftl_app frames it (`\r\n\r\n`).
pub fn lines(lines: &[&str]) -> Vec<u8> {
    lines
        .iter()
        .flat_map(|l| format!("{l}\r\n\r\n").into_bytes())
        .collect()
}

/// The attribute lines ftl_app sends (FTL-SPEC §3.2), then `.`.
pub fn ftl_app_attributes() -> Vec<u8> {
    let mut attributes = ftl::reference::FTL_APP_ATTRIBUTES.to_vec();
    attributes.push(".");
    lines(&attributes)
}

/// An HMAC digest made with the wrong key.
pub fn wrong_hex() -> String {
    hex(&ftl::sign(b"not the key", &[0u8; 128]))
}

/// Cases on a fresh connection, before any authentication.
pub fn before_auth() -> Vec<Case<Vec<Vec<u8>>>> {
    let wrong_hex = wrong_hex();
    let short = SHORT;
    let deadline = DEADLINE;
    vec![
        (
            "empty input, then the handshake deadline",
            vec![],
            deadline,
            "410",
        ),
        (
            "only CRLFCRLF repeated",
            vec![b"\r\n\r\n".repeat(50)],
            deadline,
            "410",
        ),
        ("lone CR", vec![b"\rHMAC\r".to_vec()], deadline, "410"),
        ("NUL bytes", vec![b"\0\0\n".to_vec()], short, "400"),
        (
            "non-UTF-8",
            vec![b"\xff\xfe\xc0\xaf\n".to_vec()],
            short,
            "400",
        ),
        // 1025 bytes may still be a 1024-byte line and its CR: the session
        // waits for one more byte, or for the handshake deadline.
        (
            "1025 bytes with no delimiter, then silence",
            vec![vec![b'A'; 1025]],
            deadline,
            "410",
        ),
        (
            "1026 bytes with no delimiter",
            vec![vec![b'A'; 1026]],
            short,
            "400",
        ),
        (
            "64 KiB with no delimiter",
            vec![vec![b'A'; 65536]],
            short,
            "400",
        ),
        ("hmac (lower case)", vec![b"hmac\n".to_vec()], short, "400"),
        (
            "HMAC with a trailing space",
            vec![b"HMAC \n".to_vec()],
            short,
            "400",
        ),
        ("HMAC x", vec![b"HMAC x\n".to_vec()], short, "400"),
        (
            "HMAC twice",
            vec![lines(&["HMAC", "HMAC"])],
            short,
            "200 <challenge> | 400",
        ),
        (
            "CONNECT before HMAC",
            vec![lines(&["CONNECT 1 $ab"])],
            short,
            "400",
        ),
        (
            "CONNECT 1 (no hash)",
            vec![lines(&["HMAC", "CONNECT 1"])],
            short,
            "200 <challenge> | 400",
        ),
        (
            "CONNECT 1 $",
            vec![lines(&["HMAC", "CONNECT 1 $"])],
            short,
            "200 <challenge> | 400",
        ),
        (
            "CONNECT with an odd-length hex",
            vec![lines(&["HMAC", "CONNECT 1 $abc"])],
            short,
            "200 <challenge> | 400",
        ),
        (
            "CONNECT 4294967296",
            vec![lines(&[
                "HMAC",
                &format!("CONNECT 4294967296 ${wrong_hex}"),
            ])],
            short,
            "200 <challenge> | 400",
        ),
        (
            "CONNECT with 100 000 hex digits",
            vec![lines(&[
                "HMAC",
                &format!("CONNECT 1 ${}", "a".repeat(100_000)),
            ])],
            short,
            "200 <challenge> | 400",
        ),
        (
            "wrong HMAC (a wrong key)",
            vec![lines(&["HMAC", &format!("CONNECT 1 ${wrong_hex}")])],
            short,
            "200 <challenge> | 405",
        ),
        (
            "XCONNECT then the deadline",
            vec![lines(&["HMAC", &format!("XCONNECT 1 ${wrong_hex}")])],
            deadline,
            "200 <challenge> | 410",
        ),
        (
            "attributes before auth",
            vec![lines(&["HMAC", "Video: true"])],
            short,
            "200 <challenge> | 400",
        ),
        (
            ". before auth",
            vec![lines(&["HMAC", "."])],
            short,
            "200 <challenge> | 400",
        ),
        (
            "PING before auth",
            vec![lines(&["HMAC", "PING 1"])],
            short,
            "200 <challenge> | 400",
        ),
        (
            "DISCONNECT before auth",
            vec![lines(&["HMAC", "DISCONNECT"])],
            short,
            "200 <challenge>",
        ),
        (
            "an HTTP request",
            vec![b"GET / HTTP/1.1\r\nHost: x\r\n\r\n".to_vec()],
            short,
            "400",
        ),
        (
            "a TLS ClientHello",
            vec![[&[0x16u8, 0x03, 0x01, 0x02, 0x00, 0x01][..], &[0xab; 500]].concat()],
            deadline,
            "410",
        ),
    ]
}

/// Cases after a right `HMAC` and `CONNECT` for a channel that is never live.
pub fn after_auth() -> Vec<Case<Vec<u8>>> {
    let short = SHORT;
    let deadline = DEADLINE;
    let mut authed: Vec<Case<Vec<u8>>> = vec![
        ("second CONNECT", lines(&["CONNECT 1 $ab"]), short, "400"),
        ("HMAC after CONNECT", lines(&["HMAC"]), short, "400"),
        (
            "VideoPayloadType: 352",
            lines(&["VideoPayloadType: 352"]),
            short,
            "400",
        ),
        (
            "VideoPayloadType: 72",
            lines(&["VideoPayloadType: 72"]),
            short,
            "400",
        ),
        (
            "AudioIngestSSRC: 1e3",
            lines(&["AudioIngestSSRC: 1e3"]),
            short,
            "400",
        ),
        ("VideoHeight: -1", lines(&["VideoHeight: -1"]), short, "400"),
        (
            "65 attribute lines",
            lines(&["SomethingNew: 1"; 65]),
            short,
            "400",
        ),
        (". with no tracks", lines(&["."]), short, "400"),
        (
            "Video: true with no codec, PT or SSRC, then .",
            lines(&["Video: true", "."]),
            short,
            "400",
        ),
        (
            "equal audio and video payload types",
            lines(&[
                "Video: true",
                "VideoCodec: H264",
                "VideoPayloadType: 96",
                "VideoIngestSSRC: 5",
                "Audio: true",
                "AudioCodec: OPUS",
                "AudioPayloadType: 96",
                "AudioIngestSSRC: 6",
                ".",
            ]),
            short,
            "400",
        ),
        ("PING before .", lines(&["PING 1"]), short, "400"),
        (
            "odd lines then silence until the deadline",
            lines(&["Key:Value", ": value", "Key: a: b", "..", " ."]),
            deadline,
            "410",
        ),
        (
            "DISCONNECT after CONNECT",
            lines(&["DISCONNECT"]),
            short,
            "",
        ),
    ];
    // §6.4 attribute lines one by one: a refused value gets 400; a line the
    // session ignores leaves it waiting ("open").
    let attribute_lines: [(&str, &'static str); 38] = [
        ("Key:Value", "open"),
        ("Key: ", "open"),
        (": value", "open"),
        ("Key: a: b", "open"),
        ("VendorName: x", "open"),
        ("Video: TRUE", "open"),
        ("Video: yes", "400"),
        ("Video: false", "open"),
        ("VideoPayloadType: -1", "400"),
        ("VideoPayloadType: 0", "400"),
        ("VideoPayloadType: 122", "400"),
        ("VideoPayloadType: 127", "open"),
        ("VideoPayloadType: 128", "400"),
        ("VideoPayloadType: 255", "400"),
        ("VideoPayloadType: 256", "400"),
        ("VideoPayloadType: 96 ", "400"),
        ("VideoPayloadType:  96", "400"),
        ("VideoPayloadType: 0x60", "400"),
        ("VideoIngestSSRC: 0", "400"),
        ("VideoIngestSSRC: -1", "open"),
        ("VideoIngestSSRC: -2147483647", "open"),
        ("VideoIngestSSRC: 4294967295", "open"),
        ("VideoIngestSSRC: 4294967296", "400"),
        ("VideoWidth: 0", "open"),
        ("VideoWidth: -1", "400"),
        ("VideoWidth: 70000", "open"),
        ("VideoCodec: h264", "open"),
        ("VideoCodec: H264", "open"),
        ("VideoCodec: VP8", "open"),
        ("AudioCodec: AAC", "open"),
        ("VideoCodec: ", "400"),
        ("ProtocolVersion: 0.9", "open"),
        ("ProtocolVersion: 1.0", "open"),
        ("ProtocolVersion: abc", "open"),
        ("ProtocolVersion: 0.9.1", "open"),
        ("ProtocolVersion: ", "open"),
        ("..", "open"),
        (". ", "open"),
    ];
    for (line, expected) in attribute_lines {
        authed.push((line, lines(&[line]), short, expected));
    }
    let long_value = format!("VendorName: {}", "v".repeat(2000));
    authed.push((
        "a 2000-byte attribute value",
        lines(&[&long_value]),
        short,
        "400",
    ));
    let distinct: Vec<String> = (0..10_000).map(|i| format!("Key{i}: {i}")).collect();
    let distinct: Vec<&str> = distinct.iter().map(String::as_str).collect();
    authed.push(("10 000 distinct keys", lines(&distinct), short, "400"));
    let vp8 = String::from_utf8(ftl_app_attributes())
        .unwrap()
        .replace("VideoCodec: H264", "VideoCodec: VP8");
    authed.push(("a VP8 video track, then .", vp8.into_bytes(), short, "400"));
    let aac = String::from_utf8(ftl_app_attributes())
        .unwrap()
        .replace("AudioCodec: OPUS", "AudioCodec: AAC");
    authed.push(("an AAC audio track, then .", aac.into_bytes(), short, "400"));
    authed.push((
        "a duplicate key, then .",
        [
            lines(&["VideoPayloadType: 97", "VideoPayloadType: 96"]),
            ftl_app_attributes(),
        ]
        .concat(),
        short,
        "200 hi. Use UDP port <port> | open",
    ));
    authed
}

/// Malformed and out-of-range `CONNECT` lines after `HMAC`, and the status
/// each gets.
pub fn connect_lines() -> [(String, &'static str); 11] {
    let hex128 = "ab".repeat(64);
    [
        (format!("CONNECT 1 ${}", hex128.to_uppercase()), "400"),
        (format!("CONNECT 1 $zz{}", &hex128[2..]), "400"),
        ("CONNECT 1 $".to_string() + &"a".repeat(127), "400"),
        ("CONNECT 1 $".to_string() + &"a".repeat(129), "400"),
        (format!("CONNECT 1 ${hex128} extra"), "400"),
        (format!("CONNECT 1\t${hex128}"), "400"),
        (format!("CONNECT  1 ${hex128}"), "400"),
        (format!("CONNECT +5 ${hex128}"), "400"),
        (format!("CONNECT  5 ${hex128}"), "400"),
        (format!("CONNECT 99999999999999999999 ${hex128}"), "400"),
        (format!("CONNECT 4294967295 ${hex128}"), "405"),
    ]
}

/// Cases after ftl_app's whole handshake, on a live stream of its own.
pub fn while_streaming() -> Vec<(&'static str, Vec<u8>, &'static str)> {
    let storm = lines(&vec!["PING 21"; 10_000]);
    vec![
        (
            "PING 20, PING, PING abc, PING 999",
            lines(&["PING 20", "PING", "PING abc", "PING 999"]),
            "201 | 201 | open",
        ),
        (
            "10 000 PINGs in one read (rate limited)",
            storm,
            "201 | 201 | 201 | 201 | open",
        ),
        ("HMAC while streaming", lines(&["HMAC"]), "400"),
        ("an attribute after .", lines(&["Video: true"]), "400"),
        (". twice", lines(&["."]), "400"),
        (
            "DISCONNECT, then more commands",
            lines(&["DISCONNECT", "PING 25"]),
            "",
        ),
        ("33 unknown commands", lines(&["NONSENSE"; 33]), "400"),
        (
            "binary garbage",
            vec![0xde, 0xad, 0xbe, 0xef, b'\n'],
            "open",
        ),
    ]
}

/// `CONNECT`s for odd channel numbers: the channel, the channel whose key
/// signs the HMAC, the answer.
pub fn odd_channels() -> Vec<(&'static str, &'static str, &'static str, &'static str)> {
    vec![
        ("a right HMAC for another channel", "41", "42", "405"),
        ("channel -1 (ftl-sdk's %d of 2^32 - 1)", "-1", "41", "405"),
        ("channel 0", "0", "41", "405"),
        (
            "channel 00041 (leading zeros: channel 41, with its key)",
            "00041",
            "41",
            "200 | open",
        ),
    ]
}
