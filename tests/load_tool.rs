//! The load tool against a real node: its publisher (FTL and WHIP) and its
//! str0m viewers over loopback, and the summary it prints.

mod common;

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;

use waveguide::Node;
use waveguide_load::report::Summary;
use waveguide_load::{Ingest, Options, run};

const DUMMY_KEY_123: &str = "123-a665a45920422f9d417e4867efdc4fb8a04a1f3fff1fa07e998e86f7f7a27ae3";

fn options(node: &Node, ingest: Ingest, viewers: usize) -> Options {
    let data = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    Options {
        http: format!("http://{}", node.http_addr()),
        ftl: node.ftl_addr(),
        ingest,
        stream_key: DUMMY_KEY_123.into(),
        viewers,
        ramp: 20.0,
        duration: 2.0,
        video: data.join("testsrc-320x240-30fps-baseline-gop30.h264"),
        audio: data.join("sine-440hz-48k-20ms.opus"),
        fps: 30,
        bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
        server_pid: Some(std::process::id()),
        churn: None,
        sample_every: None,
    }
}

/// What every healthy run on loopback must show.
fn assert_clean(summary: &Summary, viewers: usize) {
    assert_eq!(summary.viewers_connected, viewers, "{summary:?}");
    assert_eq!(summary.viewers_failed, 0, "{summary:?}");
    assert_eq!(summary.packets_lost, 0, "{summary:?}");
    assert_eq!(summary.delivery, 1.0);
    // Two seconds of settle and two of window at 30 fps, per viewer.
    assert!(summary.frames >= viewers as u64 * 100, "{summary:?}");
    assert_eq!(summary.first_frame_ms.samples, viewers as u64);
    assert!(
        summary.latency_ms.samples > summary.packets_received / 2,
        "{summary:?}"
    );
    assert!(summary.publisher.is_some_and(|p| p.packets > 0));
    assert!(summary.server_cpu_us_per_packet.is_some());
    assert!(summary.server_rss_kib_per_viewer.is_some());
}

#[test]
fn ftl_publisher_reaches_every_load_viewer_without_loss() {
    let node = common::start_node(1);
    let summary = run(&options(&node, Ingest::Ftl, 4)).unwrap();
    assert_clean(&summary, 4);
    assert_eq!(summary.ingest, "ftl");
    let json = serde_json::to_string(&summary).unwrap();
    for field in [
        "\"first_frame_ms\":{\"p50\":",
        "\"latency_ms\":{\"p50\":",
        "\"delivery\":1.0",
    ] {
        assert!(json.contains(field), "{json}");
    }
}

#[test]
fn whip_publisher_reaches_every_load_viewer_without_loss() {
    let node = common::start_node(2);
    let summary = run(&options(&node, Ingest::Whip, 4)).unwrap();
    assert_clean(&summary, 4);
}

#[test]
fn viewers_of_a_stream_that_is_not_live_are_counted_as_failed() {
    let node = common::start_node(1);
    let summary = run(&options(&node, Ingest::None, 3)).unwrap();
    assert_eq!(summary.viewers_connected, 0);
    assert_eq!(summary.viewers_failed, 3);
    assert!(
        summary.failures[0].contains("404"),
        "{:?}",
        summary.failures
    );
    assert_eq!(summary.packets_received, 0);
}

/// The soak benchmark's short version: viewers churn every 1.5 s.
#[test]
fn churning_load_viewers_are_replaced_and_lose_nothing() {
    let node = common::start_node(1);
    let mut churning = options(&node, Ingest::Ftl, 3);
    churning.churn = Some(1.5);
    churning.duration = 4.0;
    let summary = run(&churning).unwrap();
    assert_eq!(summary.viewers_failed, 0, "{summary:?}");
    assert!(summary.viewer_sessions >= 9, "{summary:?}");
    assert_eq!(summary.viewers_connected, summary.viewer_sessions);
    assert_eq!(summary.packets_lost, 0, "{summary:?}");
}
