//! ICE over TCP (RFC 6544, RFC 4571 framing): a str0m viewer that has only a
//! TCP candidate reaches the node's passive TCP candidate, completes ICE and
//! DTLS over it, and receives the stream byte for byte; garbage on the TCP
//! port is dropped without harm; and the candidate can be switched off.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a failed unwrap in a test is a failed test"
)]

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use common::clients::{self, FtlPublisher, FtlSteps};
use common::http;
use common::media::h264_clip;
use str0m::media::Direction;
use str0m::net::{Protocol, Receive, TcpType};
use str0m::{Candidate, Event, Input, Output, Rtc};
use waveguide_load::negotiation::{self, OfferedVideo};

/// The passive TCP candidate's address in an SDP answer.
fn tcp_candidate(answer: &str) -> Option<SocketAddr> {
    answer
        .lines()
        .filter_map(|line| line.strip_prefix("a=candidate:"))
        .map(|line| line.split_whitespace().collect::<Vec<_>>())
        .find(|fields| fields.get(2) == Some(&"tcp") && fields.contains(&"passive"))
        .map(|fields| format!("{}:{}", fields[4], fields[5]).parse().unwrap())
}

fn offer_for(rtc: &mut Rtc) -> (String, str0m::change::SdpPendingOffer) {
    let offer = negotiation::offer(rtc, Direction::RecvOnly).unwrap();
    (offer.sdp, offer.pending)
}

/// A viewer's `Rtc` (H.264 Baseline as payload type 102, and Opus), with
/// no candidate yet.
fn client() -> Rtc {
    negotiation::rtc_config(OfferedVideo::Baseline, 102).build(Instant::now())
}

/// A node (adjusted by `adjust`) with channel 123 live: its first frame sent.
/// Returns the node, the publisher and how many packets it sent.
fn watchable_node(
    adjust: impl FnOnce(&mut waveguide::NodeConfig),
) -> (waveguide::Node, FtlPublisher, usize) {
    let node = common::start_node_with(1, adjust);
    let key = node.service().example_stream_key("123").unwrap();
    let publisher = clients::ftl_publisher(node.ftl_addr(), &key).expect("FTL handshake");
    let first = publisher.send_first_frame(&h264_clip());
    publisher.wait_until_watchable(&node);
    (node, publisher, first)
}

fn whep(node: &waveguide::Node, offer: &str) -> http::Response {
    let response = http::whep_offer(node.http_addr(), "123", offer);
    assert_eq!(response.status, 201, "{}", response.body);
    response
}

/// A str0m viewer whose only candidate is an active TCP one.
struct TcpSession {
    rtc: Rtc,
    stream: TcpStream,
    server: SocketAddr,
    local: SocketAddr,
    connected: bool,
    /// Video packets received: sequence number and payload.
    video: Vec<(u64, Vec<u8>)>,
}

impl TcpSession {
    /// Feeds one RFC 4571 frame and drains what it causes (SRTP keys are
    /// installed while draining, so each frame is drained before the next).
    fn receive(&mut self, frame: &[u8]) {
        let receive = Receive::new(Protocol::Tcp, self.server, self.local, frame).unwrap();
        self.rtc
            .handle_input(Input::Receive(Instant::now(), receive))
            .unwrap();
        self.drain();
    }

    /// Writes what the `Rtc` sends, framed, and records what it received.
    fn drain(&mut self) {
        loop {
            match self.rtc.poll_output().unwrap() {
                Output::Transmit(transmit) => {
                    assert_eq!(transmit.proto, Protocol::Tcp);
                    let length = u16::try_from(transmit.contents.len()).unwrap();
                    self.stream.write_all(&length.to_be_bytes()).unwrap();
                    self.stream.write_all(&transmit.contents).unwrap();
                }
                Output::Event(Event::Connected) => self.connected = true,
                Output::Event(Event::RtpPacket(packet))
                    if packet.header.payload_type == 102.into() =>
                {
                    self.video.push((*packet.seq_no, packet.payload.to_vec()));
                }
                Output::Event(_) => {}
                Output::Timeout(_) => return,
            }
        }
    }
}

