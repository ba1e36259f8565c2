//! The FTL listener and media port against bad and lost clients, over real
//! sockets: each gets the FTL code the client understands, then a close.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a failed unwrap in a test is a failed test"
)]

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::clients::{self, FtlPublisher, FtlSteps, RecordingViewer};
use common::media::h264_clip;
use ftl::{ClientError, StatusCode};

/// Reads until EOF (or 5 s) and returns everything.
fn read_to_close(tcp: &mut TcpStream) -> String {
    tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut all = Vec::new();
    let mut buf = [0u8; 1024];
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        match tcp.read(&mut buf) {
            Ok(0) => return String::from_utf8_lossy(&all).into_owned(),
            Ok(n) => all.extend_from_slice(&buf[..n]),
            Err(_) => break,
        }
    }
    panic!(
        "the server did not close: {:?}",
        String::from_utf8_lossy(&all)
    );
}

/// A live FTL stream on channel 123 that has sent its first frame, and a
/// connected viewer of it; the viewer drops its `drop`-th media datagram.
/// Returns the publisher, the viewer, its WHEP resource and its offer.
fn watched_stream(
    node: &waveguide::Node,
    drop: Option<usize>,
) -> (FtlPublisher, RecordingViewer, String, String) {
    let key = node.service().example_stream_key("123").unwrap();
    let publisher = clients::ftl_publisher(node.ftl_addr(), &key).unwrap();
    publisher.send_first_frame(&h264_clip());
    publisher.wait_until_watchable(node);
    let (mut viewer, offer) = clients::viewer();
    viewer.drop_media_datagram = drop;
    let response = common::http::whep_offer(node.http_addr(), "123", &offer);
    assert_eq!(response.status, 201, "{}", response.body);
    viewer.accept_answer(&response.body).unwrap();
    viewer.run(Duration::from_secs(10), |v| v.connected_at.is_some());
    assert!(viewer.connected_at.is_some());
    let resource = response.header("location").unwrap().to_owned();
    (publisher, viewer, resource, offer)
}

#[test]
fn wrong_key_gets_405_then_close() {
    let node = common::start_node(1);
    let error = clients::ftl_publisher(node.ftl_addr(), "123-wrongsecret").err();
    assert_eq!(
        error,
        Some(ClientError::Refused(StatusCode::InvalidStreamKey))
    );
    node.stop();
}

#[test]
fn wrong_key_on_the_wire() {
    let node = common::start_node(1);
    let mut tcp = TcpStream::connect(node.ftl_addr()).unwrap();
    tcp.write_all(b"HMAC\r\n\r\n").unwrap();
    let mut buf = [0u8; 300];
    let n = tcp.read(&mut buf).unwrap();
    assert!(
        buf[..n].starts_with(b"200 ") && n == 261,
        "challenge line: {n} bytes"
    );
    tcp.write_all(format!("CONNECT 123 ${}\r\n\r\n", "ab".repeat(64)).as_bytes())
        .unwrap();
    assert_eq!(read_to_close(&mut tcp), "405\n");
    node.stop();
}

#[test]
fn idle_control_connection_gets_410_then_close() {
    let node = common::start_node_with(1, |config| {
        config.ftl_control.handshake_timeout = Duration::from_millis(300);
    });
    let mut tcp = TcpStream::connect(node.ftl_addr()).unwrap();
    let started = Instant::now();
    assert_eq!(read_to_close(&mut tcp), "410\n");
    assert!(started.elapsed() >= Duration::from_millis(300));
    node.stop();
}

#[test]
fn http_on_the_ftl_port_gets_400_then_close() {
    let node = common::start_node(1);
    let mut tcp = TcpStream::connect(node.ftl_addr()).unwrap();
    tcp.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    assert_eq!(read_to_close(&mut tcp), "400\n");
    node.stop();
}

#[test]
fn a_reconnecting_encoder_takes_the_channel_over_and_the_old_one_gets_410() {
    let node = common::start_node(1);
    let key = node.service().example_stream_key("123").unwrap();
    let first = clients::ftl_publisher(node.ftl_addr(), &key).unwrap();
    let first_stream = node.engine().stream("123").unwrap().id();
    let second = clients::ftl_publisher(node.ftl_addr(), &key).expect("takeover");
    assert_ne!(node.engine().stream("123").unwrap().id(), first_stream);
    let deadline = Instant::now() + Duration::from_secs(5);
    while !first.control_ended() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(
        first.disconnect(),
        Some(ClientError::Refused(StatusCode::ServerTerminate))
    );
    // The old connection's end must not close the new stream.
    std::thread::sleep(Duration::from_millis(100));
    assert!(node.engine().stream("123").is_some());
    second.disconnect();
    node.stop();
}

