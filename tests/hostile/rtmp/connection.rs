//! RTMP cases on the connection and the chunk stream: the connection
//! limit, broken and unfinished handshakes, chunk sizes and message lengths
//! at and past their limits, and a publisher that stops reading.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use waveguide::Node;

use super::{Case, Check, MAX_CONNECTIONS, WRITE_TIMEOUT, connect, live_after_close};

/// Whether a new connection's handshake is answered.
fn served(addr: SocketAddr) -> Option<Case> {
    let mut case = Case::open(addr);
    let answered = case
        .client
        .send_c0_c1()
        .and_then(|()| case.client.read_s0_s1_s2());
    answered.ok().map(|_| case)
}

/// Connections up to the limit are served, the next is closed at accept,
/// and a slot is free again once they close.
pub fn connection_limit(addr: SocketAddr, check: &mut Check) {
    let held: Vec<Case> = (0..=MAX_CONNECTIONS).map_while(|_| served(addr)).collect();
    check(
        &format!(
            "{} connections at once (limit {MAX_CONNECTIONS})",
            MAX_CONNECTIONS + 1
        ),
        format!("{} served, the next closed at accept", held.len()),
        &format!("{MAX_CONNECTIONS} served, the next closed at accept"),
    );
    drop(held);
    // The server frees a slot when it sees the client leave.
    let deadline = Instant::now() + Duration::from_secs(3);
    let again = loop {
        if let Some(case) = served(addr) {
            break case.ending();
        }
        if Instant::now() > deadline {
            break "refused".into();
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    check(
        "a new connection once those closed (then it never publishes)",
        again,
        "closed at the handshake deadline",
    );
}

/// Handshakes that are not RTMP's, broken, abandoned or never finished.
pub fn handshakes(addr: SocketAddr, check: &mut Check) {
    let after_s2 = |garbage: &[u8]| {
        let mut case = Case::open(addr);
        case.client.send_c0_c1().unwrap();
        case.client.read_s0_s1_s2().unwrap();
        let _ = case.client.send_raw(garbage);
        case.ending()
    };
    let raw = |bytes: &[u8]| {
        let mut case = Case::open(addr);
        let _ = case.client.send_raw(bytes);
        case.ending()
    };
    let mut c0_c1 = vec![3];
    c0_c1.extend([0x5a; 1536]);
    let rtmpe = [&[6][..], &c0_c1[1..]].concat();
    let cases: [(&str, String, &str); 8] = [
        (
            "handshake: C0 asks for version 6 (RTMPE)",
            raw(&rtmpe),
            "closed",
        ),
        (
            "handshake: an HTTP request",
            raw(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
            "closed",
        ),
        (
            "handshake: C0+C1, then 4 KiB of 0x42 for C2 and chunks",
            after_s2(&[0x42; 4096]),
            "closed",
        ),
        (
            "handshake: C0+C1, then 100 bytes of C2 and no more",
            after_s2(&[0x42; 100]),
            "closed at the handshake deadline",
        ),
        (
            "handshake: C0 and half of C1, then the client closes",
            {
                let mut case = Case::open(addr);
                case.client.send_raw(&c0_c1[..700]).unwrap();
                case.client.shutdown_write().unwrap();
                case.ending()
            },
            "closed",
        ),
        (
            "handshake: S0+S1+S2 read, then the client closes before C2",
            {
                let mut case = Case::open(addr);
                case.client.send_c0_c1().unwrap();
                case.client.read_s0_s1_s2().unwrap();
                case.client.shutdown_write().unwrap();
                case.ending()
            },
            "closed",
        ),
        (
            "handshake: TCP open, nothing sent",
            Case::open(addr).ending(),
            "closed at the handshake deadline",
        ),
        (
            "handshake done, connect and createStream, then no publish",
            {
                let mut case = Case::connected(addr);
                case.client.create_stream().unwrap();
                case.ending()
            },
            "closed at the handshake deadline",
        ),
    ];
    for (case, got, expected) in cases {
        check(case, got, expected);
    }
}

/// Set Chunk Size, then connect and a 70 000-byte message in that size
/// (an unknown type, ignored), proved read by a ping: "served" or the end.
pub fn chunk_sizes(addr: SocketAddr, check: &mut Check) {
    let sizes = [
        (0, "closed"),
        (127, "closed"),
        (128, "served"),
        (65_536, "served"),
        (65_537, "closed"),
        (1 << 31, "closed"),
        (u32::MAX, "closed"),
    ];
    for (size, expected) in sizes {
        let mut case = Case::handshaken(addr);
        let served = case.client.set_chunk_size(size).and_then(|()| {
            connect(&mut case.client)?;
            case.client.send_message(5, 0x30, 0, 0, &[0x42; 70_000])?;
            case.client.ping(size)
        });
        let got = match served {
            Ok(()) => "served".into(),
            Err(_) => case.ending(),
        };
        check(
            &format!("Set Chunk Size {size}, then connect"),
            got,
            expected,
        );
    }
}

/// Messages at and past the chunk stream's length limit and the AMF0
/// command limit; one past is closed at its header, without its body.
pub fn message_lengths(node: &Node, check: &mut Check) {
    let (limit, amf_limit) = (::rtmp::MAX_MESSAGE_LEN, ::rtmp::MAX_AMF_MESSAGE_LEN);
    let addr = node.rtmp_addr().unwrap();
    for (length, name) in [
        (0xff_ffff, "16 MiB − 1 (the largest header)"),
        (limit + 1, "the limit + 1"),
    ] {
        let mut case = Case::connected(addr);
        case.client
            .send_declared_message(5, 0x30, length, &[])
            .unwrap();
        check(
            &format!(
                "a message header declaring {name} bytes, no body (closed before the deadline)"
            ),
            case.ending(),
            "closed",
        );
    }
    // An unknown command (ignored) whose name fills it to the AMF0 limit:
    // the name's marker and length, the transaction id, a null.
    let name = "x".repeat(amf_limit - 3 - 9 - 1);
    for (extra, expected) in [(0, "served"), (1, "closed")] {
        let mut case = Case::connected(addr);
        let mut command = vec![0x02];
        command.extend(u16::try_from(name.len()).unwrap().to_be_bytes());
        command.extend(name.as_bytes());
        command.push(0x00);
        command.extend(9.0f64.to_be_bytes());
        command.extend(std::iter::repeat_n(0x05, 1 + extra));
        let served = case.client.send_message(3, 20, 0, 0, &command);
        let got = match served.and_then(|()| case.client.ping(1)) {
            Ok(()) => "served".into(),
            Err(_) => case.ending(),
        };
        check(
            &format!(
                "an AMF0 command of {} bytes (limit {amf_limit})",
                command.len()
            ),
            got,
            expected,
        );
    }
    let mut case = Case::publishing(node, "40");
    case.client.set_chunk_size(65_536).unwrap();
    let length = usize::try_from(limit).unwrap();
    case.client
        .send_message(5, 0x30, 1, 0, &vec![0x42; length])
        .unwrap();
    check(
        &format!("a message of {limit} bytes (the limit) after a good publish"),
        case.goes_on(node, "40"),
        "kept going",
    );
}

/// A publisher that floods PingRequests and never reads the answers: the
/// server must give up on it after its write timeout.
pub fn stops_reading(node: &Node, check: &mut Check) {
    let mut run = Case::publishing(node, "70");
    let started = Instant::now();
    let until = started + WRITE_TIMEOUT + Duration::from_secs(10);
    // Filling the socket buffers first takes well under a second on loopback.
    let late = WRITE_TIMEOUT + Duration::from_secs(4);
    let got = match run.client.flood_ping_requests(until).unwrap() {
        Some(at) if (WRITE_TIMEOUT..late).contains(&(at - started)) => format!(
            "closed after the write timeout; live: {} ({:.1} s into the flood)",
            live_after_close(node, "70"),
            (at - started).as_secs_f64()
        ),
        Some(at) => format!("closed {:?} into the flood", at - started),
        None => "open".into(),
    };
    check(
        "a publisher that floods PingRequests and never reads",
        got,
        "closed after the write timeout; live: false",
    );
}
