//! Recordings through their public API on a real engine and control plane,
//! with no stream published: recording off lists nothing and serves
//! nothing; with a dir, start-up retention deletes by age and size, a
//! killed server's file gets its duration, and the API lists and serves
//! what is left, ranges included.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "a failed unwrap or index in a test is a failed test"
)]

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use waveguide::control::service::Service;
use waveguide::control::state::Control;
use waveguide::outputs::packager::{PackagerSettings, Packagers};
use waveguide::outputs::recording::{self, RecordedChannels, RecordingSettings, Recordings};

const HOUR: Duration = Duration::from_secs(3600);

/// An engine, a control plane, and the recordings router on 127.0.0.1:0.
struct Harness {
    runtime: tokio::runtime::Runtime,
    engine: Option<engine::Engine>,
    recordings: Arc<Recordings>,
    addr: SocketAddr,
}

impl Harness {
    fn start(settings: RecordingSettings) -> Self {
        waveguide::net::tls::install_crypto_provider();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let engine = engine::Engine::start(engine::EngineConfig {
            workers: 1,
            webrtc_bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
            webrtc_port_base: 0,
            ftl_media_bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
            ice_tcp: false,
            ..engine::EngineConfig::default()
        })
        .unwrap();
        let control = Arc::new(
            Control::new(
                engine.handle(),
                Service::default(),
                false,
                runtime.handle().clone(),
                None,
                None,
            )
            .unwrap(),
        );
        let packagers = Packagers::new(PackagerSettings {
            segment_target: Duration::from_secs(2),
            part_target: Duration::from_millis(500),
        });
        let recordings = Recordings::start(control, packagers, settings, runtime.handle());
        let router = recording::router(Arc::clone(&recordings));
        let addr = runtime.block_on(async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
            addr
        });
        Self {
            runtime,
            engine: Some(engine),
            recordings,
            addr,
        }
    }

    fn get(&self, path: &str, range: Option<&str>) -> (u16, Vec<u8>) {
        let url = format!("http://{}{path}", self.addr);
        self.runtime.block_on(async {
            let mut request = reqwest::Client::new()
                .get(url)
                .timeout(Duration::from_secs(10));
            if let Some(range) = range {
                request = request.header("range", range);
            }
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            (status, response.bytes().await.unwrap().to_vec())
        })
    }

    fn list(&self) -> Vec<serde_json::Value> {
        let (status, body) = self.get("/api/recordings", None);
        assert_eq!(status, 200);
        serde_json::from_slice(&body).unwrap()
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        if let Some(engine) = self.engine.take() {
            engine.shutdown();
        }
    }
}

fn fresh_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("waveguide-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A finished recording: the file, last written `age` ago, and its sidecar.
fn finished(dir: &Path, channel: &str, stem: &str, bytes: usize, age: Duration) -> PathBuf {
    std::fs::create_dir_all(dir.join(channel)).unwrap();
    let path = dir.join(channel).join(format!("{stem}.mp4"));
    let content: Vec<u8> = (0..bytes).map(|i| (i % 251) as u8).collect();
    std::fs::write(&path, content).unwrap();
    let sidecar = serde_json::json!({
        "channel": channel, "stream_id": 1, "start": "ignored", "duration_s": 12.5,
        "bytes": bytes, "error": null,
    });
    std::fs::write(
        dir.join(channel).join(format!("{stem}.json")),
        sidecar.to_string(),
    )
    .unwrap();
    std::fs::File::options()
        .write(true)
        .open(&path)
        .unwrap()
        .set_modified(SystemTime::now() - age)
        .unwrap();
    path
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn recording_off_lists_nothing_and_serves_nothing() {
    let harness = Harness::start(RecordingSettings::default());
    assert!(harness.list().is_empty());
    let (status, _) = harness.get("/api/recordings/123~20261203T163000Z", None);
    assert_eq!(status, 404);
    assert_eq!(harness.recordings.metrics(), Default::default());
}

#[test]
fn start_up_retention_then_list_and_download() {
    let dir = fresh_dir("recording-api");
    let too_old = finished(&dir, "a", "20260101T000000Z", 100, HOUR * 50);
    let oldest_kept_by_age = finished(&dir, "a", "20260102T000000Z", 300, HOUR * 10);
    let newer = finished(&dir, "b", "20260103T000000Z", 300, HOUR * 5);
    let newest = finished(&dir, "a", "20260104T000000Z", 1000, HOUR);
    // A killed server's file: no sidecar.
    std::fs::write(dir.join("a/20260105T000000Z.mp4"), b"not fragmented").unwrap();
    // Not ours: never listed, never deleted.
    std::fs::write(dir.join("a/holiday.mp4"), vec![0u8; 5000]).unwrap();
    let harness = Harness::start(RecordingSettings {
        dir: Some(dir.clone()),
        channels: RecordedChannels::All,
        max_age: Some(HOUR * 48),
        // 1714 bytes are ours; 1400 allowed: after the 50 h one goes by
        // age (1614 left), the 10 h one goes by size (1314 left).
        max_total_bytes: Some(1400),
    });
    wait_until("retention at start-up", || {
        harness.recordings.metrics().deleted == 2
    });
    assert!(!too_old.exists() && !oldest_kept_by_age.exists());
    assert!(newer.exists() && newest.exists());
    assert!(dir.join("a/holiday.mp4").exists());
    assert!(
        dir.join("a/20260105T000000Z.json").exists(),
        "no recovered sidecar"
    );

    let list = harness.list();
    let ids: Vec<&str> = list.iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(
        ids,
        [
            "a~20260105T000000Z",
            "a~20260104T000000Z",
            "b~20260103T000000Z"
        ]
    );
    assert_eq!(list[0]["duration_s"], serde_json::Value::Null);
    assert_eq!(list[1]["duration_s"], 12.5);
    assert_eq!(list[1]["bytes"], 1000);
    assert_eq!(list[1]["start"], "2026-01-04T00:00:00Z");
    assert_eq!(list[2]["channel"], "b");
    assert_eq!(list[2]["recording"], false);

    let (status, body) = harness.get("/api/recordings/a~20260104T000000Z", None);
    assert_eq!(status, 200);
    assert_eq!(body, std::fs::read(&newest).unwrap());
    let (status, body) = harness.get("/api/recordings/a~20260104T000000Z", Some("bytes=990-"));
    assert_eq!(status, 206);
    assert_eq!(body, std::fs::read(&newest).unwrap()[990..]);
    for bad in [
        "/api/recordings/a~20260101T000000Z",
        "/api/recordings/..~20260104T000000Z",
        "/api/recordings/a~holiday",
        "/api/recordings/..%2F..%2Fetc%2Fpasswd",
    ] {
        assert_eq!(harness.get(bad, None).0, 404, "{bad}");
    }
    let metrics = harness.recordings.metrics();
    assert_eq!((metrics.active, metrics.failed, metrics.deleted), (0, 0, 2));
}
