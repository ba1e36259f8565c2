//! Configuration and observability from outside: the binary's config
//! handling, the JSON status API and the Prometheus metrics of a live node.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a failed unwrap in a test is a failed test"
)]

mod common;

use std::process::Command;
use std::time::Duration;

use common::clients::{self, FtlSteps};
use common::http::{request, whep_offer};
use common::media::h264_clip;
use serde_json::Value;

const BINARY: &str = env!("CARGO_BIN_EXE_waveguide-engine");

#[test]
fn print_config_shows_the_effective_configuration() {
    let file = std::env::temp_dir().join(format!("waveguide-config-{}.toml", std::process::id()));
    std::fs::write(
        &file,
        "[webrtc]\nport_base = 40000\n[whip]\ntakeover = true\n",
    )
    .unwrap();
    let output = Command::new(BINARY)
        .args([
            "--config",
            file.to_str().unwrap(),
            "--print-config",
            "--workers",
            "3",
        ])
        .output()
        .unwrap();
    assert!(output.status.success());
    let printed = String::from_utf8(output.stdout).unwrap();
    assert!(printed.contains("port_base = 40000"), "{printed}");
    assert!(printed.contains("takeover = true"));
    assert!(printed.contains("count = 3"), "a flag overrides the file");
    assert!(
        printed.contains("handshake_timeout_ms = 5000"),
        "defaults are shown too"
    );
    std::fs::remove_file(&file).unwrap();
}

#[test]
fn an_invalid_config_names_the_key_and_exits_non_zero() {
    let file =
        std::env::temp_dir().join(format!("waveguide-bad-config-{}.toml", std::process::id()));
    for (text, key) in [
        ("[ftl]\nhandshake_timeout = 5\n", "handshake_timeout"),
        (
            "[ftl]\nmedia_port_min = 10\nmedia_port_max = 5\n",
            "ftl.media_port_min",
        ),
    ] {
        std::fs::write(&file, text).unwrap();
        let output = Command::new(BINARY)
            .args(["--config", file.to_str().unwrap(), "--print-config"])
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(2));
        let stderr = String::from_utf8(output.stderr).unwrap();
        assert!(stderr.contains(key), "{stderr}");
    }
    std::fs::remove_file(&file).unwrap();
    let missing = Command::new(BINARY)
        .args(["--config", "/nonexistent/waveguide.toml"])
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(2));
}

#[test]
fn api_and_metrics_describe_a_live_stream() {
    let node = common::start_node(2);
    let key = node.service().example_stream_key("123").unwrap();
    let publisher = clients::ftl_publisher(node.ftl_addr(), &key).unwrap();
    let clip = h264_clip();
    let first = publisher.send_first_frame(&clip);
    publisher.wait_until_watchable(&node);
    let (mut viewer, offer) = clients::viewer();
    let response = whep_offer(node.http_addr(), "123", &offer);
    viewer.accept_answer(&response.body).unwrap();
    viewer.run(Duration::from_secs(10), |v| v.video().len() >= first);

    let all = request(node.http_addr(), "GET", "/api/streams", &[], b"");
    assert_eq!(all.status, 200);
    assert!(
        all.header("content-type")
            .unwrap()
            .starts_with("application/json")
    );
    let all: Value = serde_json::from_str(&all.body).unwrap();
    assert_eq!(all["streams"].as_array().unwrap().len(), 1);
    let one = request(node.http_addr(), "GET", "/api/streams/123", &[], b"");
    let one: Value = serde_json::from_str(&one.body).unwrap();
    assert_eq!(one["channel"], "123");
    assert_eq!(one["ingest"], "ftl");
    assert_eq!(one["video"]["width"], 320);
    assert_eq!(one["video"]["height"], 240);
    assert_eq!(one["video"]["profile_level_id"], "42c01e");
    assert_eq!(one["audio"]["codec"], "opus");
    assert_eq!(one["viewers"], 1);
    assert_eq!(one["packets_in"], first as u64);
    assert_eq!(
        request(node.http_addr(), "GET", "/api/streams/999", &[], b"").status,
        404
    );

    let metrics = request(node.http_addr(), "GET", "/metrics", &[], b"");
    assert_eq!(metrics.status, 200);
    assert!(
        metrics
            .header("content-type")
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    let body = metrics.body;
    assert!(
        body.contains("# TYPE waveguide_streams gauge\nwaveguide_streams 1\n"),
        "{body}"
    );
    assert!(body.contains(r#"waveguide_stream_viewers{channel="123",ingest="ftl"} 1"#));
    assert!(body.contains(&format!(
        r#"waveguide_stream_packets_in_total{{channel="123",ingest="ftl"}} {first}"#
    )));
    let forwarded: u64 = body
        .lines()
        .filter(|l| l.starts_with("waveguide_packets_forwarded_total{"))
        .map(|l| l.rsplit(' ').next().unwrap().parse::<u64>().unwrap())
        .sum();
    assert_eq!(forwarded, first as u64);
    let busy: u64 = body
        .lines()
        .filter(|l| l.starts_with("waveguide_worker_busy_nanoseconds_total{"))
        .map(|l| l.rsplit(' ').next().unwrap().parse::<u64>().unwrap())
        .sum();
    assert!(busy > 0, "loop utilisation is reported");
    for family in [
        "waveguide_bytes_sent_total",
        "waveguide_viewer_laps_total",
        "waveguide_stream_bytes_in_total",
    ] {
        assert!(
            body.contains(&format!("# TYPE {family} counter")),
            "{family} missing"
        );
    }
    assert!(one["bitrate_bps"].as_u64().is_some());
    publisher.disconnect();
    node.stop();
}
