//! WHEP signalling over real HTTP: both offer flows, CORS, and every refusal
//! with its status and reason.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a failed unwrap in a test is a failed test"
)]

mod common;

use std::time::Duration;

use common::clients::{self, FtlPublisher, FtlSteps};
use common::http::{request, whep_offer};
use common::media::h264_clip;

fn live_node() -> (waveguide::Node, FtlPublisher) {
    let node = common::start_node(2);
    let key = node.service().example_stream_key("123").unwrap();
    let publisher = clients::ftl_publisher(node.ftl_addr(), &key).expect("FTL handshake");
    publisher.send_first_frame(&h264_clip());
    publisher.wait_until_watchable(&node);
    (node, publisher)
}

#[test]
fn server_offer_then_patch_answer_plays() {
    let (node, publisher) = live_node();
    let response = request(node.http_addr(), "POST", "/whep/endpoint/123", &[], b"");
    assert_eq!(response.status, 201, "{}", response.body);
    assert!(response.body.contains("m=video") && response.body.contains("a=sendonly"));
    let resource = response.header("location").unwrap().to_owned();

    // The viewer answers the server's offer with str0m.
    let mut viewer = clients::answering_viewer(&response.body);
    let answer = viewer.answer.take().unwrap();
    let patched = request(
        node.http_addr(),
        "PATCH",
        &resource,
        &[("Content-Type", "application/sdp")],
        answer.as_bytes(),
    );
    assert_eq!(patched.status, 204, "{}", patched.body);
    viewer.run(Duration::from_secs(10), |v| v.connected_at.is_some());
    assert!(viewer.connected_at.is_some(), "viewer connected");

    for (sequence, packet) in h264_clip().iter().take(40).enumerate() {
        publisher.send_clip_packet(sequence, packet);
    }
    viewer.run(Duration::from_secs(10), |v| v.video().len() >= 40);
    assert_eq!(viewer.video().len(), 40);

    let again = request(
        node.http_addr(),
        "PATCH",
        &resource,
        &[("Content-Type", "application/sdp")],
        answer.as_bytes(),
    );
    assert_eq!(
        again.status, 409,
        "a second answer is refused: {}",
        again.body
    );
    assert_eq!(
        request(node.http_addr(), "DELETE", &resource, &[], b"").status,
        200
    );
    assert_eq!(
        request(node.http_addr(), "DELETE", &resource, &[], b"").status,
        404
    );
    publisher.disconnect();
    node.stop();
}

#[test]
fn cors_preflight_and_exposed_location() {
    let (node, publisher) = live_node();
    let preflight = request(
        node.http_addr(),
        "OPTIONS",
        "/whep/endpoint/123",
        &[
            ("Origin", "https://player.example"),
            ("Access-Control-Request-Method", "POST"),
            ("Access-Control-Request-Headers", "content-type"),
        ],
        b"",
    );
    assert_eq!(preflight.status, 200);
    assert_eq!(preflight.header("access-control-allow-origin"), Some("*"));
    assert!(
        preflight
            .header("access-control-allow-methods")
            .unwrap()
            .contains("POST")
    );
    let (_viewer, offer) = clients::viewer();
    let response = request(
        node.http_addr(),
        "POST",
        "/whep/endpoint/123",
        &[
            ("Content-Type", "application/sdp"),
            ("Origin", "https://player.example"),
        ],
        offer.as_bytes(),
    );
    assert_eq!(response.status, 201);
    assert_eq!(response.header("access-control-allow-origin"), Some("*"));
    assert!(
        response
            .header("access-control-expose-headers")
            .unwrap()
            .to_ascii_lowercase()
            .contains("location")
    );
    publisher.disconnect();
    node.stop();
}

