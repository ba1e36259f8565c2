//! HLS against a real node with hostile or careless clients: an unknown
//! channel is 404 with a one-line reason; malformed delivery directives
//! are 400 at once; an `_HLS_msn` far past the playlist's end is 400 at
//! once instead of holding the connection; a thousand idle blocking
//! reloads are held without a thread each, the node keeps answering, and
//! every one is released with the segment it waited for.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a failed unwrap in a test is a failed test"
)]

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use common::http::{self, wait_for_playlist};
use common::looping::Looping;

/// The media sequence number of the playlist's open segment: the one
/// after its last complete segment.
fn open_msn(playlist: &str) -> u64 {
    let first: u64 = playlist
        .lines()
        .find_map(|line| line.strip_prefix("#EXT-X-MEDIA-SEQUENCE:"))
        .expect("a media sequence")
        .parse()
        .unwrap();
    let complete = playlist
        .lines()
        .filter(|line| line.starts_with("#EXTINF:"))
        .count() as u64;
    first + complete
}

/// A gauge or counter of the node's `/metrics`.
fn metric(addr: SocketAddr, name: &str) -> u64 {
    let response = http::request(addr, "GET", "/metrics", &[], b"");
    assert_eq!(response.status, 200);
    response
        .body
        .lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("no {name} in /metrics"))
        .trim()
        .parse()
        .unwrap()
}

/// Raises this process's soft open-file limit to its hard one, through
/// util-linux's `prlimit` (the test holds both ends of every connection:
/// 2000 descriptors, past the usual soft limit of 1024); fails if the
/// limit is still below `needed`.
fn allow_open_files(needed: u64) {
    let soft = || -> u64 {
        let limits = std::fs::read_to_string("/proc/self/limits").unwrap();
        let line = limits
            .lines()
            .find(|line| line.starts_with("Max open files"))
            .unwrap();
        let value = line.split_whitespace().nth(3).unwrap();
        value.parse().unwrap_or(u64::MAX)
    };
    if soft() >= needed {
        return;
    }
    let pid = std::process::id().to_string();
    let _ = std::process::Command::new("prlimit")
        .args(["--pid", &pid, "--nofile=unlimited:"])
        .status();
    assert!(
        soft() >= needed,
        "this test needs {needed} open files, the limit is {}: raise `ulimit -n`",
        soft()
    );
}

#[test]
fn an_unknown_channel_is_404_with_a_one_line_reason() {
    let node = common::start_node(1);
    for path in [
        "/hls/nobody/index.m3u8",
        "/hls/nobody/index.m3u8?_HLS_msn=3&_HLS_part=1",
        "/hls/nobody/1-1/seg-0.m4s",
        "/hls/nobody/1-1/init-0.mp4",
    ] {
        let response = http::request(node.http_addr(), "GET", path, &[], b"");
        assert_eq!(response.status, 404, "{path}: {}", response.body);
        assert_eq!(
            response.body.lines().count(),
            1,
            "{path}: {}",
            response.body
        );
    }
    assert_eq!(metric(node.http_addr(), "waveguide_hls_windows"), 0);
    assert_eq!(metric(node.http_addr(), "waveguide_packagers_running"), 0);
}

