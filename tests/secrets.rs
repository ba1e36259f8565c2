//! No secret reaches the logs: with every Waveguide crate logging at TRACE,
//! FTL handshakes (right and wrong key, HMAC digests) and WHIP publishes
//! (right and wrong Bearer key) and RTMP publishes (the key as the stream
//! name or in the app; a bare secret, a wrong key) leave neither the stream
//! secret, nor the Bearer token, nor an HMAC digest in the output.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a failed unwrap in a test is a failed test"
)]

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::clients::{self, FtlSteps};
use common::http::request;
use common::witness::dummy_secret;
use waveguide_load::rtmp_publisher::RtmpPublisher;

/// Log output kept in memory.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn secrets_never_reach_the_logs() {
    let captured = Captured::default();
    let writer = captured.clone();
    tracing_subscriber::fmt()
        .with_env_filter("waveguide=trace,engine=trace,ftl=trace,str0m=info")
        .with_writer(move || writer.clone())
        .init();
    let node = common::start_node(1);

    let secret = dummy_secret("5");
    let key = format!("5-{secret}");
    let publisher = clients::ftl_publisher(node.ftl_addr(), &key).unwrap();
    let clip = common::media::h264_clip();
    publisher.send_first_frame(&clip);
    publisher.wait_until_watchable(&node);
    let _ = publisher.disconnect();
    let wrong = format!("6-{}", dummy_secret("5"));
    assert!(clients::ftl_publisher(node.ftl_addr(), &wrong).is_err());

    let whip_secret = dummy_secret("7");
    let (mut whip, offer) = clients::whip_publisher();
    let bearer = format!("Bearer 7-{whip_secret}");
    let sdp = ("Content-Type", "application/sdp");
    let response = request(
        node.http_addr(),
        "POST",
        "/whip/endpoint/7",
        &[sdp, ("Authorization", &bearer)],
        offer.as_bytes(),
    );
    assert_eq!(response.status, 201, "{}", response.body);
    whip.accept_answer(&response.body).unwrap();
    whip.run(Duration::from_secs(5), |p| p.is_connected());
    let refused = request(
        node.http_addr(),
        "POST",
        "/whip/endpoint/8",
        &[
            sdp,
            ("Authorization", "Bearer 8-an-attackers-guess-0123456789"),
        ],
        offer.as_bytes(),
    );
    assert_eq!(refused.status, 401);

    // RTMP: the key as the stream name, the key in the app (a server URL
    // ending in the key, as OBS users paste it), a bare secret and a wrong key.
    let rtmp = node.rtmp_addr().unwrap();
    let rtmp_secret = dummy_secret("9");
    let app_secret = dummy_secret("10");
    let publish = |app: &str, name: &str| {
        let mut client = RtmpPublisher::open(rtmp).unwrap();
        client.handshake().unwrap();
        client
            .connect(app, "rtmp://127.0.0.1/live", "test/1")
            .unwrap();
        client.create_stream().unwrap();
        client.publish(name)
    };
    publish("live", &format!("9-{rtmp_secret}")).unwrap();
    publish(&format!("live/10-{app_secret}"), "").unwrap();
    assert!(
        publish(
            "live",
            "a-bare-guess-without-its-channel".replace('-', "").as_str()
        )
        .is_err()
    );
    assert!(publish("live", "11-another-rtmp-guess").is_err());
    std::thread::sleep(Duration::from_millis(300));
    drop(node);

    let logs = String::from_utf8_lossy(&captured.0.lock().unwrap()).into_owned();
    assert!(
        logs.contains("channel"),
        "the capture saw no Waveguide logs"
    );
    for secret in [
        secret.as_str(),
        &secret[..16],
        whip_secret.as_str(),
        &whip_secret[..16],
        "an-attackers-guess",
        rtmp_secret.as_str(),
        &rtmp_secret[..16],
        app_secret.as_str(),
        &app_secret[..16],
        "abareguesswithoutitschannel",
        "another-rtmp-guess",
    ] {
        assert!(!logs.contains(secret), "a secret is in the logs: {secret}");
    }
    // No HMAC digest either: 128 hex digits in a row.
    let longest_hex_run = logs
        .split(|c: char| !c.is_ascii_hexdigit())
        .map(str::len)
        .max()
        .unwrap_or(0);
    assert!(
        longest_hex_run < 64,
        "a {longest_hex_run}-digit hex string is in the logs"
    );
    println!("{} bytes of TRACE logs, no secret in them", logs.len());
}
