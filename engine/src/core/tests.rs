//! The core driven with in-memory str0m clients and a clock that is a
//! number: no socket, no thread. Datagrams are shuttled by hand between a
//! client's `Rtc` and the core's sink.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use codec::h264::Sps;
use crossbeam_channel::{Receiver, unbounded};
use str0m::change::SdpAnswer;
use str0m::media::{Direction, MediaKind};
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Event, Input, Output, Rtc};

use super::{CoreSetup, Sink, WorkerCore};
use crate::config::EngineConfig;
use crate::event::EngineEvent;
use crate::id::{PeerId, SocketId};
use crate::inbox::{CoreCommand, reply_channel};
use crate::negotiation::{LocalAddresses, RtcBase};
use crate::ring::{PacketRing, RingPacket, RingWriter};
use crate::stats::WorkerStats;
use crate::stream::Stream;
use crate::udp::SendBatch;

/// The worker's WebRTC socket as announced.
const SERVER: &str = "127.0.0.1:8200";
/// The client's address.
const CLIENT: &str = "127.0.0.1:40000";
/// The WebRTC socket's id.
const MAIN: SocketId = SocketId(0);
/// One step of the fake clock.
const TICK: Duration = Duration::from_millis(5);

/// A sink that keeps everything for the test.
struct MemorySink {
    send: SendBatch,
    sockets: HashMap<SocketId, SendBatch>,
    released: Vec<SocketId>,
    wakes: usize,
}

impl MemorySink {
    fn new() -> Self {
        Self {
            send: SendBatch::new(false),
            sockets: HashMap::new(),
            released: Vec::new(),
            wakes: 0,
        }
    }
}

impl Sink for MemorySink {
    fn webrtc(&mut self) -> &mut SendBatch {
        &mut self.send
    }

    fn socket(&mut self, socket: SocketId) -> &mut SendBatch {
        self.sockets
            .entry(socket)
            .or_insert_with(|| SendBatch::new(false))
    }

    fn flush_webrtc(&mut self) {}

    fn release(&mut self, socket: SocketId) {
        self.released.push(socket);
    }

    fn wake_followers(&mut self, _stream: &Stream) {
        self.wakes += 1;
    }

    fn add_stats(&self, _stats: &mut WorkerStats) {}
}

/// A core, its sink, its events and the clock.
struct Harness {
    core: WorkerCore,
    sink: MemorySink,
    events: Receiver<EngineEvent>,
    viewers: Arc<AtomicUsize>,
    now: Instant,
}

impl Harness {
    fn new() -> Self {
        let now = Instant::now();
        let (events_tx, events) = unbounded();
        let viewers = Arc::new(AtomicUsize::new(0));
        let setup = CoreSetup {
            index: 0,
            config: EngineConfig::default(),
            rtc_base: RtcBase::new().unwrap(),
            addresses: LocalAddresses::from(SERVER.parse::<SocketAddr>().unwrap()),
            events: events_tx,
            viewers: Arc::clone(&viewers),
        };
        Self {
            core: WorkerCore::new(setup, now),
            sink: MemorySink::new(),
            events,
            viewers,
            now,
        }
    }

    /// Opens a viewer of `stream` answering `offer`.
    fn open_viewer(&mut self, stream: &Arc<Stream>, offer: String) -> (PeerId, String) {
        let (reply, pending) = reply_channel();
        let command = CoreCommand::OpenViewer {
            stream: Arc::clone(stream),
            offer: Some(offer),
            reply,
        };
        assert!(self.core.handle_command(self.now, command, &mut self.sink));
        pending.wait(Duration::from_secs(1)).unwrap().unwrap()
    }

    /// One turn of the worker's loop, minus the sockets.
    fn turn(&mut self) {
        self.core.forward(self.now, &mut self.sink);
        self.core.fire_timers(self.now, &mut self.sink);
        self.core.housekeeping(self.now, &mut self.sink);
    }

    fn events(&self) -> Vec<EngineEvent> {
        self.events.try_iter().collect()
    }
}

/// A str0m client that receives H.264 (as a browser would), in RTP mode.
struct Client {
    rtc: Rtc,
    address: SocketAddr,
    connected: bool,
    /// The payloads of the RTP packets received, in order.
    received: Vec<Vec<u8>>,
}

impl Client {
    /// A client and its offer.
    fn new(now: Instant) -> (Self, str0m::change::SdpPendingOffer, String) {
        let address: SocketAddr = CLIENT.parse().unwrap();
        let mut config = Rtc::builder().set_rtp_mode(true).clear_codecs();
        config
            .codec_config()
            .add_h264(102.into(), Some(103.into()), true, 0x42e01f);
        let mut rtc = config.build(now);
        rtc.add_local_candidate(Candidate::host(address, "udp").unwrap());
        let mut api = rtc.sdp_api();
        api.add_media(MediaKind::Video, Direction::RecvOnly, None, None, None);
        let (offer, pending) = api.apply().unwrap();
        let client = Self {
            rtc,
            address,
            connected: false,
            received: Vec::new(),
        };
        (client, pending, offer.to_sdp_string())
    }

