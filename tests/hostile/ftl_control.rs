//! The FTL control part of the hostile matrix: connections that send a
//! case's bytes (raw, after a right handshake, or one byte a second) and
//! collect every reply until the server closes; all cases run at once.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use crate::common::witness::{dummy_secret, hex};
use crate::ftl_control_cases::{
    SHORT, after_auth, before_auth, connect_lines, ftl_app_attributes, lines, odd_channels,
    while_streaming, wrong_hex,
};

/// Reads into `replies` until the server closes `tcp`; if it is still open
/// after `wait`, appends `open`.
fn read_until_closed(tcp: &mut TcpStream, wait: Duration, replies: &mut Vec<u8>) {
    tcp.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let deadline = Instant::now() + wait;
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
}

/// Sends `chunks` on a new FTL control connection and returns every reply
/// line until the server closes (the challenge shown as `<challenge>`), or
/// `open` if it is still open after `wait`.
fn ftl_control(addr: SocketAddr, chunks: &[Vec<u8>], wait: Duration) -> String {
    let mut tcp = TcpStream::connect(addr).unwrap();
    for chunk in chunks {
        // The server may already have closed: later writes then fail.
        let _ = tcp.write_all(chunk);
    }
    let mut replies = Vec::new();
    read_until_closed(&mut tcp, wait, &mut replies);
    let text = String::from_utf8_lossy(&replies).into_owned();
    text.lines()
        .map(|line| match line.strip_prefix("200 ") {
            Some(hex) if hex.len() == 256 => "200 <challenge>".to_string(),
            _ => line.to_string(),
        })
        .collect::<Vec<_>>()
        .join(" | ")
}

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
    read_until_closed(&mut tcp, wait, &mut replies);
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

/// Runs every control case, each on its own connection, all at once;
/// returns (case, answer, expected).
pub fn run_cases(addr: SocketAddr) -> Vec<(String, String, &'static str)> {
    let short = SHORT;
    let mut threads = Vec::new();
    for (line, expected) in connect_lines() {
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
    for (name, chunks, wait, expected) in before_auth() {
        threads.push((
            name.to_string(),
            expected,
            std::thread::spawn(move || ftl_control(addr, &chunks, wait)),
        ));
    }
    for (name, rest, wait, expected) in after_auth() {
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
    for (index, (name, rest, expected)) in while_streaming().into_iter().enumerate() {
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
    for (name, channel, key_channel, expected) in odd_channels() {
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
                &[format!("HMAC\nCONNECT 1 ${}\n", wrong_hex()).into_bytes()],
                short,
            )
        }),
    ));
    threads
        .into_iter()
        .map(|(name, expected, thread)| (name, thread.join().unwrap(), expected))
        .collect()
}
