//! WHIP in, WHEP out, end to end over loopback with str0m on both sides:
//! authentication, the answer, byte-exact forwarding, keyframe requests
//! upstream, and every way a WHIP stream ends or is refused.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a failed unwrap in a test is a failed test"
)]

mod common;

use std::time::{Duration, Instant};

use common::clients::{self, RecordingViewer, WhipPublisher};
use common::http::{request, whep_offer};
use common::media::{MediaPacket, h264_clip};

fn bearer(node: &waveguide::Node, channel: &str) -> String {
    format!(
        "Bearer {}",
        node.service().example_stream_key(channel).unwrap()
    )
}

fn post_offer(
    node: &waveguide::Node,
    authorization: Option<&str>,
    offer: &str,
) -> common::http::Response {
    let mut headers = vec![("Content-Type", "application/sdp")];
    if let Some(authorization) = authorization {
        headers.push(("Authorization", authorization));
    }
    request(
        node.http_addr(),
        "POST",
        "/whip/endpoint/123",
        &headers,
        offer.as_bytes(),
    )
}

/// A connected WHIP publisher on channel 123 and its resource.
fn publish(node: &waveguide::Node) -> (WhipPublisher, String) {
    let (mut publisher, offer) = clients::whip_publisher();
    let response = post_offer(node, Some(&bearer(node, "123")), &offer);
    assert_eq!(response.status, 201, "{}", response.body);
    assert_eq!(response.header("content-type"), Some("application/sdp"));
    let resource = response.header("location").unwrap().to_owned();
    assert!(
        resource.starts_with("/whip/resource/") && resource.len() == "/whip/resource/".len() + 32
    );
    publisher.accept_answer(&response.body).unwrap();
    publisher.run(Duration::from_secs(10), |p| p.is_connected());
    assert!(publisher.is_connected(), "publisher connected");
    (publisher, resource)
}

fn send(publisher: &mut WhipPublisher, packets: &[MediaPacket]) {
    for packet in packets {
        publisher
            .send_video(packet.timestamp, packet.marker, &packet.payload)
            .unwrap();
        publisher.run(Duration::from_millis(1), |_| false);
    }
}

fn wait_watchable(node: &waveguide::Node, publisher: &mut WhipPublisher) {
    common::wait_until_watchable(node, "123", || {
        publisher.run(Duration::from_millis(5), |_| false);
    });
}

/// A new viewer of channel 123 while `publisher` keeps running: the video
/// packets it gets within 10 s, waiting for at most `wanted`.
fn new_viewer_packets(
    node: &waveguide::Node,
    publisher: &mut WhipPublisher,
    wanted: usize,
) -> usize {
    let (mut viewer, offer) = clients::viewer();
    let response = whep_offer(node.http_addr(), "123", &offer);
    assert_eq!(response.status, 201, "{}", response.body);
    viewer.accept_answer(&response.body).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while viewer.video().len() < wanted && Instant::now() < deadline {
        viewer.run(Duration::from_millis(5), |_| false);
        publisher.run(Duration::from_millis(1), |_| false);
    }
    viewer.video().len()
}

/// Whether the server ends `viewer`'s WHEP session within 5 s: its
/// resource answers a PATCH with 404.
fn viewer_session_ends(
    node: &waveguide::Node,
    viewer: &mut RecordingViewer,
    resource: &str,
    offer: &str,
) -> bool {
    let probe = || {
        let headers = [("Content-Type", "application/sdp")];
        request(
            node.http_addr(),
            "PATCH",
            resource,
            &headers,
            offer.as_bytes(),
        )
        .status
    };
    let deadline = Instant::now() + Duration::from_secs(5);
    while probe() != 404 && Instant::now() < deadline {
        viewer.run(Duration::from_millis(50), |_| false);
    }
    probe() == 404
}