#[test]
fn malformed_datagrams_are_counted_and_dropped_and_the_stream_goes_on() {
    let node = common::start_node(2);
    let (publisher, mut viewer, _, _) = watched_stream(&node, None);

    let garbage: [&[u8]; 6] = [
        b"",
        b"\x80",
        b"\x90\x60\x00\x01\x00\x00\x00\x00\x00\x00\x00\x7c\xbe\xde\xff\xff",
        b"\x8f\x60\x00\x01\x00\x00\x00\x00\x00\x00\x00\x7c",
        b"\x80\x62\x00\x01\x00\x00\x00\x00\x00\x00\x00\x7c\x41",
        &[0xff; 1600],
    ];
    for datagram in garbage {
        publisher
            .media()
            .send_to(datagram, publisher.media_addr())
            .unwrap();
    }

    let clip = h264_clip();
    for (sequence, packet) in clip.iter().take(20).enumerate() {
        publisher.send_clip_packet(sequence, packet);
    }
    viewer.run(Duration::from_secs(10), |v| v.video().len() >= 20);
    let stream = node.engine().stream("123").unwrap();
    let stats = stream.stats();
    assert!(stats.dropped >= 5, "drops counted: {stats:?}");
    assert_eq!(stats.packets_in, 20);
    let got: Vec<&[u8]> = viewer
        .video()
        .iter()
        .map(|r| r.payload.as_slice())
        .collect();
    let sent: Vec<&[u8]> = clip.iter().take(20).map(|p| p.payload.as_slice()).collect();
    assert_eq!(got, sent, "the stream went on undisturbed");
    publisher.disconnect();
    node.stop();
}

#[test]
fn silent_media_ends_the_stream_with_408_and_the_channel_can_go_live_again() {
    let node = common::start_node_with(1, |config| {
        config.engine.ftl_media_timeout = Duration::from_millis(500);
    });
    let key = node.service().example_stream_key("123").unwrap();
    let publisher = clients::ftl_publisher(node.ftl_addr(), &key).unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while !publisher.control_ended() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(
        publisher.disconnect(),
        Some(ClientError::Refused(StatusCode::NoMediaTimeout))
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    while node.engine().stream("123").is_some() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        node.engine().stream("123").is_none(),
        "the stream was removed"
    );
    let again = clients::ftl_publisher(node.ftl_addr(), &key).expect("the channel is free again");
    again.disconnect();
    node.stop();
}

#[test]
fn disconnect_ends_the_stream_and_its_viewers() {
    let node = common::start_node(2);
    let (publisher, mut viewer, resource, offer) = watched_stream(&node, None);
    // Probe without side effects: a PATCH to a live session is answered
    // (409: it waits for no answer); to an ended one, 404.
    let probe = |node: &waveguide::Node| {
        let headers = [("Content-Type", "application/sdp")];
        common::http::request(
            node.http_addr(),
            "PATCH",
            &resource,
            &headers,
            offer.as_bytes(),
        )
        .status
    };
    assert_eq!(probe(&node), 409, "the session is live while the stream is");
    publisher.disconnect();
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut gone = false;
    while Instant::now() < deadline && !gone {
        viewer.run(Duration::from_millis(50), |_| false);
        gone = probe(&node) == 404;
    }
    assert!(gone, "the viewer's session ended with the stream");
    let viewers: usize = node
        .engine()
        .stats(Duration::from_secs(5))
        .iter()
        .map(|w| w.viewers)
        .sum();
    assert_eq!(viewers, 0);
    assert!(node.engine().stream("123").is_none());
    assert_eq!(
        common::http::whep_offer(node.http_addr(), "123", &offer).status,
        404
    );
    node.stop();
}