    /// Drains the client's output: its datagrams go to the core.
    fn drain(&mut self, harness: &mut Harness) {
        let server: SocketAddr = SERVER.parse().unwrap();
        while let Ok(output) = self.rtc.poll_output() {
            match output {
                Output::Transmit(transmit) => {
                    let datagram = (self.address, &transmit.contents[..]);
                    harness.core.handle_datagrams(
                        harness.now,
                        MAIN,
                        server,
                        std::iter::once(datagram),
                        &mut harness.sink,
                    );
                }
                Output::Event(Event::Connected) => self.connected = true,
                Output::Event(Event::RtpPacket(packet)) => {
                    self.received.push(packet.payload.to_vec())
                }
                Output::Event(_) => {}
                Output::Timeout(_) => break,
            }
        }
    }

    /// Moves the clock one tick and shuttles datagrams both ways once.
    fn step(&mut self, harness: &mut Harness) {
        harness.now += TICK;
        let server: SocketAddr = SERVER.parse().unwrap();
        self.rtc.handle_input(Input::Timeout(harness.now)).unwrap();
        self.drain(harness);
        harness.turn();
        let queued: Vec<_> = harness.sink.send.take_queued().collect();
        for (destination, contents) in queued {
            assert_eq!(destination, self.address);
            let receive = Receive::new(Protocol::Udp, server, self.address, &contents).unwrap();
            self.rtc
                .handle_input(Input::Receive(harness.now, receive))
                .unwrap();
            self.drain(harness);
        }
    }
}

/// A stream with a video ring, its SPS known (constrained baseline 3.1).
fn stream(now: Instant) -> (Arc<Stream>, RingWriter) {
    let (writer, video) = PacketRing::new(64, now);
    let stream = Stream::new(1, "channel".into(), Some(video), None);
    stream.set_sps(Sps {
        profile_idc: 0x42,
        constraint_flags: 0xe0,
        level_idc: 0x1f,
        width: 1280,
        height: 720,
    });
    (Arc::new(stream), writer)
}

/// An H.264 packet: one NAL unit, an IDR slice (a keyframe) or not.
fn video_packet(sequence: u16, keyframe: bool, arrival: Instant) -> RingPacket {
    let nal_type = if keyframe { 0x65 } else { 0x41 };
    RingPacket {
        sequence,
        timestamp: u32::from(sequence) * 3000,
        marker: true,
        keyframe,
        arrival,
        payload: Arc::from(vec![nal_type, sequence as u8, 0xab, 0xcd]),
    }
}

#[test]
fn a_viewer_connects_and_receives_the_ring_in_order() {
    let mut harness = Harness::new();
    let (stream, mut writer) = stream(harness.now);
    let (mut client, pending, offer) = Client::new(harness.now);
    let (id, answer) = harness.open_viewer(&stream, offer);
    client
        .rtc
        .sdp_api()
        .accept_answer(pending, SdpAnswer::from_sdp_string(&answer).unwrap())
        .unwrap();
    let mut events = Vec::new();
    for _ in 0..2000 {
        events.extend(harness.events());
        if client.connected && events.contains(&EngineEvent::ViewerConnected(id)) {
            break;
        }
        client.step(&mut harness);
    }
    assert!(
        client.connected,
        "ICE and DTLS over the hand-shuttled datagrams"
    );
    assert_eq!(stream.viewers(), 1);
    let published: Vec<RingPacket> = (1..=20u16)
        .map(|sequence| video_packet(sequence, sequence == 1, harness.now))
        .collect();
    for packet in &published {
        writer.push(packet.clone());
    }
    for _ in 0..200 {
        if client.received.len() == published.len() {
            break;
        }
        client.step(&mut harness);
    }
    let expected: Vec<Vec<u8>> = published.iter().map(|p| p.payload.to_vec()).collect();
    assert_eq!(client.received, expected, "every packet, in order");
    events.extend(harness.events());
    let reported = events
        .iter()
        .filter(|event| **event == EngineEvent::ViewerConnected(id))
        .count();
    assert_eq!(reported, 1, "the connection is reported once");
}

