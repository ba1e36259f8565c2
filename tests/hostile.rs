//! The hostile-input matrix over real sockets against one running node: FTL
//! control abuse (FTL-SPEC §6), malformed FTL media, HTTP and SDP abuse,
//! foreign resources, slow-loris headers and datagram floods. Throughout, a
//! witness stream (FTL, channel 1) is watched by two str0m viewers, which
//! must lose nothing. Each case's response is checked and printed.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a failed unwrap in a test is a failed test"
)]

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use common::ftl_publisher::FtlPublisher;
use common::http::request;
use common::witness::{Witness, dummy_secret, hex};

/// Sends `chunks` on a new FTL control connection and returns every reply
/// line until the server closes (the challenge shown as `<challenge>`), or
/// `open` if it is still open after `wait`.
fn ftl_control(addr: SocketAddr, chunks: &[Vec<u8>], wait: Duration) -> String {
    let mut tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    for chunk in chunks {
        // The server may already have closed: later writes then fail.
        let _ = tcp.write_all(chunk);
    }
    let deadline = Instant::now() + wait;
    let mut replies = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match tcp.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => replies.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(_) if Instant::now() < deadline => {}
            Err(_) => {
                replies.extend_from_slice(b"open");
                break;
            }
        }
    }
    let text = String::from_utf8_lossy(&replies).into_owned();
    text.lines()
        .map(|line| match line.strip_prefix("200 ") {
            Some(hex) if hex.len() == 256 => "200 <challenge>".to_string(),
            _ => line.to_string(),
        })
        .collect::<Vec<_>>()
        .join(" | ")
}

/// `HMAC` then a correctly signed `CONNECT` for `channel`, then `rest`.
/// `HMAC` then `CONNECT` for `channel` signed with `key_channel`'s secret
/// (the same channel for a right HMAC), then `rest`; the replies after
/// `CONNECT`'s, the media port shown as `<port>`.
fn authenticated(
    addr: SocketAddr,
    channel: &str,
    key_channel: &str,
    stages: &[&[u8]],
    wait: Duration,
) -> String {
    let mut tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    tcp.write_all(b"HMAC\r\n\r\n").unwrap();
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    while tcp.read(&mut byte).unwrap() == 1 && byte[0] != b'\n' {
        line.push(byte[0]);
    }
    let challenge: Vec<u8> = line[4..]
        .chunks(2)
        .map(|pair| u8::from_str_radix(std::str::from_utf8(pair).unwrap(), 16).unwrap())
        .collect();
    let digest = ftl::sign(dummy_secret(key_channel).as_bytes(), &challenge);
    let connect = format!("CONNECT {channel} ${}\r\n\r\n", hex(&digest)).into_bytes();
    tcp.write_all(&connect).unwrap();
    // Like ftl_app, each stage waits for the reply to the one before.
    let mut replies = Vec::new();
    let mut buf = [0u8; 4096];
    for stage in stages {
        while !replies.ends_with(b"\n") {
            match tcp.read(&mut buf) {
                Ok(n) if n > 0 => replies.extend_from_slice(&buf[..n]),
                _ => break,
            }
        }
        let _ = tcp.write_all(stage);
        replies.extend_from_slice(b"\r");
    }
    tcp.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let deadline = Instant::now() + wait;
    loop {
        match tcp.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => replies.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(_) if Instant::now() < deadline => {}
            Err(_) => {
                replies.extend_from_slice(b"open");
                break;
            }
        }
    }
    let text = String::from_utf8_lossy(&replies).into_owned();
    let text = match text.find("Use UDP port ") {
        Some(at) => {
            let digits = text[at + 13..]
                .bytes()
                .take_while(u8::is_ascii_digit)
                .count();
            format!("{}<port>{}", &text[..at + 13], &text[at + 13 + digits..])
        }
        None => text,
    };
    text.lines()
        .map(|line| line.trim_matches('\r'))
        .filter(|line| !line.is_empty())
        .collect::<Vec<_>>()
        .join(" | ")
}