#[test]
fn refusals_have_a_status_and_a_reason() {
    let (node, publisher) = live_node();
    let http = node.http_addr();
    let (_viewer, offer) = clients::viewer();

    let unknown = whep_offer(http, "999", &offer);
    assert_eq!(unknown.status, 404);
    assert_eq!(unknown.body, "no live stream on this channel\n");

    let garbage = whep_offer(http, "123", "this is not SDP");
    assert_eq!(garbage.status, 400);
    assert!(
        garbage.body.starts_with("invalid SDP offer"),
        "{}",
        garbage.body
    );

    let (_vp8_viewer, vp8_offer) = clients::vp8_viewer();
    let no_h264 = whep_offer(http, "123", &vp8_offer);
    assert_eq!(no_h264.status, 406);
    assert!(no_h264.body.contains("H.264"), "{}", no_h264.body);

    let wrong_type = request(
        http,
        "POST",
        "/whep/endpoint/123",
        &[("Content-Type", "text/plain")],
        offer.as_bytes(),
    );
    assert_eq!(wrong_type.status, 415);

    let huge = vec![b'a'; 65 * 1024];
    let too_big = request(
        http,
        "POST",
        "/whep/endpoint/123",
        &[("Content-Type", "application/sdp")],
        &huge,
    );
    assert_eq!(too_big.status, 413);

    let missing = request(
        http,
        "DELETE",
        "/whep/resource/00000000000000000000000000000000",
        &[],
        b"",
    );
    assert_eq!(missing.status, 404);
    let missing_patch = request(
        http,
        "PATCH",
        "/whep/resource/00000000000000000000000000000000",
        &[("Content-Type", "application/sdp")],
        b"v=0",
    );
    assert_eq!(missing_patch.status, 404);

    let created = whep_offer(http, "123", &offer);
    assert_eq!(created.status, 201);
    let resource = created.header("location").unwrap();
    let trickle = request(
        http,
        "PATCH",
        resource,
        &[("Content-Type", "application/trickle-ice-sdpfrag")],
        b"a=ice-ufrag:x",
    );
    assert_eq!(
        trickle.status, 422,
        "PATCH is allowed; a trickle fragment is not"
    );
    let not_sdp = request(
        http,
        "PATCH",
        resource,
        &[("Content-Type", "application/sdp")],
        b"v=0\r\n",
    );
    assert_eq!(not_sdp.status, 400);
    // Valid SDP, but this session sent its own offer and waits for no answer.
    let unexpected = request(
        http,
        "PATCH",
        resource,
        &[("Content-Type", "application/sdp")],
        offer.as_bytes(),
    );
    assert_eq!(unexpected.status, 409, "{}", unexpected.body);

    publisher.disconnect();
    node.stop();
}

#[test]
fn a_stream_without_a_keyframe_yet_asks_viewers_to_retry() {
    let node = common::start_node(1);
    let key = node.service().example_stream_key("123").unwrap();
    let publisher = clients::ftl_publisher(node.ftl_addr(), &key).expect("FTL handshake");
    let (_viewer, offer) = clients::viewer();
    let early = whep_offer(node.http_addr(), "123", &offer);
    assert_eq!(early.status, 503);
    assert_eq!(early.header("retry-after"), Some("1"));
    publisher.send_first_frame(&h264_clip());
    publisher.wait_until_watchable(&node);
    assert_eq!(whep_offer(node.http_addr(), "123", &offer).status, 201);
    publisher.disconnect();
    node.stop();
}

#[test]
fn player_page_and_health() {
    let node = common::start_node(1);
    let page = request(node.http_addr(), "GET", "/stream/123", &[], b"");
    assert_eq!(page.status, 200);
    assert!(
        page.header("content-type")
            .unwrap()
            .starts_with("text/html")
    );
    assert!(page.body.contains(r#"const channel = "123";"#));
    assert!(page.body.contains("/whep/endpoint/"));
    let hostile = request(node.http_addr(), "GET", "/stream/%22%3Cscript%3E", &[], b"");
    assert_eq!(hostile.status, 200);
    assert!(
        !hostile.body.contains("<script>\""),
        "the channel is sanitised"
    );
    let health = request(node.http_addr(), "GET", "/healthz", &[], b"");
    assert_eq!((health.status, health.body.as_str()), (200, "ok\n"));
    node.stop();
}

#[test]
fn a_viewer_whose_offer_has_no_candidates_still_connects() {
    let (node, publisher) = live_node();
    let (mut viewer, offer) = clients::viewer();
    let bare: String = offer
        .split("\r\n")
        .filter(|line| !line.starts_with("a=candidate") && !line.starts_with("a=end-of-candidates"))
        .map(|line| format!("{line}\r\n"))
        .collect::<String>()
        .trim_end_matches("\r\n\r\n")
        .to_owned();
    assert!(!bare.contains("a=candidate"));
    let response = whep_offer(node.http_addr(), "123", &bare);
    assert_eq!(response.status, 201, "{}", response.body);
    viewer.accept_answer(&response.body).unwrap();
    // The server learns the viewer's address from its connectivity checks.
    viewer.run(Duration::from_secs(10), |v| v.connected_at.is_some());
    assert!(viewer.connected_at.is_some());
    let clip = h264_clip();
    let first = clip.iter().take_while(|p| p.timestamp == 0).count();
    for (sequence, packet) in clip.iter().enumerate().skip(first).take(10) {
        publisher.send_clip_packet(sequence, packet);
    }
    viewer.run(Duration::from_secs(10), |v| v.video().len() >= first + 10);
    assert_eq!(viewer.video().len(), first + 10);
    publisher.disconnect();
    node.stop();
}