#[test]
fn a_viewer_that_never_connects_is_dropped_after_the_connect_timeout() {
    let mut harness = Harness::new();
    let (stream, _writer) = stream(harness.now);
    let (_client, _pending, offer) = Client::new(harness.now);
    let (id, _answer) = harness.open_viewer(&stream, offer);
    assert_eq!(harness.viewers.load(Ordering::Relaxed), 1);
    harness.turn();
    let timeout = EngineConfig::default().viewer_connect_timeout;
    harness.now += timeout - Duration::from_secs(1);
    harness.turn();
    assert!(harness.core.is_live(id.slot), "still within the timeout");
    harness.now += Duration::from_secs(2);
    harness.turn();
    assert!(!harness.core.is_live(id.slot));
    assert!(harness.events().contains(&EngineEvent::ViewerClosed(id)));
    assert_eq!(harness.viewers.load(Ordering::Relaxed), 0);
    assert_eq!(stream.viewers(), 0);
}

#[test]
fn a_closed_peer_s_slot_is_reused_under_a_new_generation_and_stale_ids_miss() {
    let mut harness = Harness::new();
    let (stream, _writer) = stream(harness.now);
    let (_first_client, _, offer) = Client::new(harness.now);
    let (first, _) = harness.open_viewer(&stream, offer);
    // Its timer is queued; closing leaves the timer entry behind.
    harness.turn();
    let close = CoreCommand::ClosePeer { peer: first };
    assert!(
        harness
            .core
            .handle_command(harness.now, close, &mut harness.sink)
    );
    assert_eq!(harness.events(), vec![EngineEvent::ViewerClosed(first)]);
    let (_second_client, _, offer) = Client::new(harness.now);
    let (second, _) = harness.open_viewer(&stream, offer);
    assert_eq!(second.slot.index, first.slot.index);
    assert_ne!(second.slot.generation, first.slot.generation);
    // The first viewer's timers fire into nothing; a stale close misses.
    for _ in 0..10 {
        harness.now += Duration::from_millis(100);
        harness.turn();
    }
    let stale = CoreCommand::ClosePeer { peer: first };
    assert!(
        harness
            .core
            .handle_command(harness.now, stale, &mut harness.sink)
    );
    assert!(harness.core.is_live(second.slot));
    assert!(!harness.core.is_live(first.slot));
    assert_eq!(
        harness.events(),
        vec![],
        "nothing happened to the new viewer"
    );
    assert_eq!(harness.viewers.load(Ordering::Relaxed), 1);
}

/// Opens an FTL media socket `socket` on the core for stream `id`: video
/// only (payload type 96, SSRC 0x1234) from `client`'s IP.
fn open_ftl_video(
    harness: &mut Harness,
    id: u64,
    socket: SocketId,
    client: SocketAddr,
) -> Arc<Stream> {
    let (video_writer, video) = PacketRing::new(64, harness.now);
    let stream = Arc::new(Stream::new(id, "ftl".into(), Some(video), None));
    let params = ftl::MediaParams {
        video: Some(ftl::TrackParams {
            payload_type: 96,
            ssrc: 0x1234,
        }),
        audio: None,
    };
    let request = crate::inbox::FtlMediaRequest {
        client_ip: client.ip(),
        params,
        stream: Arc::clone(&stream),
        writers: (Some(video_writer), None),
    };
    harness.core.open_ftl_media(harness.now, socket, request);
    stream
}

#[test]
fn an_ftl_socket_s_datagrams_reach_the_ring_and_its_pings_are_echoed() {
    let mut harness = Harness::new();
    let client: SocketAddr = "127.0.0.1:5000".parse().unwrap();
    let socket = SocketId(5);
    let stream = open_ftl_video(&mut harness, 7, socket, client);
    let local: SocketAddr = "127.0.0.1:9000".parse().unwrap();
    let ping = [0x80, 0xfa, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0];
    let mut video_packet = vec![0x80, 96, 0, 1, 0, 0, 0x0b, 0xb8, 0, 0, 0x12, 0x34];
    video_packet.extend_from_slice(&[0x65, 1, 2, 3]);
    let stranger: SocketAddr = "10.0.0.1:5000".parse().unwrap();
    let datagrams = [
        (client, &ping[..]),
        (client, &video_packet[..]),
        (stranger, &video_packet[..]),
    ];
    harness.core.handle_datagrams(
        harness.now,
        socket,
        local,
        datagrams.into_iter(),
        &mut harness.sink,
    );
    harness
        .core
        .finish_read(harness.now, socket, &mut harness.sink);
    let echoed: Vec<_> = harness.sink.socket(socket).take_queued().collect();
    assert_eq!(
        echoed,
        vec![(client, ping.to_vec())],
        "the ping, verbatim, to its sender"
    );
    let ring = stream.ring(crate::stream::TrackKind::Video).unwrap();
    assert_eq!(
        ring.head(),
        1,
        "the client's video packet, not the stranger's"
    );
    assert_eq!(ring.keyframe_start(), Some(0));
    let stats = stream.stats();
    assert_eq!((stats.packets_in, stats.dropped), (1, 1));
    assert_eq!(harness.sink.wakes, 1, "followers woken once per read turn");
    let close = CoreCommand::CloseFtlMedia { stream_id: 7 };
    assert!(
        harness
            .core
            .handle_command(harness.now, close, &mut harness.sink)
    );
    assert_eq!(harness.sink.released, vec![socket]);
    assert!(stream.is_ended());
}

