//! Shared test harness: start a node on free ports, speak HTTP, publish and
//! watch with the load tool's clients (FTL, WHIP, str0m viewers), keep a
//! witness stream, drive Chromium and a cluster. Every wait has a deadline.
#![allow(
    dead_code,
    reason = "each test binary uses a different part of the harness"
)]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a failed unwrap in a test is a failed test"
)]

pub mod chromium;
pub mod clients;
pub mod clip_pacer;
pub mod cluster;
pub mod ffmpeg;
pub mod http;
pub mod looping;
pub mod media;
pub mod witness;

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use waveguide::{Node, NodeConfig};

/// A self-signed certificate for `name` (a host name or an IP), written as
/// PEM files into a fresh directory under the system's temp dir (`tag`
/// names it; remove it when done).
pub fn self_signed(
    name: &str,
    tag: &str,
) -> (
    rcgen::CertifiedKey<rcgen::KeyPair>,
    waveguide::TlsFiles,
    std::path::PathBuf,
) {
    let certified = rcgen::generate_simple_self_signed(vec![name.to_owned()]).unwrap();
    let dir = std::env::temp_dir().join(format!("waveguide-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert, certified.cert.pem()).unwrap();
    std::fs::write(&key, certified.signing_key.serialize_pem()).unwrap();
    (certified, waveguide::TlsFiles { cert, key }, dir)
}

/// A node on 127.0.0.1 with every port picked by the kernel.
pub fn start_node(workers: usize) -> Node {
    start_node_with(workers, |_| {})
}

/// As [`start_node`], with the configuration adjusted by `adjust` first.
pub fn start_node_with(workers: usize, adjust: impl FnOnce(&mut NodeConfig)) -> Node {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_test_writer()
        .try_init();
    let localhost = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let mut config = NodeConfig {
        http: (localhost, 0).into(),
        ftl: (localhost, 0).into(),
        ..NodeConfig::default()
    };
    config.engine.workers = workers;
    config.engine.webrtc_bind = localhost;
    config.engine.webrtc_port_base = 0;
    config.engine.public_ip = localhost;
    config.engine.ftl_media_bind = localhost;
    config.engine.ftl_media_ports = 0..=0;
    config.engine.ftl_media_timeout = Duration::from_secs(3);
    config.rtmp.address = Some((localhost, 0).into());
    adjust(&mut config);
    Node::start(config).expect("node starts")
}

/// Waits until `node` has read `channel`'s SPS (viewers may join from then
/// on), calling `between_looks` between looks: a sleep, or a WHIP
/// publisher's run (it must keep running meanwhile).
pub fn wait_until_watchable(node: &Node, channel: &str, mut between_looks: impl FnMut()) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while node
        .engine()
        .stream(channel)
        .and_then(|s| s.sps().copied())
        .is_none()
    {
        assert!(
            Instant::now() < deadline,
            "the node never saw {channel}'s SPS"
        );
        between_looks();
    }
}
