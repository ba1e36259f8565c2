//! The slow-loris part of the hostile matrix: 30 connections that dribble,
//! stall or say nothing (or speak HTTP/2 without TLS) while others are
//! served, all closed by the server after the header timeout.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use crate::answers::Answers;
use crate::common::http::request;

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

/// Opens the slow connections to `http`, checks that others are served
/// meanwhile and that the slow ones are closed.
pub fn check(http: SocketAddr, answers: &mut Answers) {
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
    answers.check(
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
    answers.check(
        "HTTP: those 30 connections 2.5 s later (header timeout 1 s)",
        format!("closed {closed} of {}", slow.len()),
        "closed 30 of 30",
    );
}
