//! Recording on a real node, where it goes wrong or is told to stay away:
//! a dir that cannot be created fails the recording (counted in
//! `/metrics`, nothing listed) while the stream goes on taking packets;
//! a channel that is not listed in `channels` is not recorded.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a failed unwrap in a test is a failed test"
)]

mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::clients;
use common::clip_pacer::ClipPacer;
use common::http;
use common::media::{h264_clip, opus_packets};
use serde_json::Value;
use waveguide::outputs::recording::{RecordedChannels, RecordingSettings};

fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("waveguide-rec-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn recording_node(settings: RecordingSettings) -> waveguide::Node {
    common::start_node_with(1, move |config| config.recording = settings)
}

/// A counter from `/metrics`.
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

fn list(addr: SocketAddr) -> Vec<Value> {
    let response = http::request(addr, "GET", "/api/recordings", &[], b"");
    assert_eq!(response.status, 200, "{}", response.body);
    serde_json::from_str(&response.body).unwrap()
}

/// Publishes the shipped clip (3 s) to `channel` over FTL, calling
/// `between` between sends, and disconnects.
fn publish_clip(node: &waveguide::Node, channel: &str, mut between: impl FnMut()) {
    let key = node.service().example_stream_key(channel).unwrap();
    let publisher = clients::ftl_publisher(node.ftl_addr(), &key).expect("FTL handshake");
    let (video, audio) = (h264_clip(), opus_packets());
    let mut pacer = ClipPacer::new(&video, 0);
    while pacer.send_due(&publisher, &video, &audio, |_| false) {
        pacer.answer_nacks(&publisher, &video);
        between();
        std::thread::sleep(Duration::from_millis(5));
    }
    std::thread::sleep(Duration::from_millis(300));
    pacer.answer_nacks(&publisher, &video);
    // Its own DISCONNECT is how the session is meant to end.
    match publisher.disconnect() {
        None | Some(ftl::ClientError::Disconnected) => {}
        Some(error) => panic!("the FTL session of {channel} failed: {error}"),
    }
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn an_uncreatable_dir_fails_the_recording_and_the_stream_goes_on() {
    // Tests run as root, which ignores permission bits; a path under a
    // regular file cannot be created by anyone (ENOTDIR).
    let base = temp_dir("uncreatable");
    let file = base.join("a-file");
    std::fs::write(&file, b"").unwrap();
    let dir = file.join("sub");
    let node = recording_node(RecordingSettings {
        dir: Some(dir.clone()),
        ..RecordingSettings::default()
    });
    let addr = node.http_addr();
    let engine = node.engine();
    let packets_in = || {
        engine
            .stream("123")
            .map_or(0, |stream| stream.stats().packets_in)
    };
    // Packets taken by the stream when the recording was seen failing, and
    // the last count seen while the clip played.
    let (mut at_failure, mut at_end) = (None, 0);
    publish_clip(&node, "123", || {
        at_end = packets_in();
        if at_failure.is_none() && metric(addr, "waveguide_recordings_failed_total") == 1 {
            at_failure = Some(at_end);
        }
    });
    let at_failure = at_failure.expect("the recording failed while the clip played");
    assert!(
        at_end > at_failure,
        "the stream stopped taking packets when its recording failed ({at_failure} then {at_end})"
    );
    assert_eq!(metric(addr, "waveguide_recordings_failed_total"), 1);
    assert_eq!(metric(addr, "waveguide_recordings_active"), 0);
    assert_eq!(metric(addr, "waveguide_recording_bytes_total"), 0);
    assert_eq!(metric(addr, "waveguide_recordings_finished_total"), 0);
    assert!(list(addr).is_empty());
    assert!(!dir.exists());
    let _ = std::fs::remove_dir_all(&base);
}

#[test]
fn only_the_listed_channels_are_recorded() {
    let dir = temp_dir("only");
    let node = recording_node(RecordingSettings {
        dir: Some(dir.clone()),
        channels: RecordedChannels::Only(vec!["456".into()]),
        ..RecordingSettings::default()
    });
    let addr = node.http_addr();
    publish_clip(&node, "123", || {});
    publish_clip(&node, "456", || {});
    wait_until("the recording of 456 to finish", || {
        metric(addr, "waveguide_recordings_finished_total") == 1
    });
    let recordings = list(addr);
    assert_eq!(recordings.len(), 1, "{recordings:?}");
    assert_eq!(recordings[0]["channel"], "456");
    assert_eq!(recordings[0]["recording"], false);
    assert!(!dir.join("123").exists());
    assert_eq!(mp4s(&dir.join("456")).len(), 1);
    let _ = std::fs::remove_dir_all(&dir);
}

fn mp4s(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "mp4"))
        .collect()
}