#[test]
fn whip_stream_reaches_whep_viewers_byte_for_byte_and_keyframe_requests_go_upstream() {
    let node = common::start_node(2);
    let (mut publisher, _resource) = publish(&node);
    let clip = h264_clip();
    let first = clip.iter().take_while(|p| p.timestamp == 0).count();
    send(&mut publisher, &clip[..first]);
    wait_watchable(&node, &mut publisher);

    let (mut viewer, offer) = clients::viewer();
    let response = whep_offer(node.http_addr(), "123", &offer);
    assert_eq!(response.status, 201, "{}", response.body);
    viewer.accept_answer(&response.body).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while viewer.connected_at.is_none() && Instant::now() < deadline {
        viewer.run(Duration::from_millis(5), |_| false);
        publisher.run(Duration::from_millis(1), |_| false);
    }
    assert!(viewer.connected_at.is_some());

    let count = 80.min(clip.len());
    for packet in &clip[first..count] {
        publisher
            .send_video(packet.timestamp, packet.marker, &packet.payload)
            .unwrap();
        publisher.run(Duration::from_millis(1), |_| false);
        viewer.run(Duration::from_millis(1), |_| false);
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while viewer.video().len() < count && Instant::now() < deadline {
        viewer.run(Duration::from_millis(5), |_| false);
        publisher.run(Duration::from_millis(1), |_| false);
    }
    let mut got: Vec<(u64, Vec<u8>)> = viewer
        .video()
        .iter()
        .map(|r| (r.sequence, r.payload.clone()))
        .collect();
    got.sort_by_key(|(sequence, _)| *sequence);
    let got: Vec<Vec<u8>> = got.into_iter().map(|(_, p)| p).collect();
    let sent: Vec<Vec<u8>> = clip[..count].iter().map(|p| p.payload.clone()).collect();
    assert_eq!(got.len(), sent.len(), "every packet, from the keyframe on");
    assert!(got == sent, "payloads byte for byte");

    // A viewer's PLI becomes one PLI to the publisher.
    let before = publisher.keyframe_requests();
    viewer.request_keyframe();
    let deadline = Instant::now() + Duration::from_secs(5);
    while publisher.keyframe_requests() == before && Instant::now() < deadline {
        viewer.run(Duration::from_millis(5), |_| false);
        publisher.run(Duration::from_millis(5), |_| false);
    }
    assert!(
        publisher.keyframe_requests() > before,
        "the keyframe request reached the publisher"
    );
    // ...and a burst of them is held back to one per 500 ms: none during
    // the burst, then exactly one once the interval has passed.
    let before = publisher.keyframe_requests();
    for _ in 0..10 {
        viewer.request_keyframe();
        viewer.run(Duration::from_millis(10), |_| false);
        publisher.run(Duration::from_millis(10), |_| false);
    }
    assert_eq!(
        publisher.keyframe_requests(),
        before,
        "none within 500 ms of the last"
    );
    let deadline = Instant::now() + Duration::from_millis(1500);
    while Instant::now() < deadline {
        viewer.run(Duration::from_millis(10), |_| false);
        publisher.run(Duration::from_millis(10), |_| false);
    }
    assert_eq!(
        publisher.keyframe_requests(),
        before + 1,
        "the held-back request went out once"
    );
    node.stop();
}

#[test]
fn delete_ends_the_stream_and_its_viewers() {
    let node = common::start_node(1);
    let (mut publisher, resource) = publish(&node);
    let clip = h264_clip();
    let first = clip.iter().take_while(|p| p.timestamp == 0).count();
    send(&mut publisher, &clip[..first]);
    wait_watchable(&node, &mut publisher);
    let (mut viewer, offer) = clients::viewer();
    let response = whep_offer(node.http_addr(), "123", &offer);
    let viewer_resource = response.header("location").unwrap().to_owned();
    viewer.accept_answer(&response.body).unwrap();
    viewer.run(Duration::from_secs(10), |v| v.connected_at.is_some());

    assert_eq!(
        request(node.http_addr(), "DELETE", &resource, &[], b"").status,
        200
    );
    assert!(
        node.engine().stream("123").is_none(),
        "the stream ended at once"
    );
    assert!(
        viewer_session_ends(&node, &mut viewer, &viewer_resource, &offer),
        "the viewer's session ended with the stream"
    );
    assert_eq!(
        request(node.http_addr(), "DELETE", &resource, &[], b"").status,
        404
    );

    // The channel is free: a new publisher gets a fresh stream, and new
    // viewers join it.
    let (mut again, _) = publish(&node);
    send(&mut again, &clip[..first]);
    wait_watchable(&node, &mut again);
    assert_eq!(
        new_viewer_packets(&node, &mut again, first),
        first,
        "the new stream's keyframe reached the new viewer"
    );
    node.stop();
}

#[test]
fn a_publisher_whose_media_stops_is_ended() {
    let node = common::start_node_with(1, |config| {
        config.engine.ftl_media_timeout = Duration::from_millis(500);
    });
    let (mut publisher, _) = publish(&node);
    let clip = h264_clip();
    send(&mut publisher, &clip[..3]);
    wait_watchable(&node, &mut publisher);
    // ICE stays up (the publisher keeps running), but no media comes.
    let deadline = Instant::now() + Duration::from_secs(5);
    while node.engine().stream("123").is_some() && Instant::now() < deadline {
        publisher.run(Duration::from_millis(20), |_| false);
    }
    assert!(node.engine().stream("123").is_none());
    let deadline = Instant::now() + Duration::from_secs(5);
    while !node.engine().streams().is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(
        node.engine().streams().is_empty(),
        "and removed from the registry"
    );
    node.stop();
}

#[test]
fn refusals() {
    let node = common::start_node(1);
    let (_publisher, offer) = clients::whip_publisher();

    let preflight = request(
        node.http_addr(),
        "OPTIONS",
        "/whip/endpoint/123",
        &[
            ("Origin", "https://studio.example"),
            ("Access-Control-Request-Method", "POST"),
            (
                "Access-Control-Request-Headers",
                "authorization, content-type",
            ),
        ],
        b"",
    );
    assert_eq!(preflight.status, 200);
    assert_eq!(preflight.header("access-control-allow-origin"), Some("*"));
    assert!(
        preflight
            .header("access-control-allow-headers")
            .unwrap()
            .contains("authorization")
    );

    // A cross-origin POST sees Location.
    let (_cors, cors_offer) = clients::whip_publisher();
    let auth = bearer(&node, "124");
    let cross_origin = request(
        node.http_addr(),
        "POST",
        "/whip/endpoint/124",
        &[
            ("Content-Type", "application/sdp"),
            ("Authorization", &auth),
            ("Origin", "https://studio.example"),
        ],
        cors_offer.as_bytes(),
    );
    assert_eq!(cross_origin.status, 201, "{}", cross_origin.body);
    assert!(
        cross_origin
            .header("access-control-expose-headers")
            .unwrap()
            .to_ascii_lowercase()
            .contains("location")
    );

    let anonymous = post_offer(&node, None, &offer);
    assert_eq!(anonymous.status, 401);
    assert_eq!(anonymous.header("www-authenticate"), Some("Bearer"));
    let wrong = post_offer(&node, Some("Bearer 123-not-the-secret"), &offer);
    assert_eq!(wrong.status, 401);
    assert_eq!(wrong.body, "invalid stream key\n");
    let other_channel = post_offer(&node, Some(&bearer(&node, "124")), &offer);
    assert_eq!(
        other_channel.status, 401,
        "channel 124's key does not open channel 123"
    );

    let (_vp8, vp8_offer) = clients::vp8_whip_publisher();
    let no_h264 = post_offer(&node, Some(&bearer(&node, "123")), &vp8_offer);
    assert_eq!(no_h264.status, 406, "{}", no_h264.body);
    let garbage = post_offer(&node, Some(&bearer(&node, "123")), "not sdp");
    assert_eq!(garbage.status, 400);
    assert!(
        node.engine().stream("123").is_none(),
        "a refused offer leaves no stream behind"
    );

    // The bare secret works as a key too.
    let secret = node.service().stream_secret("123").unwrap();
    let (mut publisher, offer) = clients::whip_publisher();
    let accepted = post_offer(&node, Some(&format!("Bearer {secret}")), &offer);
    assert_eq!(accepted.status, 201, "{}", accepted.body);
    publisher.accept_answer(&accepted.body).unwrap();
    publisher.run(Duration::from_secs(10), |p| p.is_connected());
    let resource = accepted.header("location").unwrap().to_owned();

    let (_second, second_offer) = clients::whip_publisher();
    let busy = post_offer(&node, Some(&bearer(&node, "123")), &second_offer);
    assert_eq!(busy.status, 409, "{}", busy.body);

    let patch = request(
        node.http_addr(),
        "PATCH",
        &resource,
        &[("Content-Type", "application/trickle-ice-sdpfrag")],
        b"a=x",
    );
    assert_eq!(patch.status, 405);
    assert_eq!(patch.header("allow"), Some("DELETE, OPTIONS"));
    let lowercase_scheme = post_offer(
        &node,
        Some(&bearer(&node, "125").replace("Bearer", "bEaReR")),
        &clients::whip_publisher().1,
    )
    .status;
    assert_eq!(
        lowercase_scheme, 401,
        "scheme is case-insensitive but the key is channel 125's, not 123's"
    );
    let unknown = request(
        node.http_addr(),
        "DELETE",
        "/whip/resource/00000000000000000000000000000000",
        &[],
        b"",
    );
    assert_eq!(unknown.status, 404);
    // A WHEP resource id is no WHIP resource id.
    let whep_path = resource.replace("/whip/", "/whep/");
    assert_eq!(
        request(node.http_addr(), "DELETE", &whep_path, &[], b"").status,
        404
    );
    node.stop();
}

#[test]
fn a_viewer_joining_when_the_ring_holds_no_keyframe_asks_the_publisher_for_one() {
    let node = common::start_node_with(1, |config| config.engine.video_ring_packets = 32);
    let (mut publisher, _) = publish(&node);
    let clip = h264_clip();
    let first = clip.iter().take_while(|p| p.timestamp == 0).count();
    send(&mut publisher, &clip[..first]);
    wait_watchable(&node, &mut publisher);
    // Enough P-frame packets to overwrite the keyframe in a 32-slot ring.
    let p_frames: Vec<MediaPacket> = clip
        .iter()
        .filter(|p| p.timestamp > 0 && p.timestamp < 30 * 3000)
        .cloned()
        .collect();
    assert!(p_frames.len() > 40);
    send(&mut publisher, &p_frames);
    let before = publisher.keyframe_requests();

    let (mut viewer, offer) = clients::viewer();
    let response = whep_offer(node.http_addr(), "123", &offer);
    assert_eq!(response.status, 201, "{}", response.body);
    viewer.accept_answer(&response.body).unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while publisher.keyframe_requests() == before && Instant::now() < deadline {
        viewer.run(Duration::from_millis(5), |_| false);
        publisher.run(Duration::from_millis(5), |_| false);
    }
    assert!(
        publisher.keyframe_requests() > before,
        "joining with no keyframe held asked for one"
    );
    node.stop();
}

#[test]
fn with_takeover_a_new_publisher_replaces_the_live_one() {
    let node = common::start_node_with(1, |config| config.whip_takeover = true);
    let (mut first_publisher, first_resource) = publish(&node);
    let clip = h264_clip();
    let first = clip.iter().take_while(|p| p.timestamp == 0).count();
    send(&mut first_publisher, &clip[..first]);
    wait_watchable(&node, &mut first_publisher);
    let old_stream = node.engine().stream("123").unwrap();
    let (mut viewer, offer) = clients::viewer();
    let response = whep_offer(node.http_addr(), "123", &offer);
    let viewer_resource = response.header("location").unwrap().to_owned();
    viewer.accept_answer(&response.body).unwrap();
    viewer.run(Duration::from_secs(10), |v| v.connected_at.is_some());

    // A second publisher with the same key takes the channel over.
    let (mut second_publisher, second_resource) = publish(&node);
    assert_ne!(first_resource, second_resource);
    assert!(old_stream.is_ended(), "the replaced stream ended");
    send(&mut second_publisher, &clip[..first]);
    wait_watchable(&node, &mut second_publisher);
    let new_stream = node.engine().stream("123").unwrap();
    assert_ne!(new_stream.id(), old_stream.id());
    // The replaced publisher's resource is gone; its viewer's session ends.
    assert_eq!(
        request(node.http_addr(), "DELETE", &first_resource, &[], b"").status,
        404
    );
    assert!(
        viewer_session_ends(&node, &mut viewer, &viewer_resource, &offer),
        "the old stream's viewer was closed"
    );
    // New viewers watch the new publisher.
    assert_eq!(
        new_viewer_packets(&node, &mut second_publisher, first),
        first,
        "the new publisher's keyframe arrived"
    );
    node.stop();
}
