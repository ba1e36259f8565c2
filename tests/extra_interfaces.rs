//! Extra WebRTC interfaces (`webrtc.extra_interfaces`): a node serving on
//! 127.0.0.1 and 127.0.0.2 offers both; a viewer that can only use the
//! second gets everything from it, replies included (behind 1:1 NAT a reply
//! from the other address would be dropped by the viewer's side).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a failed unwrap in a test is a failed test"
)]

mod common;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::clients::{self, FtlSteps};
use common::clip_pacer::ClipPacer;
use common::http;
use common::media::{h264_clip, opus_packets};
use engine::WebRtcInterface;

const SECOND: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));

/// The UDP candidates' addresses in an SDP.
fn udp_candidates(sdp: &str) -> Vec<SocketAddr> {
    sdp.lines()
        .filter_map(|line| line.strip_prefix("a=candidate:"))
        .map(|line| line.split_whitespace().collect::<Vec<_>>())
        .filter(|fields| fields.get(2).is_some_and(|p| p.eq_ignore_ascii_case("udp")))
        .map(|fields| format!("{}:{}", fields[4], fields[5]).parse().unwrap())
        .collect()
}

#[test]
fn a_viewer_that_reaches_only_the_extra_interface_is_served_from_it() {
    let node = common::start_node_with(1, |config| {
        config.engine.extra_interfaces = vec![WebRtcInterface {
            bind: SECOND,
            public_ip: SECOND,
        }];
    });
    let key = node.service().example_stream_key("123").unwrap();
    let publisher = clients::ftl_publisher(node.ftl_addr(), &key).expect("FTL handshake");
    let video = h264_clip();
    let audio = opus_packets();
    let first = publisher.send_first_frame(&video);
    publisher.wait_until_watchable(&node);

    let (mut viewer, offer) = clients::viewer();
    let response = http::whep_offer(node.http_addr(), "123", &offer);
    assert_eq!(response.status, 201, "{}", response.body);
    let offered = udp_candidates(&response.body);
    assert_eq!(offered.len(), 2, "{offered:?}");
    // (With a fixed port base both share the port number; tests pick free ports.)
    let (main, second) = (offered[0], offered[1]);
    assert_eq!(main.ip(), IpAddr::V4(Ipv4Addr::LOCALHOST));
    assert_eq!(second.ip(), SECOND);
    // The viewer hears only of the second address.
    let answer: String = response
        .body
        .lines()
        .filter(|line| {
            !(line.starts_with("a=candidate:") && line.contains(&format!(" {} ", main.ip())))
        })
        .map(|line| format!("{line}\r\n"))
        .collect();
    viewer.accept_answer(&answer).unwrap();

    let stop = Arc::new(AtomicBool::new(false));
    let running = {
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            viewer.run(Duration::from_secs(30), |_| stop.load(Ordering::Acquire));
            viewer
        })
    };
    let mut pacer = ClipPacer::new(&video, first);
    while pacer.send_due(&publisher, &video, &audio, |_| false) {
        pacer.answer_nacks(&publisher, &video);
        std::thread::sleep(Duration::from_millis(2));
    }
    std::thread::sleep(Duration::from_millis(500));
    stop.store(true, Ordering::Release);
    let viewer = running.join().unwrap();

    assert!(
        viewer.connected_at.is_some(),
        "ICE and DTLS over the second address"
    );
    assert_eq!(
        viewer.sources().iter().copied().collect::<Vec<_>>(),
        [second],
        "everything came from the address the viewer chose"
    );
    let sent: Vec<Vec<u8>> = video.iter().map(|p| p.payload.clone()).collect();
    assert!(
        viewer.video_payloads_in_order() == sent,
        "video arrived whole"
    );
    drop(publisher);
    node.stop();
}

#[test]
fn with_a_fixed_port_every_interface_shares_the_port_number() {
    let port = common::cluster::free_port();
    let node = common::start_node_with(1, |config| {
        config.engine.webrtc_port_base = port;
        config.engine.ice_tcp = false;
        config.engine.extra_interfaces = vec![WebRtcInterface {
            bind: SECOND,
            public_ip: SECOND,
        }];
    });
    let key = node.service().example_stream_key("123").unwrap();
    let publisher = clients::ftl_publisher(node.ftl_addr(), &key).expect("FTL handshake");
    publisher.send_first_frame(&h264_clip());
    publisher.wait_until_watchable(&node);
    let (_, offer) = clients::viewer();
    let response = http::whep_offer(node.http_addr(), "123", &offer);
    assert_eq!(response.status, 201, "{}", response.body);
    assert_eq!(
        udp_candidates(&response.body),
        [
            SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port),
            SocketAddr::new(SECOND, port)
        ]
    );
    drop(publisher);
    node.stop();
}