#[test]
fn an_ftl_stream_s_gap_is_nacked_to_its_client_as_the_read_turn_ends() {
    let mut harness = Harness::new();
    let client: SocketAddr = "127.0.0.1:5002".parse().unwrap();
    let socket = SocketId(6);
    open_ftl_video(&mut harness, 8, socket, client);
    let local: SocketAddr = "127.0.0.1:9002".parse().unwrap();
    // Sequence 2 never arrives; 30 packets after it make it missing.
    let packets: Vec<Vec<u8>> = (1..=32u16)
        .filter(|&sequence| sequence != 2)
        .map(|sequence| {
            let [high, low] = sequence.to_be_bytes();
            vec![
                0x80, 96, high, low, 0, 0, 0x0b, 0xb8, 0, 0, 0x12, 0x34, 0x41, 1,
            ]
        })
        .collect();
    harness.core.handle_datagrams(
        harness.now,
        socket,
        local,
        packets.iter().map(|packet| (client, &packet[..])),
        &mut harness.sink,
    );
    assert_eq!(
        harness.sink.socket(socket).take_queued().count(),
        0,
        "nothing leaves before the read turn ends"
    );
    harness
        .core
        .finish_read(harness.now, socket, &mut harness.sink);
    let sent: Vec<_> = harness.sink.socket(socket).take_queued().collect();
    assert_eq!(sent.len(), 1, "one NACK: {sent:?}");
    let (to, nack) = &sent[0];
    assert_eq!(*to, client);
    assert_eq!(&nack[..2], [0x81, 205], "an RTCP generic NACK");
    assert_eq!(&nack[8..12], 0x1234u32.to_be_bytes(), "for the video SSRC");
    assert_eq!(&nack[12..14], 2u16.to_be_bytes(), "asking for sequence 2");
}

#[test]
fn a_relay_talks_from_its_own_socket_and_releases_it_when_it_closes() {
    let mut harness = Harness::new();
    let origin = Instant::now();
    let (video_writer, video) = PacketRing::new(64, origin);
    let (audio_writer, audio) = PacketRing::new(64, origin);
    let stream = Arc::new(Stream::new(3, "relayed".into(), Some(video), Some(audio)));
    let socket = SocketId(9);
    let local: SocketAddr = "127.0.0.1:41000".parse().unwrap();
    let (reply, pending) = reply_channel();
    let request = crate::inbox::RelayRequest {
        stream: Arc::clone(&stream),
        writers: (Some(video_writer), Some(audio_writer)),
        reply,
    };
    assert!(
        harness
            .core
            .open_relay(harness.now, (socket, local), request, &mut harness.sink)
    );
    let (id, offer) = pending.wait(Duration::from_secs(1)).unwrap().unwrap();
    assert!(
        offer.contains("127.0.0.1 41000 typ host"),
        "its own socket's candidate"
    );
    // The origin answers as a WHEP endpoint would.
    let mut origin_rtc = Rtc::builder().set_ice_lite(true).build(harness.now);
    let origin_address: SocketAddr = SERVER.parse().unwrap();
    origin_rtc.add_local_candidate(Candidate::host(origin_address, "udp").unwrap());
    let offer = str0m::change::SdpOffer::from_sdp_string(&offer).unwrap();
    let answer = origin_rtc.sdp_api().accept_offer(offer).unwrap();
    let (reply, pending) = reply_channel();
    let command = CoreCommand::AcceptAnswer {
        viewer: id,
        answer: answer.to_sdp_string(),
        reply,
    };
    assert!(
        harness
            .core
            .handle_command(harness.now, command, &mut harness.sink)
    );
    pending.wait(Duration::from_secs(1)).unwrap().unwrap();
    // The controlling side's first checks leave from the relay's socket.
    let checks: Vec<_> = harness.sink.socket(socket).take_queued().collect();
    assert!(!checks.is_empty(), "ICE checks queued at once");
    assert!(checks.iter().all(|(to, _)| *to == origin_address));
    assert_eq!(
        harness.sink.send.take_queued().count(),
        0,
        "nothing from the WebRTC socket"
    );
    let close = CoreCommand::ClosePeer { peer: id };
    assert!(
        harness
            .core
            .handle_command(harness.now, close, &mut harness.sink)
    );
    assert_eq!(harness.sink.released, vec![socket]);
    assert!(stream.is_ended());
    assert_eq!(
        harness.events(),
        vec![EngineEvent::RelayClosed {
            id,
            channel: "relayed".into(),
            stream_id: 3,
        }]
    );
}
