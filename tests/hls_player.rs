//! The player page's HLS fallback in a real Chromium (Debian's
//! `chromium`): a WHEP error and a browser without `RTCPeerConnection`
//! both turn to `/hls/{channel}/index.m3u8`, which plays in the `<video>`
//! where the browser plays HLS itself and is shown as a link elsewhere;
//! a `?token=` of the page travels to the playlist's URL.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a failed unwrap in a test is a failed test"
)]

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::chromium::{CHROMIUM, Chromium};
use serde_json::Value;

/// Evaluates `expression` until it is not `null` (10 s at most).
fn wait_for(browser: &mut Chromium, expression: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let value = browser.evaluate(expression);
        if !value.is_null() {
            return value;
        }
        assert!(Instant::now() < deadline, "never true: {expression}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn the_player_falls_back_to_hls_where_webrtc_fails() {
    assert!(
        Path::new(CHROMIUM).exists(),
        "the browser tests need Debian's chromium package"
    );
    let node = common::start_node(1);
    let base = format!("http://{}", node.http_addr());
    // Nothing is live on "nope": WHEP answers 404.
    let mut browser = Chromium::open(&format!("{base}/stream/nope?token=a%20b"));
    let fallback = wait_for(
        &mut browser,
        "window.waveguide && window.waveguide.hls ? window.waveguide : null",
    );
    let url = format!("{base}/hls/nope/index.m3u8?token=a+b");
    assert_eq!(fallback["hls"], url.as_str(), "{fallback}");
    let reason = fallback["reason"].as_str().unwrap();
    assert!(reason.starts_with("WHEP 404: "), "{reason}");

    // Whichever this Chromium is, the page did what its canPlayType says.
    let native = browser.evaluate(
        r#"document.getElementById("video").canPlayType("application/vnd.apple.mpegurl") !== """#,
    );
    let shown = browser.evaluate(
        r##"(() => {
            const link = document.querySelector("#status a");
            return {
                src: document.getElementById("video").getAttribute("src"),
                link: link ? link.href : null,
                status: document.getElementById("status").textContent,
            };
        })()"##,
    );
    if native == Value::Bool(true) {
        assert_eq!(shown["src"], url.as_str(), "{shown}");
        assert_eq!(shown["link"], Value::Null, "{shown}");
    } else {
        assert_eq!(shown["src"], Value::Null, "{shown}");
        assert_eq!(shown["link"], url.as_str(), "{shown}");
        let status = shown["status"].as_str().unwrap();
        assert!(
            status.contains("does not play HLS itself") && status.contains(&url),
            "{status}"
        );
    }

    // A browser that plays HLS itself: the playlist goes into the video.
    let played = browser.evaluate(
        r#"(() => {
            const video = document.getElementById("video");
            video.canPlayType = (type) => type === "application/vnd.apple.mpegurl" ? "maybe" : "";
            fellBack = false;
            fallBackToHls("a test");
            return { src: video.getAttribute("src"), status: document.getElementById("status").textContent };
        })()"#,
    );
    assert_eq!(played["src"], url.as_str(), "{played}");
    assert_eq!(
        played["status"], "WebRTC failed (a test); playing HLS",
        "{played}"
    );

    // No WebRTC at all: straight to HLS, without asking WHEP.
    let no_webrtc = browser.evaluate(
        r#"(async () => {
            window.RTCPeerConnection = undefined;
            fellBack = false;
            window.waveguide = null;
            await play();
            return window.waveguide;
        })()"#,
    );
    assert_eq!(
        no_webrtc["reason"], "this browser has no WebRTC",
        "{no_webrtc}"
    );
    assert_eq!(no_webrtc["hls"], url.as_str(), "{no_webrtc}");
}