/// The attribute lines ftl_app sends (FTL-SPEC §3.2), then `.`.
fn ftl_app_attributes() -> Vec<u8> {
    let mut attributes = ftl::reference::FTL_APP_ATTRIBUTES.to_vec();
    attributes.push(".");
    lines(&attributes)
}

/// Sends `bytes` one per `interval` and returns the replies, as `ftl_control`.
fn ftl_dribble(addr: SocketAddr, bytes: &[u8], interval: Duration) -> String {
    let mut tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(interval)).unwrap();
    let mut replies = Vec::new();
    let mut buf = [0u8; 1024];
    for byte in bytes.iter().cycle().take(20) {
        if tcp.write_all(&[*byte]).is_err() {
            break;
        }
        match tcp.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => replies.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(_) => {}
        }
    }
    String::from_utf8_lossy(&replies)
        .lines()
        .collect::<Vec<_>>()
        .join(" | ")
}

fn lines(lines: &[&str]) -> Vec<u8> {
    lines
        .iter()
        .flat_map(|l| format!("{l}\r\n\r\n").into_bytes())
        .collect()
}

/// FTL-SPEC §6 control cases: each on its own connection, all at once.
fn control_cases(addr: SocketAddr) -> Vec<(String, String, &'static str)> {
    let wrong_hex = hex(&ftl::sign(b"not the key", &[0u8; 128]));
    let short = Duration::from_millis(800);
    let deadline = Duration::from_secs(7);
    let plain: Vec<(&str, Vec<Vec<u8>>, Duration, &'static str)> = vec![
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
    ];
    let mut authed: Vec<(&str, Vec<u8>, Duration, &'static str)> = vec![
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
    let hex128 = "ab".repeat(64);
    let connects: [(String, &'static str); 11] = [
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
    ];
    let mut threads = Vec::new();
    for (line, expected) in connects {
        let name = format!("HMAC, {}", line.chars().take(40).collect::<String>());
        let bytes = lines(&["HMAC", &line]);
        threads.push((
            name,
            if expected == "400" {
                "200 <challenge> | 400"
            } else {
                "200 <challenge> | 405"
            },
            std::thread::spawn(move || ftl_control(addr, &[bytes], short)),
        ));
    }
    for (name, chunks, wait, expected) in plain {
        threads.push((
            name.to_string(),
            expected,
            std::thread::spawn(move || ftl_control(addr, &chunks, wait)),
        ));
    }
    for (name, rest, wait, expected) in authed {
        // Channel 3 is never live: its CONNECT succeeds and nothing else.
        threads.push((
            format!("after auth: {name}"),
            expected,
            std::thread::spawn(move || {
                authenticated(addr, "3", "3", &[&rest], wait)
                    .replacen("200", "", 1)
                    .trim_start_matches([' ', '|'])
                    .to_string()
            }),
        ));
    }
    let storm = lines(&vec!["PING 21"; 10_000]);
    let streaming: Vec<(&str, Vec<u8>, &'static str)> = vec![
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
    ];
    for (index, (name, rest, expected)) in streaming.into_iter().enumerate() {
        let channel = (20 + index).to_string();
        threads.push((
            format!("streaming: {name}"),
            expected,
            std::thread::spawn(move || {
                authenticated(
                    addr,
                    &channel,
                    &channel,
                    &[&ftl_app_attributes(), &rest],
                    short,
                )
                .replacen("200 | 200 hi. Use UDP port <port>", "", 1)
                .trim_start_matches([' ', '|'])
                .to_string()
            }),
        ));
    }
    let odd: Vec<(&str, &str, &str, &'static str)> = vec![
        ("a right HMAC for another channel", "41", "42", "405"),
        ("channel -1 (ftl-sdk's %d of 2^32 - 1)", "-1", "41", "405"),
        ("channel 0", "0", "41", "405"),
        (
            "channel 00041 (leading zeros: channel 41, with its key)",
            "00041",
            "41",
            "200 | open",
        ),
    ];
    for (name, channel, key_channel, expected) in odd {
        threads.push((
            format!("CONNECT: {name}"),
            expected,
            std::thread::spawn(move || authenticated(addr, channel, key_channel, &[], short)),
        ));
    }
    threads.push((
        "slow-loris: HMAC one byte a second".to_string(),
        "410",
        std::thread::spawn(move || ftl_dribble(addr, b"HMA", Duration::from_secs(1))),
    ));
    threads.push((
        "LF-only framing".to_string(),
        "200 <challenge> | 405",
        std::thread::spawn(move || {
            ftl_control(
                addr,
                &[format!("HMAC\nCONNECT 1 ${wrong_hex}\n").into_bytes()],
                short,
            )
        }),
    ));
    threads
        .into_iter()
        .map(|(name, expected, thread)| (name, thread.join().unwrap(), expected))
        .collect()
}

/// Whether the server has closed `tcp` (after any last bytes it sent).
fn closed_by_server(tcp: &mut TcpStream) -> bool {
    tcp.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut buf = [0u8; 1024];
    loop {
        match tcp.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) => {
                return !matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                );
            }
        }
    }
}