#[test]
fn bad_directives_and_far_future_reloads_are_400_at_once() {
    let node = common::start_node(1);
    let _stream = Looping::ftl(&node, "321");
    let addr = node.http_addr();
    let playlist = wait_for_playlist(addr, "321");
    let open = open_msn(&playlist);
    let started = Instant::now();
    for query in [
        "_HLS_part=0".to_owned(),
        "_HLS_msn=x".to_owned(),
        "_HLS_msn=-1".to_owned(),
        "_HLS_msn=1.0".to_owned(),
        "_HLS_msn=99999999999999999999".to_owned(),
        "_HLS_msn=1&_HLS_msn=2".to_owned(),
        "_HLS_msn=1&_HLS_part=".to_owned(),
        "_HLS_msn=%FF".to_owned(),
        // More than two segments past the last complete one.
        format!("_HLS_msn={}", open + 5),
        format!("_HLS_msn={}", u64::MAX),
        // Further than the Advance Part Limit (3 s of parts) past the newest.
        format!("_HLS_msn={open}&_HLS_part=1000"),
    ] {
        let response = http::request(
            addr,
            "GET",
            &format!("/hls/321/index.m3u8?{query}"),
            &[],
            b"",
        );
        assert_eq!(response.status, 400, "{query}: {}", response.body);
        assert_eq!(response.body.lines().count(), 1, "{query}");
    }
    // Refused, none of them held.
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(metric(addr, "waveguide_hls_blocked_timeouts_total"), 0);
}

#[test]
fn a_thousand_idle_blocking_reloads_do_not_exhaust_the_node() {
    const CLIENTS: usize = 1000;
    allow_open_files(CLIENTS as u64 * 2 + 512);
    // Six-second segments: the furthest segment a client may ask for is
    // then 6 to 12 s away, longer than connecting a thousand clients takes
    // on a loaded machine (the node's listen backlog is 128: a burst past
    // it waits a second for each dropped SYN to be sent again).
    let node = common::start_node_with(1, |config| {
        config.hls.segment_target = Duration::from_secs(6);
    });
    let _stream = Looping::ftl(&node, "322");
    let addr = node.http_addr();
    let playlist = wait_for_playlist(addr, "322");
    // Just after a segment starts (a blocking reload for its first part),
    // the segment after it is two segments away.
    let next = open_msn(&playlist) + 1;
    let aligned = http::request(
        addr,
        "GET",
        &format!("/hls/322/index.m3u8?_HLS_msn={next}&_HLS_part=0"),
        &[],
        b"",
    );
    assert_eq!(aligned.status, 200, "{}", aligned.body);
    let wanted = open_msn(&aligned.body) + 1;
    let request = format!(
        "GET /hls/322/index.m3u8?_HLS_msn={wanted} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
    );
    let mut held: Vec<TcpStream> = (0..CLIENTS)
        .map(|_| TcpStream::connect(addr).unwrap())
        .collect();
    for stream in &mut held {
        stream.write_all(request.as_bytes()).unwrap();
    }
    // All of them held at once.
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut blocked = 0;
    while blocked < CLIENTS as u64 {
        blocked = metric(addr, "waveguide_hls_blocked_requests");
        assert!(Instant::now() < deadline, "only {blocked} held");
        std::thread::sleep(Duration::from_millis(20));
    }
    // Meanwhile the node answers everything else at once.
    let started = Instant::now();
    assert_eq!(
        http::request(addr, "GET", "/hls/322/index.m3u8", &[], b"").status,
        200
    );
    assert_eq!(
        http::request(addr, "GET", "/hls/nobody/index.m3u8", &[], b"").status,
        404
    );
    assert_eq!(http::request(addr, "GET", "/healthz", &[], b"").status, 200);
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    // Released when segment `wanted` is complete (held at most three
    // target durations, 18 s): each answer lists it.
    let segment = format!("/seg-{wanted}.m4s\n");
    for (index, mut stream) in held.into_iter().enumerate() {
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        let mut reply = Vec::new();
        stream.read_to_end(&mut reply).unwrap();
        let reply = String::from_utf8_lossy(&reply);
        assert!(
            reply.starts_with("HTTP/1.1 200 "),
            "client {index}: {reply}"
        );
        assert!(reply.contains(&segment), "client {index}: {reply}");
    }
    assert_eq!(metric(addr, "waveguide_hls_blocked_requests"), 0);
    assert_eq!(metric(addr, "waveguide_hls_blocked_timeouts_total"), 0);
    assert_eq!(metric(addr, "waveguide_hls_windows"), 1);
}
