//! The node's `/hls/` routes with no stream published: media of no window
//! (or with a name this server never writes) is 404, and CORS answers a
//! player on another origin, preflight and refusal alike. (Unknown
//! channels and bad directives: tests/hls_hostile.rs; windows, blocking
//! and held-request limits over a socket: src/outputs/hls/tests.rs.)

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a failed unwrap in a test is a failed test"
)]

mod common;

use common::http::request;

#[test]
fn media_of_no_window_is_404() {
    let node = common::start_node(1);
    for path in [
        "/hls/123/1-2/seg-0.m4s",
        "/hls/123/1-2/part-0-0.m4s",
        "/hls/123/1-2/init-0.mp4",
        "/hls/123/1-2/../../../etc/passwd",
        "/hls/123/1-2/seg-x.m4s",
    ] {
        let response = request(node.http_addr(), "GET", path, &[], b"");
        assert_eq!(response.status, 404, "{path}: {}", response.body);
    }
    node.stop();
}

#[test]
fn cors_lets_another_origin_play() {
    let node = common::start_node(1);
    let preflight = request(
        node.http_addr(),
        "OPTIONS",
        "/hls/123/index.m3u8",
        &[
            ("Origin", "https://player.example"),
            ("Access-Control-Request-Method", "GET"),
            ("Access-Control-Request-Headers", "authorization"),
        ],
        b"",
    );
    assert!(preflight.status < 300, "{}", preflight.status);
    assert_eq!(preflight.header("access-control-allow-origin"), Some("*"));
    let methods = preflight.header("access-control-allow-methods").unwrap();
    assert!(methods.contains("GET"), "{methods}");
    let headers = preflight.header("access-control-allow-headers").unwrap();
    assert!(headers.contains("authorization"), "{headers}");
    // Refusals carry it too, so a page can read why.
    let refused = request(
        node.http_addr(),
        "GET",
        "/hls/123/index.m3u8",
        &[("Origin", "https://player.example")],
        b"",
    );
    assert_eq!(refused.status, 404);
    assert_eq!(refused.header("access-control-allow-origin"), Some("*"));
    node.stop();
}