/// Where a media case's datagram comes from.
enum Source {
    /// The publisher's own socket.
    Latched,
    /// Another port of the same IP.
    OtherPort,
    /// Another loopback IP.
    OtherIp,
}

/// An RTP packet for the media cases.
fn rtp(first: u8, pt: u8, sequence: u16, ssrc: u32, payload: &[u8]) -> Vec<u8> {
    let mut packet = vec![first, pt];
    packet.extend_from_slice(&sequence.to_be_bytes());
    packet.extend_from_slice(&1000u32.to_be_bytes());
    packet.extend_from_slice(&ssrc.to_be_bytes());
    packet.extend_from_slice(payload);
    packet
}

#[test]
fn hostile_inputs_get_their_documented_answers_and_harm_no_other_stream() {
    let node = common::start_node_with(2, |config| {
        config.http_header_timeout = Duration::from_secs(1);
        config.engine.ftl_media_timeout = Duration::from_secs(30);
    });
    let witness = Witness::start(&node);
    let http = node.http_addr();
    let mut results: Vec<(String, String, String)> = Vec::new();
    let mut check = |case: &str, got: String, expected: &str| {
        results.push((case.to_string(), got, expected.to_string()));
    };

    // FTL control (§6, 1-9), all connections at once.
    for (case, got, expected) in control_cases(node.ftl_addr()) {
        check(&format!("FTL control: {case}"), got, expected);
    }

    // FTL media (§6, 10-18) at a second stream's port, from its latched source.
    let key2 = format!("2-{}", dummy_secret("2"));
    let stream2 = FtlPublisher::connect(node.ftl_addr(), &key2).unwrap();
    let clip = common::media::h264_clip();
    stream2.send_first_frame(&clip);
    stream2.wait_until_watchable(&node);
    let ftl_key2 = ftl::StreamKey::parse(&key2).unwrap();
    let (video_ssrc, audio_ssrc) = (ftl_key2.video_ssrc(), ftl_key2.audio_ssrc());
    let v = |sequence: u16, payload: &[u8]| rtp(0x80, 96, sequence, video_ssrc, payload);
    let timed = |sequence: u16, timestamp: u32, marker: bool, payload: &[u8]| {
        let mut packet = rtp(
            0x80,
            (u8::from(marker) << 7) | 96,
            sequence,
            video_ssrc,
            payload,
        );
        packet[4..8].copy_from_slice(&timestamp.to_be_bytes());
        packet
    };
    let sr = |first: u8, ssrc: u32, len: usize| {
        let mut packet = vec![first, 0xc8, 0, 6];
        packet.extend_from_slice(&ssrc.to_be_bytes());
        packet.resize(len, 0);
        packet
    };
    let ping12 = vec![0x81u8, 0xfa, 0x00, 0x0c, 0, 0, 0, 1, 0, 0, 0, 2];
    let ping24 = [&[0x81u8, 0xfa, 0x00, 0x18][..], &[7; 20]].concat();
    let stranger = UdpSocket::bind("127.0.0.1:0").unwrap();
    let other_ip = UdpSocket::bind("127.0.0.2:0").unwrap();
    // (case, datagram, where it comes from, documented answer)
    let media_cases: Vec<(&str, Vec<u8>, Source, &str)> = vec![
        ("§10 0 bytes", vec![], Source::Latched, "dropped"),
        ("§10 1 byte", vec![0x80], Source::Latched, "dropped"),
        ("§10 2 bytes", vec![0x80, 96], Source::Latched, "dropped"),
        ("§10 11 bytes", vec![0x80; 11], Source::Latched, "dropped"),
        (
            "§10 a 12-byte RTP header, no payload (kept: viewers see no sequence gap)",
            v(100, &[]),
            Source::Latched,
            "forwarded",
        ),
        (
            "§10 13 bytes",
            v(101, &[0x41]),
            Source::Latched,
            "forwarded",
        ),
        (
            "§10 a 12-byte ping (CC=1 in its first byte)",
            ping12,
            Source::Latched,
            "echoed",
        ),
        ("§10 a 24-byte ping", ping24, Source::Latched, "echoed"),
        (
            "§11 sender report of 27 bytes",
            sr(0x80, video_ssrc, 27),
            Source::Latched,
            "dropped",
        ),
        (
            "§11 sender report of 28 bytes",
            sr(0x80, video_ssrc, 28),
            Source::Latched,
            "consumed",
        ),
        (
            "§11 sender report of 29 bytes",
            sr(0x80, video_ssrc, 29),
            Source::Latched,
            "consumed",
        ),
        (
            "§11 sender report of 1500 bytes",
            sr(0x80, video_ssrc, 1500),
            Source::Latched,
            "consumed",
        ),
        (
            "§11 sender report with b0 = 0x81",
            sr(0x81, video_ssrc, 28),
            Source::Latched,
            "consumed",
        ),
        (
            "§11 sender report for an unknown SSRC",
            sr(0x80, 0xdead_beef, 28),
            Source::Latched,
            "dropped",
        ),
        (
            "§12 version 0",
            rtp(0x00, 96, 102, video_ssrc, b"x"),
            Source::Latched,
            "dropped",
        ),
        (
            "§12 version 1",
            rtp(0x40, 96, 102, video_ssrc, b"x"),
            Source::Latched,
            "dropped",
        ),
        (
            "§12 version 3",
            rtp(0xc0, 96, 102, video_ssrc, b"x"),
            Source::Latched,
            "dropped",
        ),
        (
            "§12 padding count 0",
            rtp(0xa0, 96, 102, video_ssrc, &[1, 2, 0]),
            Source::Latched,
            "dropped",
        ),
        (
            "§12 padding count past the payload",
            rtp(0xa0, 96, 102, video_ssrc, &[1, 2, 200]),
            Source::Latched,
            "dropped",
        ),
        (
            "§12 padding as long as the whole packet",
            rtp(0xa0, 96, 102, video_ssrc, &[1, 2, 15]),
            Source::Latched,
            "dropped",
        ),
        (
            "§12 extension length past the end",
            rtp(0x90, 96, 102, video_ssrc, &[0xbe, 0xde, 0x00, 0xff]),
            Source::Latched,
            "dropped",
        ),
        (
            "§12 extension of length 0",
            rtp(0x90, 96, 103, video_ssrc, &[0xbe, 0xde, 0, 0, 0x41]),
            Source::Latched,
            "forwarded",
        ),
        (
            "§12 CSRC count 15 in 12 bytes",
            rtp(0x8f, 96, 104, video_ssrc, &[]),
            Source::Latched,
            "dropped",
        ),
        (
            "§12 CSRC and extension consume the packet",
            rtp(0x91, 96, 104, video_ssrc, &[0, 0, 0, 1, 0xbe, 0xde, 0, 0]),
            Source::Latched,
            "forwarded",
        ),
        (
            "§12 marker set on audio",
            rtp(0x80, 0x80 | 97, 1, audio_ssrc, &[0xfc, 1, 2]),
            Source::Latched,
            "forwarded",
        ),
        (
            "§13 video PT, unknown SSRC",
            rtp(0x80, 96, 105, 0xdead_beef, b"x"),
            Source::Latched,
            "dropped",
        ),
        (
            "§13 video SSRC, unknown PT",
            rtp(0x80, 111, 105, video_ssrc, b"x"),
            Source::Latched,
            "dropped",
        ),
        (
            "§13 audio PT with the video SSRC",
            rtp(0x80, 97, 105, video_ssrc, b"x"),
            Source::Latched,
            "dropped",
        ),
        (
            "§13 PT 72 with the marker (SR look-alike, too short)",
            rtp(0x80, 0xc8, 105, 0xdead_beef, b"x"),
            Source::Latched,
            "dropped",
        ),
        (
            "§13 PT 122 with the marker: a 13-byte ping (marker and PT make a ping, §4.6)",
            rtp(0x80, 0xfa, 105, 0xdead_beef, b"x"),
            Source::Latched,
            "echoed",
        ),
        (
            "§13 valid video from another port of the same IP (NAT rebinding: accepted)",
            v(106, &[0x41, 1]),
            Source::OtherPort,
            "forwarded",
        ),
        (
            "§13 valid video from another IP (127.0.0.2)",
            v(106, &[0x41, 5]),
            Source::OtherIp,
            "dropped",
        ),
        (
            "§14 a late packet, 107 behind the newest",
            v(65535, &[0x41, 2]),
            Source::Latched,
            "forwarded",
        ),
        (
            "§14 a duplicate of sequence 101",
            v(101, &[0x41]),
            Source::Latched,
            "dropped",
        ),
        (
            "§14 the next sequence, 107",
            v(107, &[0x41, 3]),
            Source::Latched,
            "forwarded",
        ),
        (
            "§14 a jump of +3000",
            v(3107, &[0x41, 4]),
            Source::Latched,
            "forwarded",
        ),
        (
            "§15 a timestamp going backwards",
            timed(3108, 10, false, &[0x41, 6]),
            Source::Latched,
            "forwarded",
        ),
        (
            "§15 a timestamp jumping by 2^31",
            timed(3109, 1 << 31, false, &[0x41, 7]),
            Source::Latched,
            "forwarded",
        ),
        (
            "§15 a keyframe without the marker",
            timed(3110, 1 << 31, false, &[0x65, 8]),
            Source::Latched,
            "forwarded",
        ),
        (
            "§15 a marker with no keyframe",
            timed(3111, 1 << 31, true, &[0x41, 9]),
            Source::Latched,
            "forwarded",
        ),
        (
            "§16 an empty H.264 payload",
            v(3118, &[]),
            Source::Latched,
            "forwarded",
        ),
        (
            "§16 FU-A of 2 bytes",
            v(3119, &[0x7c, 0x85]),
            Source::Latched,
            "forwarded",
        ),
        (
            "§16 FU-A with S and E both set",
            v(3120, &[0x7c, 0xc5, 1]),
            Source::Latched,
            "forwarded",
        ),
        (
            "§16 STAP-A",
            v(3121, &[0x18, 0, 2, 0x41, 1]),
            Source::Latched,
            "forwarded",
        ),
        (
            "§16 NAL type 31",
            v(3122, &[0x1f, 1]),
            Source::Latched,
            "forwarded",
        ),
        (
            "§16 a truncated SPS",
            v(3123, &[0x67, 0x42]),
            Source::Latched,
            "forwarded",
        ),
        (
            "§16 an SPS with a huge width",
            v(
                3114,
                &[0x67, 0x42, 0xc0, 0x1f, 0xff, 0xff, 0xff, 0xff, 0xff],
            ),
            Source::Latched,
            "forwarded",
        ),
        (
            "§16 00 00 03 at the end",
            v(3125, &[0x41, 0, 0, 3]),
            Source::Latched,
            "forwarded",
        ),
        (
            "§17 OpusHead mid-stream",
            rtp(0x80, 97, 2, audio_ssrc, b"OpusHead\x01\x02"),
            Source::Latched,
            "forwarded",
        ),
        (
            "§17 a 0-byte Opus payload",
            rtp(0x80, 97, 3, audio_ssrc, &[]),
            Source::Latched,
            "forwarded",
        ),
        (
            "§17 1500 bytes of garbage as Opus",
            [rtp(0x80, 97, 4, audio_ssrc, &[]), vec![0xa5; 1488]].concat(),
            Source::Latched,
            "forwarded",
        ),
        (
            "§17 Opus TOC code 3 with a bad frame count",
            rtp(0x80, 97, 5, audio_ssrc, &[0x03, 0xff]),
            Source::Latched,
            "forwarded",
        ),
        (
            "§18 a 2000-byte datagram",
            v(3126, &[0x41; 1988]),
            Source::Latched,
            "dropped",
        ),
        (
            "§18 a 65 507-byte datagram",
            vec![0x80; 65_507],
            Source::Latched,
            "dropped",
        ),
    ];
    let stats2 = || node.engine().stream("2").unwrap().stats();
    let mut buf = vec![0u8; 70_000];
    for (case, datagram, source, expected) in media_cases {
        let before = stats2();
        let socket = match source {
            Source::Latched => &stream2.media,
            Source::OtherPort => &stranger,
            Source::OtherIp => &other_ip,
        };
        let _ = socket.send_to(&datagram, stream2.media_addr);
        let deadline = Instant::now() + Duration::from_millis(300);
        let mut answer = "consumed";
        while Instant::now() < deadline {
            let after = stats2();
            if after.dropped > before.dropped {
                answer = "dropped";
                break;
            }
            if after.packets_in > before.packets_in {
                answer = "forwarded";
                break;
            }
            if let Ok(n) = stream2.media.recv(&mut buf)
                && n == datagram.len()
                && buf[1] == 0xfa
            {
                answer = "echoed";
                break;
            }
        }
        check(&format!("FTL media: {case}"), answer.to_string(), expected);
    }
    // Floods: garbage at the FTL media port and at every WebRTC port.
    let garbage = vec![0x42u8; 1200];
    for _ in 0..20_000 {
        let _ = stranger.send_to(&garbage, stream2.media_addr);
    }
    for worker in node.engine().worker_addresses() {
        for _ in 0..20_000 {
            let _ = stranger.send_to(&garbage, worker);
        }
    }
    let unroutable: u64 = node
        .engine()
        .stats(Duration::from_secs(2))
        .iter()
        .map(|w| w.unroutable)
        .sum();
    check(
        "UDP floods: 20 000 garbage datagrams at an FTL media port and at each WebRTC port",
        format!("ignored (unroutable counted: {})", unroutable > 0),
        "ignored (unroutable counted: true)",
    );
    check(
        "FTL media: stream 2 after all of it",
        format!(
            "live: {}",
            node.engine().stream("2").is_some_and(|s| !s.is_ended())
        ),
        "live: true",
    );

    // HTTP and SDP, against the witness's own channel.
    let (_, good_offer) = common::viewer::TestViewer::new();
    let (_, vp8_offer) = common::viewer::TestViewer::new_vp8_only();
    let sdp = [("Content-Type", "application/sdp")];
    let huge_sdp = format!(
        "{good_offer}{}",
        "a=x-junk:0123456789abcdef\r\n".repeat(2000)
    );
    let status = |method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]| {
        let response = request(http, method, path, headers, body);
        format!("{} {}", response.status, response.body.trim())
    };
    let whip_auth = format!("Bearer 1-{}", dummy_secret("1"));
    let http_cases: Vec<(&str, String, &str)> = vec![
        (
            "WHIP POST with no body",
            status(
                "POST",
                "/whip/endpoint/9",
                &[("Authorization", &format!("Bearer 9-{}", dummy_secret("9")))],
                b"",
            ),
            "400 the body must be an SDP offer",
        ),
        (
            "WHEP POST with an oversized body (100 KiB)",
            status("POST", "/whep/endpoint/1", &sdp, &vec![b'a'; 100 * 1024]),
            "413",
        ),
        (
            "WHEP POST with a garbage body",
            status("POST", "/whep/endpoint/1", &sdp, b"\x01\x02garbage"),
            "400 invalid SDP offer: not well-formed SDP",
        ),
        (
            "WHEP POST with the wrong content type",
            status(
                "POST",
                "/whep/endpoint/1",
                &[("Content-Type", "text/plain")],
                good_offer.as_bytes(),
            ),
            "415",
        ),
        (
            "WHEP POST: SDP with no media",
            status(
                "POST",
                "/whep/endpoint/1",
                &sdp,
                b"v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n",
            ),
            "400",
        ),
        (
            "WHEP POST: SDP with no H.264",
            status("POST", "/whep/endpoint/1", &sdp, vp8_offer.as_bytes()),
            "406",
        ),
        (
            "WHEP POST: a 58 KiB SDP",
            status("POST", "/whep/endpoint/1", &sdp, huge_sdp.as_bytes()),
            "201",
        ),
        (
            "WHEP POST to an unknown channel",
            status("POST", "/whep/endpoint/404404", &sdp, good_offer.as_bytes()),
            "404",
        ),
        (
            "WHIP POST with a wrong key",
            status(
                "POST",
                "/whip/endpoint/1",
                &[
                    ("Content-Type", "application/sdp"),
                    ("Authorization", "Bearer 1-wrong"),
                ],
                good_offer.as_bytes(),
            ),
            "401 invalid stream key",
        ),
        (
            "WHIP POST over the live witness, right key",
            status(
                "POST",
                "/whip/endpoint/1",
                &[
                    ("Content-Type", "application/sdp"),
                    ("Authorization", &whip_auth),
                ],
                good_offer.as_bytes(),
            ),
            "409",
        ),
        (
            "DELETE of an unknown WHEP resource",
            status(
                "DELETE",
                "/whep/resource/0123456789abcdef0123456789abcdef",
                &[],
                b"",
            ),
            "404",
        ),
        (
            "DELETE of a malformed WHEP resource id",
            status("DELETE", "/whep/resource/..%2f..%2fetc", &[], b""),
            "404",
        ),
        (
            "PATCH of an unknown WHEP resource",
            status(
                "PATCH",
                "/whep/resource/0123456789abcdef0123456789abcdef",
                &sdp,
                good_offer.as_bytes(),
            ),
            "404",
        ),
        (
            "DELETE of an unknown WHIP resource",
            status(
                "DELETE",
                "/whip/resource/0123456789abcdef0123456789abcdef",
                &[],
                b"",
            ),
            "404",
        ),
    ];
    for (case, got, expected) in http_cases {
        check(&format!("HTTP: {case}"), got, expected);
    }
    // A WHEP resource named on the WHIP path belongs to another kind of session.
    let viewer = request(
        http,
        "POST",
        "/whep/endpoint/1",
        &sdp,
        good_offer.as_bytes(),
    );
    let location = viewer.header("location").unwrap_or_default().to_string();
    let another = request(
        http,
        "POST",
        "/whep/endpoint/1",
        &sdp,
        good_offer.as_bytes(),
    );
    let another = another.header("location").unwrap_or_default().to_string();
    let ids: Vec<&str> = [&location, &another]
        .iter()
        .filter_map(|l| l.strip_prefix("/whep/resource/"))
        .filter(|id| id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()))
        .collect();
    check(
        "HTTP: resource ids of two viewers",
        format!(
            "128-bit hex: {}, distinct: {}",
            ids.len() == 2,
            ids.first() != ids.get(1)
        ),
        "128-bit hex: true, distinct: true",
    );
    let foreign = location.replace("/whep/", "/whip/");
    check(
        "HTTP: DELETE of a viewer's resource through the WHIP path",
        status("DELETE", &foreign, &[], b""),
        "404",
    );
    check(
        "HTTP: DELETE of that viewer, its own path",
        status("DELETE", &location, &[], b""),
        "200",
    );

    // Slow-loris: 20 connections dribble a request head; others are served
    // meanwhile, and the server closes the slow ones after the header timeout.
    let mut slow: Vec<TcpStream> = (0..20)
        .map(|_| {
            let mut tcp = TcpStream::connect(http).unwrap();
            tcp.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
                .unwrap();
            tcp
        })
        .collect();
    // Five that send nothing at all, three that stall after 10 bytes, and
    // two that speak HTTP/2 without TLS (its preface, then settings).
    slow.extend((0..5).map(|_| TcpStream::connect(http).unwrap()));
    slow.extend((0..3).map(|_| {
        let mut tcp = TcpStream::connect(http).unwrap();
        tcp.write_all(b"GET / HTTP").unwrap();
        tcp
    }));
    slow.extend((0..2).map(|_| {
        let mut tcp = TcpStream::connect(http).unwrap();
        tcp.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\x04\0\0\0\0\0")
            .unwrap();
        tcp
    }));
    let started = Instant::now();
    let health = request(http, "GET", "/healthz", &[], b"");
    check(
        "HTTP: a request while 30 slow-loris connections are open (20 dribbling headers, 5 silent, 3 stalled after 10 bytes, 2 h2c)",
        format!(
            "{} (in under 1 s: {})",
            health.status,
            started.elapsed() < Duration::from_secs(1)
        ),
        "200 (in under 1 s: true)",
    );
    std::thread::sleep(Duration::from_millis(2500));
    let closed = slow
        .iter_mut()
        .map(closed_by_server)
        .filter(|closed| *closed)
        .count();
    check(
        "HTTP: those 30 connections 2.5 s later (header timeout 1 s)",
        format!("closed {closed} of {}", slow.len()),
        "closed 30 of 30",
    );

    drop(stream2);
    witness.finish();
    println!("{:<95} | response", "case");
    let mut failures = Vec::new();
    for (case, got, expected) in &results {
        println!("{case:<95} | {got}");
        if got.contains("PointerOffset") || got.contains("0x7f") {
            failures.push(format!("{case}: a memory address in the answer: {got:?}"));
        }
        if got != expected && !got.starts_with(&format!("{expected} ")) {
            failures.push(format!("{case}: got {got:?}, expected {expected:?}"));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn dead_and_silent_viewers_are_dropped_within_the_consent_timeout() {
    let node = common::start_node_with(1, |config| {
        config.engine.ftl_media_timeout = Duration::from_secs(60);
    });
    let witness = Witness::start(&node);
    // Two more viewers connect, then one's socket closes (a black hole) and
    // the other stops reading and sending (a frozen player).
    let mut doomed: Vec<common::viewer::TestViewer> = (0..2)
        .map(|_| {
            let (mut viewer, offer) = common::viewer::TestViewer::new();
            let response = common::http::whep_offer(node.http_addr(), "1", &offer);
            assert_eq!(response.status, 201, "{}", response.body);
            viewer.accept_answer(&response.body);
            viewer.run(Duration::from_secs(10), |v| !v.video().is_empty());
            assert!(!viewer.video().is_empty(), "the viewer never got media");
            viewer
        })
        .collect();
    let stream = node.engine().stream("1").unwrap();
    assert_eq!(stream.viewers(), 4);
    let frozen = doomed.pop();
    drop(doomed);
    let gone_at = Instant::now();
    while stream.viewers() > 2 {
        assert!(
            gone_at.elapsed() < Duration::from_secs(25),
            "dead viewers still open after 25 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    println!(
        "dead and frozen viewers dropped after {:.1} s (ICE consent: 15 s without a binding request)",
        gone_at.elapsed().as_secs_f64()
    );
    assert!(
        gone_at.elapsed() >= Duration::from_secs(10),
        "dropped too early"
    );
    drop(frozen);
    witness.finish();
}