#[test]
fn pings_are_echoed_and_audio_waits_for_video() {
    let node = common::start_node(1);
    let key = node.service().example_stream_key("123").unwrap();
    let publisher = clients::ftl_publisher(node.ftl_addr(), &key).unwrap();

    // The 24-byte ping of 64-bit ftl-sdk and the 12-byte one of Windows OBS.
    let linux = [
        0x81, 0xfa, 0x00, 0x18, 0, 0, 0, 0, 0x35, 0x46, 0x05, 0x6b, 0, 0, 0, 0, 0xa2, 0xdd, 5, 0,
        0, 0, 0, 0,
    ];
    let windows = [0x81, 0xfa, 0x00, 0x0c, 0, 0, 0, 0, 0x35, 0x46, 0x05, 0x6b];
    for ping in [&linux[..], &windows[..]] {
        publisher
            .media()
            .send_to(ping, publisher.media_addr())
            .unwrap();
        let mut buf = [0u8; 64];
        let deadline = Instant::now() + Duration::from_secs(5);
        let echo = loop {
            assert!(Instant::now() < deadline, "no echo");
            if let Ok(n) = publisher.media().recv(&mut buf) {
                break buf[..n].to_vec();
            }
        };
        assert_eq!(echo, ping, "echoed verbatim");
    }

    // ftl-sdk's speed test sends audio before any video: it is dropped.
    for sequence in 0..5u16 {
        publisher
            .send_numbered_audio(sequence, u32::from(sequence) * 960, b"speed-test garbage")
            .unwrap();
    }
    let first_frame = publisher.send_first_frame(&h264_clip());
    publisher.wait_until_watchable(&node);
    let stream = node.engine().stream("123").unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while stream.stats().packets_in < first_frame as u64 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(
        stream.stats().packets_in,
        first_frame as u64,
        "no audio got in"
    );
    assert!(stream.stats().dropped >= 5);

    // After the first video, audio flows to viewers.
    let (mut viewer, offer) = clients::viewer();
    let response = common::http::whep_offer(node.http_addr(), "123", &offer);
    viewer.accept_answer(&response.body).unwrap();
    viewer.run(Duration::from_secs(10), |v| v.connected_at.is_some());
    publisher
        .send_numbered_audio(5, 5 * 960, b"\xfc real opus")
        .unwrap();
    viewer.run(Duration::from_secs(10), |v| !v.audio().is_empty());
    let audio: Vec<&[u8]> = viewer
        .audio()
        .iter()
        .map(|r| r.payload.as_slice())
        .collect();
    assert_eq!(audio, vec![&b"\xfc real opus"[..]]);
    publisher.disconnect();
    node.stop();
}

#[test]
fn a_viewer_nack_is_answered_from_the_send_buffer() {
    let node = common::start_node(1);
    let (publisher, mut viewer, _, _) = watched_stream(&node, Some(10));
    let clip = h264_clip();
    for (sequence, packet) in clip.iter().take(60).enumerate() {
        publisher.send_clip_packet(sequence, packet);
        viewer.run(Duration::from_millis(2), |_| false);
    }
    viewer.run(Duration::from_secs(5), |v| v.video().len() >= 60);
    let mut got: Vec<(u64, &[u8])> = viewer
        .video()
        .iter()
        .map(|r| (r.sequence, r.payload.as_slice()))
        .collect();
    got.sort_by_key(|(sequence, _)| *sequence);
    let got: Vec<&[u8]> = got.into_iter().map(|(_, payload)| payload).collect();
    let sent: Vec<&[u8]> = clip.iter().take(60).map(|p| p.payload.as_slice()).collect();
    assert_eq!(
        got.len(),
        60,
        "the dropped packet came back by retransmission"
    );
    assert_eq!(got, sent);
    publisher.disconnect();
    node.stop();
}

#[test]
fn stopping_the_node_tells_ftl_encoders_410_within_the_grace() {
    let node = common::start_node(1);
    let key = node.service().example_stream_key("123").unwrap();
    let publisher = clients::ftl_publisher(node.ftl_addr(), &key).unwrap();
    let started = Instant::now();
    node.stop();
    assert!(started.elapsed() < waveguide::SHUTDOWN_GRACE + Duration::from_secs(1));
    let deadline = Instant::now() + Duration::from_secs(5);
    while !publisher.control_ended() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(
        publisher.disconnect(),
        Some(ClientError::Refused(StatusCode::ServerTerminate)),
        "a code before the close, never a silent one"
    );
}
