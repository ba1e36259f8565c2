//! The webhook service against a real HTTP server (axum on 127.0.0.1): it
//! decides who streams, hears every stream start, heartbeat and stop, fails
//! closed, and a stream whose heartbeats keep failing is stopped.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a failed unwrap in a test is a failed test"
)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode as HttpStatus;
use common::clients::{self, FtlSteps};
use common::media::h264_clip;
use ftl::{ClientError, StatusCode};
use parking_lot::Mutex;
use serde_json::{Value, json};
use waveguide::control::service::{Service, Webhook};

/// The platform's side: records every event; channel 77's secret is
/// `hooksecret`; heartbeats fail while `fail_metadata` is set.
#[derive(Clone, Default)]
struct Platform {
    events: Arc<Mutex<Vec<Value>>>,
    fail_metadata: Arc<AtomicBool>,
}

impl Platform {
    fn events_named(&self, name: &str) -> Vec<Value> {
        self.events
            .lock()
            .iter()
            .filter(|e| e["event"] == name)
            .cloned()
            .collect()
    }
}

async fn hook(
    State(platform): State<Platform>,
    Json(event): Json<Value>,
) -> (HttpStatus, Json<Value>) {
    platform.events.lock().push(event.clone());
    match event["event"].as_str() {
        Some("authorize") if event["channel"] == "77" => {
            (HttpStatus::OK, Json(json!({ "secret": "hooksecret" })))
        }
        Some("authorize") => (HttpStatus::FORBIDDEN, Json(json!({}))),
        Some("authorize_viewer") if event["token"] == "ticket" => (HttpStatus::OK, Json(json!({}))),
        Some("authorize_viewer") => (HttpStatus::FORBIDDEN, Json(json!({}))),
        Some("metadata") if platform.fail_metadata.load(Ordering::Acquire) => {
            (HttpStatus::INTERNAL_SERVER_ERROR, Json(json!({})))
        }
        _ => (HttpStatus::OK, Json(json!({}))),
    }
}

/// Starts the platform's server on its own runtime; returns its URL.
fn platform_server(platform: Platform) -> (String, tokio::runtime::Runtime) {
    let app = axum::Router::new()
        .route("/hook", axum::routing::post(hook))
        .with_state(platform);
    let (addr, runtime) = common::http::serve(app);
    (format!("http://{addr}/hook"), runtime)
}

fn webhook(url: &str) -> Service {
    Service::Webhook(Webhook {
        url: url.to_owned(),
        timeout_ms: 500,
        retries: 1,
        heartbeat_ms: 200,
        max_failed_heartbeats: 3,
        viewer_auth: false,
    })
}

fn wait(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn the_webhook_decides_and_hears_the_whole_lifecycle() {
    let platform = Platform::default();
    let (url, _server) = platform_server(platform.clone());
    let node = common::start_node_with(1, |config| config.service = webhook(&url));

    let refused = clients::ftl_publisher(node.ftl_addr(), "78-anything").err();
    assert_eq!(
        refused,
        Some(ClientError::Refused(StatusCode::InvalidStreamKey))
    );
    let wrong = clients::ftl_publisher(node.ftl_addr(), "77-not-it").err();
    assert_eq!(
        wrong,
        Some(ClientError::Refused(StatusCode::InvalidStreamKey))
    );

    let publisher =
        clients::ftl_publisher(node.ftl_addr(), "77-hooksecret").expect("the webhook's secret");
    publisher.send_first_frame(&h264_clip());
    wait("stream_started", || {
        !platform.events_named("stream_started").is_empty()
    });
    let started = &platform.events_named("stream_started")[0];
    assert_eq!(started["channel"], "77");
    assert_eq!(started["ingest"], "ftl");
    assert_eq!(started["vendor_name"], "waveguide-tests");

    wait("a heartbeat with the picture size", || {
        platform
            .events_named("metadata")
            .iter()
            .any(|m| m["video_width"] == 320)
    });
    let metadata = platform
        .events_named("metadata")
        .into_iter()
        .rfind(|m| m["video_width"] == 320)
        .unwrap();
    for field in [
        "ingest_server",
        "video_codec",
        "audio_codec",
        "video_height",
        "viewers",
        "packets_received",
        "packets_lost",
        "packets_nacked",
        "source_bitrate",
        "uptime_seconds",
        "vendor_version",
    ] {
        assert!(
            !metadata[field].is_null(),
            "heartbeat lacks {field}: {metadata}"
        );
    }
    assert_eq!(metadata["video_codec"], "H264");
    assert_eq!(metadata["video_height"], 240);

    publisher.disconnect();
    wait("stream_stopped", || {
        !platform.events_named("stream_stopped").is_empty()
    });
    assert_eq!(platform.events_named("stream_stopped")[0]["channel"], "77");
    assert_eq!(platform.events_named("authorize").len(), 3);
    node.stop();
}

#[test]
fn an_unreachable_webhook_fails_closed() {
    // A port nothing listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let node = common::start_node_with(1, |config| {
        config.service = webhook(&format!("http://{closed}/hook"))
    });
    let started = Instant::now();
    let refused = clients::ftl_publisher(node.ftl_addr(), "77-hooksecret").err();
    assert_eq!(
        refused,
        Some(ClientError::Refused(StatusCode::InvalidStreamKey))
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "bounded by timeout and retries"
    );
    node.stop();
}

