//! Configured limits, at N−1, N and N+1: each refusal is a clear status.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a failed unwrap in a test is a failed test"
)]

mod common;

use common::clients::{self, FtlSteps};
use common::http::{request, whep_offer};
use common::media::h264_clip;
use ftl::{ClientError, StatusCode};

#[test]
fn viewers_per_stream_and_in_total() {
    let node = common::start_node_with(2, |config| {
        config.engine.max_viewers_per_stream = 2;
        config.engine.max_viewers_total = 3;
    });
    let mut publishers = Vec::new();
    for channel in ["123", "124"] {
        let key = node.service().example_stream_key(channel).unwrap();
        let publisher = clients::ftl_publisher(node.ftl_addr(), &key).unwrap();
        publisher.send_first_frame(&h264_clip());
        publisher.wait_until_watchable(&node);
        publishers.push(publisher);
    }
    let join = |channel: &str| whep_offer(node.http_addr(), channel, &clients::viewer().1);
    let first = join("123");
    assert_eq!(first.status, 201, "1 of 2 on the stream");
    assert_eq!(join("123").status, 201, "2 of 2 on the stream");
    let over = join("123");
    assert_eq!(over.status, 503, "3 of 2 on the stream");
    assert_eq!(over.body, "viewer limit reached\n");
    assert_eq!(join("124").status, 201, "3 of 3 in total");
    assert_eq!(join("124").status, 503, "4 of 3 in total");
    // One leaves: room again.
    let resource = first.header("location").unwrap();
    assert_eq!(
        request(node.http_addr(), "DELETE", resource, &[], b"").status,
        200
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let mut again = join("123").status;
    while again != 201 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
        again = join("123").status;
    }
    assert_eq!(again, 201);
    for publisher in publishers {
        publisher.disconnect();
    }
    node.stop();
}

#[test]
fn live_streams() {
    let node = common::start_node_with(1, |config| config.engine.max_streams = 1);
    let key = node.service().example_stream_key("123").unwrap();
    let first = clients::ftl_publisher(node.ftl_addr(), &key).expect("1 of 1");
    // A takeover of the same channel still fits.
    let takeover = clients::ftl_publisher(node.ftl_addr(), &key).expect("replacing 1 of 1");
    let other = node.service().example_stream_key("124").unwrap();
    let refused = clients::ftl_publisher(node.ftl_addr(), &other).err();
    assert_eq!(
        refused,
        Some(ClientError::Refused(StatusCode::InternalServerError)),
        "2 of 1 over FTL"
    );
    let (_whip, offer) = clients::whip_publisher();
    let bearer = format!("Bearer {other}");
    let whip = request(
        node.http_addr(),
        "POST",
        "/whip/endpoint/124",
        &[
            ("Content-Type", "application/sdp"),
            ("Authorization", &bearer),
        ],
        offer.as_bytes(),
    );
    assert_eq!(whip.status, 503, "2 of 1 over WHIP");
    assert_eq!(whip.body, "stream limit reached\n");
    first.disconnect();
    takeover.disconnect();
    node.stop();
}

#[test]
fn a_static_service_admits_only_its_keys() {
    let node = common::start_node_with(1, |config| {
        config.service = waveguide::control::service::Service::Static {
            keys: [("42".to_string(), "s3cret".to_string())].into(),
        };
    });
    let refused = clients::ftl_publisher(node.ftl_addr(), "42-wrong").err();
    assert_eq!(
        refused,
        Some(ClientError::Refused(StatusCode::InvalidStreamKey))
    );
    let unlisted = clients::ftl_publisher(node.ftl_addr(), "43-s3cret").err();
    assert_eq!(
        unlisted,
        Some(ClientError::Refused(StatusCode::InvalidStreamKey))
    );
    let publisher = clients::ftl_publisher(node.ftl_addr(), "42-s3cret").expect("the listed key");
    publisher.disconnect();
    let (_whip, offer) = clients::whip_publisher();
    let post = |key: &str| {
        let bearer = format!("Bearer {key}");
        request(
            node.http_addr(),
            "POST",
            "/whip/endpoint/42",
            &[
                ("Content-Type", "application/sdp"),
                ("Authorization", &bearer),
            ],
            offer.as_bytes(),
        )
        .status
    };
    assert_eq!(post("42-wrong"), 401);
    assert_eq!(post("s3cret"), 201);
    node.stop();
}