#[test]
fn a_viewer_with_only_tcp_watches_over_ice_tcp() {
    let (node, publisher, first) = watchable_node(|_| {});
    let clip = h264_clip();

    let mut rtc = client();
    let (offer, pending) = offer_for(&mut rtc);
    let answer = whep(&node, &offer).body;
    let server = tcp_candidate(&answer).expect("the answer has a passive TCP candidate");
    let stream = TcpStream::connect(server).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_millis(5)))
        .unwrap();
    let local = stream.local_addr().unwrap();
    let candidate = Candidate::builder()
        .tcp()
        .host(local)
        .tcptype(TcpType::Active)
        .build()
        .unwrap();
    rtc.add_local_candidate(candidate);
    negotiation::accept_answer(&mut rtc, pending, &answer).unwrap();

    let mut session = TcpSession {
        rtc,
        stream,
        server,
        local,
        connected: false,
        video: Vec::new(),
    };
    let mut inbound: Vec<u8> = Vec::new();
    let mut buf = [0u8; 8192];
    let mut next = first;
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline && session.video.len() < clip.len() {
        session.drain();
        match session.stream.read(&mut buf) {
            Ok(0) => panic!("the node closed the ICE-TCP connection"),
            Ok(read) => inbound.extend_from_slice(&buf[..read]),
            Err(error) if matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(error) => panic!("{error}"),
        }
        while inbound.len() >= 2 {
            let length = usize::from(u16::from_be_bytes([inbound[0], inbound[1]]));
            if inbound.len() < 2 + length {
                break;
            }
            let frame: Vec<u8> = inbound.drain(..2 + length).skip(2).collect();
            session.receive(&frame);
        }
        session
            .rtc
            .handle_input(Input::Timeout(Instant::now()))
            .unwrap();
        // Once connected, 1000 empty frames at once (more than a worker takes
        // from one connection per turn: the rest wait for the next turns,
        // and the frames after them must still parse) ...
        if session.connected && next == first {
            session.stream.write_all(&[0u8; 2000]).unwrap();
        }
        // ... then the rest of the clip, a packet per turn.
        if session.connected && next < clip.len() {
            let packet = &clip[next];
            publisher.send_clip_packet(next, packet);
            next += 1;
        }
    }
    let TcpSession {
        connected,
        mut video,
        ..
    } = session;
    assert!(connected, "ICE and DTLS completed over TCP");
    let stats = node.engine().stats(Duration::from_secs(1));
    assert_eq!(stats[0].ice_tcp_connections, 1);
    video.sort_by_key(|(sequence, _)| *sequence);
    video.dedup_by_key(|(sequence, _)| *sequence);
    let got: Vec<&Vec<u8>> = video.iter().map(|(_, payload)| payload).collect();
    let sent: Vec<&Vec<u8>> = clip.iter().map(|p| &p.payload).collect();
    assert_eq!(got.len(), sent.len(), "every video packet arrived over TCP");
    assert!(
        got == sent,
        "video over TCP differs from what was published"
    );
    drop(publisher);
    node.stop();
}

#[test]
fn garbage_on_the_tcp_port_is_dropped_and_the_candidate_can_be_off() {
    let (node, publisher, _) = watchable_node(|_| {});
    let mut rtc = client();
    let (offer, _) = offer_for(&mut rtc);
    let server = tcp_candidate(&whep(&node, &offer).body).unwrap();
    // A frame that is not a STUN request for a peer: the connection closes.
    for garbage in [&[0u8, 4, 1, 2, 3, 4][..], b"GET / HTTP/1.1\r\n\r\n"] {
        let mut stream = TcpStream::connect(server).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        stream.write_all(garbage).unwrap();
        let mut buf = [0u8; 64];
        match stream.read(&mut buf) {
            Ok(0) => {}
            Err(error) if error.kind() == ErrorKind::ConnectionReset => {}
            other => panic!("expected the node to close the connection, got {other:?}"),
        }
    }
    drop(publisher);
    node.stop();

    let (node, publisher, _) = watchable_node(|config| config.engine.ice_tcp = false);
    let mut rtc = client();
    let (offer, _) = offer_for(&mut rtc);
    assert_eq!(tcp_candidate(&whep(&node, &offer).body), None);
    drop(publisher);
    node.stop();
}

#[test]
fn a_flood_of_idle_tcp_connections_is_capped_and_harms_nobody() {
    let (node, publisher, _) = watchable_node(|_| {});
    let mut rtc = client();
    let (offer, _) = offer_for(&mut rtc);
    let server = tcp_candidate(&whep(&node, &offer).body).unwrap();
    // 300 connections that never speak: at most 256 per worker are kept
    // until the connect timeout; the rest are closed at once.
    let idle: Vec<TcpStream> = (0..300)
        .map(|_| TcpStream::connect(server).unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let mut closed = 0;
    for stream in &idle {
        stream.set_nonblocking(true).unwrap();
        let mut buf = [0u8; 1];
        if matches!((&*stream).read(&mut buf), Ok(0)) {
            closed += 1;
        }
    }
    assert!(
        closed >= 300 - 256,
        "only {closed} of 300 idle connections were closed"
    );
    assert!(
        closed < 300,
        "connections under the cap are kept for their STUN request"
    );
    // HTTP and WebRTC over UDP go on.
    let mut rtc = client();
    let (offer, _) = offer_for(&mut rtc);
    whep(&node, &offer);
    drop(idle);
    drop(publisher);
    node.stop();
}