#[test]
fn a_stream_whose_heartbeats_keep_failing_is_stopped() {
    let platform = Platform::default();
    platform.fail_metadata.store(true, Ordering::Release);
    let (url, _server) = platform_server(platform.clone());
    let node = common::start_node_with(1, |config| config.service = webhook(&url));
    let publisher = clients::ftl_publisher(node.ftl_addr(), "77-hooksecret").unwrap();
    publisher.send_first_frame(&h264_clip());
    wait("the stream to be stopped", || publisher.control_ended());
    assert_eq!(
        publisher.disconnect(),
        Some(ClientError::Refused(StatusCode::ServerTerminate))
    );
    assert!(platform.events_named("metadata").len() >= 3);
    assert!(node.engine().stream("77").is_none());
    node.stop();
}

#[test]
fn viewer_auth_asks_the_webhook() {
    let platform = Platform::default();
    let (url, _server) = platform_server(platform.clone());
    let node = common::start_node_with(1, |config| {
        let Service::Webhook(mut hook) = webhook(&url) else {
            unreachable!()
        };
        hook.viewer_auth = true;
        config.service = Service::Webhook(hook);
    });
    let publisher = clients::ftl_publisher(node.ftl_addr(), "77-hooksecret").unwrap();
    publisher.send_first_frame(&h264_clip());
    publisher.wait_until_watchable(&node);
    let offer = common::clients::viewer().1;
    let post = |authorization: Option<&str>| {
        let mut headers = vec![("Content-Type", "application/sdp")];
        if let Some(authorization) = authorization {
            headers.push(("Authorization", authorization));
        }
        common::http::request(
            node.http_addr(),
            "POST",
            "/whep/endpoint/77",
            &headers,
            offer.as_bytes(),
        )
    };
    let anonymous = post(None);
    assert_eq!(anonymous.status, 401);
    assert_eq!(anonymous.header("www-authenticate"), Some("Bearer"));
    assert_eq!(post(Some("Bearer wrong")).status, 401);
    assert_eq!(post(Some("Bearer ticket")).status, 201);
    let asked = platform.events_named("authorize_viewer");
    assert_eq!(asked.len(), 3);
    assert_eq!(asked[2]["channel"], "77");
    publisher.disconnect();
    node.stop();
}

#[test]
fn the_webhook_hears_a_recording_finished() {
    let platform = Platform::default();
    let (url, _server) = platform_server(platform.clone());
    let dir = std::env::temp_dir().join(format!("waveguide-hook-rec-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let recordings = dir.clone();
    let node = common::start_node_with(1, move |config| {
        config.service = webhook(&url);
        config.recording.dir = Some(recordings);
    });
    let publisher =
        clients::ftl_publisher(node.ftl_addr(), "77-hooksecret").expect("the webhook's secret");
    let video = h264_clip();
    let mut pacer = common::clip_pacer::ClipPacer::new(&video, 0);
    while pacer.send_due(&publisher, &video, &[], |_| false) {
        std::thread::sleep(Duration::from_millis(5));
    }
    std::thread::sleep(Duration::from_millis(300));
    publisher.disconnect();
    wait("recording_finished", || {
        !platform.events_named("recording_finished").is_empty()
    });
    let finished = &platform.events_named("recording_finished")[0];
    assert_eq!(finished["channel"], "77");
    assert!(finished["error"].is_null(), "{finished}");
    let stream_id = &platform.events_named("stream_started")[0]["stream_id"];
    assert_eq!(&finished["stream_id"], stream_id);
    // The clip: 90 frames at 30 fps.
    let seconds = finished["duration_seconds"].as_f64().unwrap();
    assert!((seconds - 3.0).abs() < 0.05, "{finished}");
    let id = finished["recording_id"].as_str().unwrap();
    let file = waveguide::outputs::recording::file_of_id(&dir, id).unwrap();
    assert_eq!(
        std::fs::metadata(&file).unwrap().len(),
        finished["bytes"].as_u64().unwrap()
    );
    node.stop();
    let _ = std::fs::remove_dir_all(&dir);
}
