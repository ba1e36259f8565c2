//! Waveguide's data plane: per-core workers that take RTP from publishers
//! (FTL today; WHIP next) and forward it to WHEP viewers through lock-free
//! rings, without transcoding.
//!
//! This crate knows no HTTP, configuration files or authentication; the
//! `waveguide-engine` binary wires it to those through [`EngineHandle`].
//!
//! ```text
//!  control threads ── EngineHandle ──▶ inbox (crossbeam + mio::Waker) ──▶ worker k
//!
//!  worker k (one thread per core, one mio::Poll loop, owns everything it touches):
//!    FTL media socket ─▶ ftl::classify ─▶ PacketRing (per track) ─▶ wake followers
//!    WebRTC socket (UDP 8200 + k) ─▶ demux ─▶ viewer Rtc (str0m, RTP mode)
//!    rings ─▶ every local viewer: write_rtp ─▶ drain ─▶ SendBatch (sendmmsg, GSO)
//! ```
//!
//! A viewer's `Rtc` lives on one worker; a stream's ingest lives on one
//! worker; rings connect them without locks. See `DESIGN.md`, "The shape"
//! and "Hot-path rules".

mod catch_up;
pub mod demux;
pub mod ftl_media;
mod ice_tcp;
mod inbox;
pub mod peer;
pub mod publisher;
pub mod relay;
pub mod ring;
pub mod rtc_io;
pub mod stream;
pub mod udp;
mod worker;

use std::collections::HashMap;
use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::ops::RangeInclusive;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, unbounded};
use ftl::MediaParams;
use parking_lot::Mutex;

pub use inbox::PendingReply;
use inbox::{Command, reply_channel};
pub use stream::{Stream, StreamStats, TrackKind};
pub use peer::ViewerError;
pub use udp::SendStats;

/// How the engine runs. Every field has a default that makes a useful
/// single node on one machine.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Worker threads; one per core by default.
    pub workers: usize,
    /// Address the WebRTC sockets bind to.
    pub webrtc_bind: IpAddr,
    /// Worker k's WebRTC port is this plus k; 0 picks free ports (tests).
    pub webrtc_port_base: u16,
    /// The IP announced in ICE candidates (must be reachable by viewers).
    pub public_ip: IpAddr,
    /// Ports handed to FTL streams for media; `0..=0` picks free ports.
    pub ftl_media_ports: RangeInclusive<u16>,
    /// Address FTL media sockets bind to.
    pub ftl_media_bind: IpAddr,
    /// Packets held per video ring (about 4 s of a 6 Mbps stream).
    pub video_ring_packets: usize,
    /// Packets held per audio ring.
    pub audio_ring_packets: usize,
    /// Most viewers on one worker.
    pub max_viewers_per_worker: usize,
    /// Most live streams.
    pub max_streams: usize,
    /// Most viewers of one stream.
    pub max_viewers_per_stream: usize,
    /// Most viewers of all streams together.
    pub max_viewers_total: usize,
    /// A viewer that has not connected (ICE + DTLS) by then is dropped.
    pub viewer_connect_timeout: Duration,
    /// An FTL stream with no datagram for this long is reported as timed out.
    pub ftl_media_timeout: Duration,
    /// SO_RCVBUF and SO_SNDBUF of every socket, in bytes.
    pub socket_buffer_bytes: usize,
    /// A relay whose stream has had no local viewer this long closes.
    pub relay_idle_grace: Duration,
    /// Also offer a passive ICE-TCP candidate (RFC 6544) on each worker's
    /// port number, for peers whose networks block UDP.
    pub ice_tcp: bool,
    /// More interfaces to serve WebRTC on: each worker binds one more UDP
    /// socket per interface (same port number) and every peer is offered
    /// one more candidate, so a host behind 1:1 NAT with several public IPs
    /// (or with IPv4 and IPv6) is reachable on each.
    pub extra_interfaces: Vec<WebRtcInterface>,
}

/// One more address to serve WebRTC on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WebRtcInterface {
    /// The local address its sockets bind to.
    pub bind: IpAddr,
    /// The IP announced for it (behind 1:1 NAT, the public one).
    pub public_ip: IpAddr,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            workers: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1),
            webrtc_bind: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            webrtc_port_base: 8200,
            public_ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
            ftl_media_ports: 9000..=9999,
            ftl_media_bind: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            video_ring_packets: 4096,
            audio_ring_packets: 512,
            max_viewers_per_worker: 10_000,
            max_streams: 1_000,
            max_viewers_per_stream: 100_000,
            max_viewers_total: 100_000,
            viewer_connect_timeout: Duration::from_secs(15),
            ftl_media_timeout: Duration::from_secs(10),
            socket_buffer_bytes: 4 << 20,
            relay_idle_grace: Duration::from_secs(10),
            ice_tcp: true,
            extra_interfaces: Vec::new(),
        }
    }
}

/// A peer's (viewer's or publisher's) identity inside the engine: its
/// worker and slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PeerId {
    /// The worker that owns it.
    pub worker: u16,
    /// Its slot on that worker.
    pub slot: demux::Slot,
}

impl fmt::Display for PeerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "w{}-{}-{}",
            self.worker, self.slot.index, self.slot.generation
        )
    }
}

/// Something the engine tells its owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EngineEvent {
    /// A viewer finished ICE and DTLS.
    ViewerConnected(PeerId),
    /// A viewer is gone (left, timed out, or its stream ended).
    ViewerClosed(PeerId),
    /// A WHIP publisher is gone (DELETE, ICE/DTLS timeout, or its media
    /// stopped); its stream has ended with it.
    PublisherClosed {
        /// The publisher.
        id: PeerId,
        /// Its channel.
        channel: String,
        /// Its stream.
        stream_id: u64,
    },
    /// A relay's session with its origin is gone (the origin's stream
    /// ended, its media stopped, or nobody watched it for the grace period);
    /// its local stream has ended with it.
    RelayClosed {
        /// The relay.
        id: PeerId,
        /// Its channel.
        channel: String,
        /// Its local stream.
        stream_id: u64,
    },
    /// An FTL stream's media stopped arriving.
    FtlMediaTimeout {
        /// The channel.
        channel: String,
        /// The stream, as [`FtlMedia::stream_id`] named it.
        stream_id: u64,
    },
}

/// Why the engine refused a request.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// No live stream on that channel.
    #[error("no live stream on this channel")]
    NoSuchStream,
    /// The channel already has a live stream.
    #[error("the channel is already live")]
    ChannelLive,
    /// The stream has sent no SPS yet, so its H.264 profile is unknown.
    #[error("the stream has not sent a keyframe yet; retry shortly")]
    StreamNotReady,
    /// No viewer with that id.
    #[error("no such viewer")]
    NoSuchViewer,
    /// A viewer limit (per worker, per stream or in total) is reached.
    #[error("viewer limit reached")]
    TooManyViewers,
    /// The limit of live streams is reached.
    #[error("stream limit reached")]
    TooManyStreams,
    /// No free FTL media port in the configured range.
    #[error("no free media port")]
    NoFreePort,
    /// A worker did not answer in time or is gone.
    #[error("worker unavailable")]
    WorkerUnavailable,
    /// The viewer's SDP could not be used.
    #[error(transparent)]
    Viewer(#[from] peer::ViewerError),
    /// A socket could not be set up.
    #[error("socket error: {0}")]
    Io(#[from] io::Error),
}

/// Counters of one worker, as values.
#[derive(Debug, Clone, Default)]
pub struct WorkerStats {
    /// The worker's index.
    pub index: usize,
    /// Its WebRTC address as announced.
    pub address: Option<SocketAddr>,
    /// Viewers open.
    pub viewers: usize,
    /// Viewers connected.
    pub connected_viewers: usize,
    /// FTL media sockets read.
    pub ftl_streams: usize,
    /// RTP packets handed to viewers' `Rtc`s.
    pub forwarded: u64,
    /// Times a viewer fell a whole ring behind and skipped to a keyframe.
    pub laps: u64,
    /// Datagrams on the WebRTC socket (and ICE-TCP connections) that
    /// matched no viewer.
    pub unroutable: u64,
    /// ICE-TCP connections open.
    pub ice_tcp_connections: usize,
    /// Keyframe requests from viewers.
    pub keyframe_requests: u64,
    /// Loop turns.
    pub turns: u64,
    /// Nanoseconds spent working (not waiting in `poll`); divided by wall
    /// time, the loop's utilisation.
    pub busy_nanos: u64,
    /// The send batch's counters.
    pub send: SendStats,
}

/// A new viewer and the SDP to send it (our answer, or our offer).
pub type OpenedViewer = (PeerId, String);

/// Where a stream comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ingest {
    /// An FTL encoder.
    Ftl,
    /// A WHIP publisher.
    Whip,
    /// A relay from another node.
    Relay,
}

impl Ingest {
    /// `ftl` or `whip`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ftl => "ftl",
            Self::Whip => "whip",
            Self::Relay => "relay",
        }
    }
}

/// A live stream as the API shows it.
#[derive(Debug, Clone)]
pub struct StreamInfo {
    /// The stream.
    pub stream: Arc<Stream>,
    /// Where it comes from.
    pub ingest: Ingest,
    /// The worker its ingest (FTL socket or WHIP peer) lives on.
    pub ingest_worker: usize,
}

/// A WHIP publisher, opened.
#[derive(Debug, Clone)]
pub struct OpenedPublisher {
    /// The publisher, for [`EngineHandle::close_publisher`].
    pub id: PeerId,
    /// Our SDP answer.
    pub answer: String,
    /// Its stream's id.
    pub stream_id: u64,
    /// The stream it replaced on the channel, if any.
    pub replaced: Option<u64>,
}

/// A relay, opened.
#[derive(Debug, Clone)]
pub struct OpenedRelay {
    /// The relay, for [`EngineHandle::accept_answer`] and
    /// [`EngineHandle::close_publisher`].
    pub id: PeerId,
    /// Our SDP offer, for the origin's WHEP endpoint.
    pub offer: String,
    /// Its local stream's id.
    pub stream_id: u64,
}

/// A stream's media port, handed to the FTL client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FtlMedia {
    /// The UDP port.
    pub port: u16,
    /// The stream's id, for [`EngineHandle::close_ftl_media`].
    pub stream_id: u64,
    /// The stream this one replaced on the channel, if any.
    pub replaced: Option<u64>,
}

struct WorkerLink {
    commands: Sender<Command>,
    waker: Arc<mio::Waker>,
    viewers: Arc<AtomicUsize>,
    address: SocketAddr,
}

impl WorkerLink {
    fn send(&self, command: Command) -> Result<(), EngineError> {
        self.commands
            .send(command)
            .map_err(|_| EngineError::WorkerUnavailable)?;
        self.waker.wake().map_err(EngineError::Io)
    }
}

/// Where a live stream comes from, so a takeover can stop it.
#[derive(Clone, Copy)]
enum Source {
    /// An FTL media socket on this worker.
    Ftl { worker: usize },
    /// A WHIP publisher.
    Whip(PeerId),
    /// A relay from another node.
    Relay(PeerId),
}

struct Live {
    stream: Arc<Stream>,
    source: Source,
}

impl Live {
    /// Ends the stream and stops whatever feeds it.
    fn stop(&self, workers: &[WorkerLink]) {
        self.stream.end();
        let _ = match self.source {
            Source::Ftl { worker } => workers[worker].send(Command::CloseFtlMedia {
                stream_id: self.stream.id(),
            }),
            Source::Whip(peer) | Source::Relay(peer) => workers
                .get(usize::from(peer.worker))
                .map_or(Ok(()), |link| link.send(Command::ClosePeer { peer })),
        };
    }
}

struct Shared {
    config: EngineConfig,
    workers: Vec<WorkerLink>,
    /// Control plane only: taken to open and close streams and viewers,
    /// never per packet.
    streams: Mutex<HashMap<String, Live>>,
    next_stream_id: AtomicU64,
    next_port: AtomicUsize,
    next_ingest_worker: AtomicUsize,
}

/// The thread-safe handle the binary drives the engine with.
#[derive(Clone)]
pub struct EngineHandle {
    shared: Arc<Shared>,
}

/// The running engine: its handle, its events and its threads.
pub struct Engine {
    handle: EngineHandle,
    events: Receiver<EngineEvent>,
    threads: Vec<JoinHandle<()>>,
}

impl Engine {
    /// Binds every worker's socket and starts the workers.
    pub fn start(config: EngineConfig) -> io::Result<Self> {
        let workers = config.workers.clamp(1, 64);
        let (events_tx, events) = unbounded();
        let base = worker::RtcBase::new()?;
        let mut links = Vec::with_capacity(workers);
        let mut pending = Vec::with_capacity(workers);
        for index in 0..workers {
            let port = if config.webrtc_port_base == 0 {
                0
            } else {
                config.webrtc_port_base.saturating_add(index as u16)
            };
            let socket = bind_udp(
                SocketAddr::new(config.webrtc_bind, port),
                config.socket_buffer_bytes,
            )?;
            let address = SocketAddr::new(config.public_ip, socket.local_addr()?.port());
            // ICE-TCP listens on the same port number when the port is fixed.
            let tcp = if config.ice_tcp {
                let listener =
                    std::net::TcpListener::bind(SocketAddr::new(config.webrtc_bind, port))?;
                let announced = SocketAddr::new(config.public_ip, listener.local_addr()?.port());
                Some((listener, announced))
            } else {
                None
            };
            let mut extra = Vec::with_capacity(config.extra_interfaces.len());
            for interface in &config.extra_interfaces {
                let socket = bind_udp_with(
                    SocketAddr::new(interface.bind, port),
                    config.socket_buffer_bytes,
                    true,
                )?;
                let announced = SocketAddr::new(interface.public_ip, socket.local_addr()?.port());
                extra.push((socket, announced));
            }
            let poll = mio::Poll::new()?;
            let waker = Arc::new(mio::Waker::new(poll.registry(), worker::WAKER)?);
            let (commands, inbox) = unbounded();
            let viewers = Arc::new(AtomicUsize::new(0));
            links.push(WorkerLink {
                commands,
                waker: Arc::clone(&waker),
                viewers: Arc::clone(&viewers),
                address,
            });
            pending.push((poll, socket, address, inbox, viewers, (tcp, extra)));
        }
        let wakers: Arc<[Arc<mio::Waker>]> = links.iter().map(|l| Arc::clone(&l.waker)).collect();
        let wake_pending: Arc<[AtomicBool]> =
            (0..workers).map(|_| AtomicBool::new(false)).collect();
        let mut threads = Vec::with_capacity(workers);
        for (index, (poll, socket, address, inbox, viewers, (tcp, extra))) in
            pending.into_iter().enumerate()
        {
            let worker = worker::Worker::new(worker::WorkerSetup {
                index,
                poll,
                socket,
                address,
                inbox,
                wakers: Arc::clone(&wakers),
                wake_pending: Arc::clone(&wake_pending),
                events: events_tx.clone(),
                rtc_base: base.clone(),
                viewers,
                config: config.clone(),
                tcp,
                extra,
            })?;
            threads.push(
                std::thread::Builder::new()
                    .name(format!("waveguide-worker-{index}"))
                    .spawn(move || worker.run())?,
            );
        }
        let handle = EngineHandle {
            shared: Arc::new(Shared {
                config,
                workers: links,
                streams: Mutex::new(HashMap::new()),
                next_stream_id: AtomicU64::new(1),
                next_port: AtomicUsize::new(0),
                next_ingest_worker: AtomicUsize::new(0),
            }),
        };
        Ok(Self {
            handle,
            events,
            threads,
        })
    }

    /// The handle to drive the engine with.
    pub fn handle(&self) -> EngineHandle {
        self.handle.clone()
    }

    /// Lifecycle events; read them on a control thread.
    pub fn events(&self) -> Receiver<EngineEvent> {
        self.events.clone()
    }

    /// Stops every worker and waits for them.
    pub fn shutdown(self) {
        for link in &self.handle.shared.workers {
            let _ = link.send(Command::Shutdown);
        }
        for thread in self.threads {
            let _ = thread.join();
        }
    }
}

impl EngineHandle {
    /// The WebRTC address each worker announces.
    pub fn worker_addresses(&self) -> Vec<SocketAddr> {
        self.shared.workers.iter().map(|w| w.address).collect()
    }

    /// Starts a stream on `channel` fed by an FTL client at `client_ip`
    /// announcing `params`, and returns the media port to give the client.
    /// A live stream on the channel is refused with `ChannelLive`, or, with
    /// `replace`, ended and replaced (FTL's takeover: an encoder that
    /// reconnects after a network blip must not be locked out).
    pub fn open_ftl_media(
        &self,
        channel: &str,
        client_ip: IpAddr,
        params: MediaParams,
        replace: bool,
    ) -> Result<FtlMedia, EngineError> {
        let shared = &*self.shared;
        if !replace && self.stream(channel).is_some() {
            return Err(EngineError::ChannelLive);
        }
        self.check_stream_room(channel)?;
        // Bound before the registry lock: a bind may take many tries.
        let socket = self.bind_media_port()?;
        let port = socket.local_addr()?.port();
        let origin = Instant::now();
        let ring = |announced: bool, capacity: usize| {
            announced
                .then(|| ring::PacketRing::new(capacity, origin))
                .unzip()
        };
        let (video_writer, video) = ring(params.video.is_some(), shared.config.video_ring_packets);
        let (audio_writer, audio) = ring(params.audio.is_some(), shared.config.audio_ring_packets);
        let stream_id = shared.next_stream_id.fetch_add(1, Ordering::Relaxed);
        let stream = Arc::new(Stream::new(stream_id, channel.to_owned(), video, audio));
        let worker =
            shared.next_ingest_worker.fetch_add(1, Ordering::Relaxed) % shared.workers.len();
        let mut streams = shared.streams.lock();
        if streams
            .get(channel)
            .is_some_and(|live| !live.stream.is_ended() && !replace)
        {
            return Err(EngineError::ChannelLive);
        }
        shared.workers[worker].send(Command::OpenFtlMedia {
            socket,
            client_ip,
            params,
            stream: Arc::clone(&stream),
            video: video_writer,
            audio: audio_writer,
        })?;
        let live = Live {
            stream,
            source: Source::Ftl { worker },
        };
        let replaced = streams.insert(channel.to_owned(), live);
        drop(streams);
        if let Some(old) = &replaced {
            old.stop(&shared.workers);
        }
        Ok(FtlMedia {
            port,
            stream_id,
            replaced: replaced.map(|old| old.stream.id()),
        })
    }

    /// Ends the FTL stream `stream_id` on `channel`: its socket closes and its
    /// viewers are ended. A stream already replaced is left alone.
    pub fn close_ftl_media(&self, channel: &str, stream_id: u64) {
        self.remove_stream(channel, stream_id);
    }

    /// Opens a WHIP publisher of `channel` answering `offer`, waiting up to
    /// `timeout` for its worker. A live stream on the channel is refused with
    /// `ChannelLive`, or, with `replace`, ended and replaced.
    pub fn open_publisher(
        &self,
        channel: &str,
        offer: String,
        replace: bool,
        timeout: Duration,
    ) -> Result<OpenedPublisher, EngineError> {
        let (id, answer, stream_id, replaced) = self.open_fed_stream(
            channel,
            replace,
            timeout,
            |stream, writers, reply| Command::OpenPublisher {
                stream,
                writers,
                offer,
                reply,
            },
            Source::Whip,
        )?;
        Ok(OpenedPublisher {
            id,
            answer,
            stream_id,
            replaced,
        })
    }

    /// Opens a relay of `channel` from another node, waiting up to `timeout`
    /// for its worker: a local stream fed by a receive-only session whose
    /// offer (in the reply) goes to the origin's WHEP endpoint; the origin's
    /// answer goes to [`accept_answer`](Self::accept_answer). Viewers of the
    /// channel get `StreamNotReady` until the first keyframe arrives. A live
    /// stream on the channel is refused with `ChannelLive`.
    pub fn open_relay(&self, channel: &str, timeout: Duration) -> Result<OpenedRelay, EngineError> {
        let (id, offer, stream_id, _) = self.open_fed_stream(
            channel,
            false,
            timeout,
            |stream, writers, reply| Command::OpenRelay {
                stream,
                writers,
                reply,
            },
            Source::Relay,
        )?;
        Ok(OpenedRelay {
            id,
            offer,
            stream_id,
        })
    }

    /// A new stream on `channel` with video and audio rings, fed by a peer
    /// that `command` opens on the least-loaded worker; registered once the
    /// worker replies. Returns the peer, its SDP, the stream's id and the
    /// stream it replaced. A live stream is refused with `ChannelLive`, or,
    /// with `replace`, ended and replaced.
    fn open_fed_stream(
        &self,
        channel: &str,
        replace: bool,
        timeout: Duration,
        command: impl FnOnce(
            Arc<Stream>,
            (Option<ring::RingWriter>, Option<ring::RingWriter>),
            inbox::Reply<Result<OpenedViewer, EngineError>>,
        ) -> Command,
        source: fn(PeerId) -> Source,
    ) -> Result<(PeerId, String, u64, Option<u64>), EngineError> {
        let shared = &*self.shared;
        if !replace && self.stream(channel).is_some() {
            return Err(EngineError::ChannelLive);
        }
        self.check_stream_room(channel)?;
        let origin = Instant::now();
        let (video_writer, video) = ring::PacketRing::new(shared.config.video_ring_packets, origin);
        let (audio_writer, audio) = ring::PacketRing::new(shared.config.audio_ring_packets, origin);
        let stream_id = shared.next_stream_id.fetch_add(1, Ordering::Relaxed);
        let stream = Arc::new(Stream::new(
            stream_id,
            channel.to_owned(),
            Some(video),
            Some(audio),
        ));
        let link = self.least_loaded()?;
        let (reply, pending) = reply_channel();
        link.send(command(
            Arc::clone(&stream),
            (Some(video_writer), Some(audio_writer)),
            reply,
        ))?;
        let (id, sdp) = pending.wait(timeout)??;
        let mut streams = shared.streams.lock();
        if streams
            .get(channel)
            .is_some_and(|live| !live.stream.is_ended() && !replace)
        {
            // Another publisher (or relay) won the race for the channel.
            drop(streams);
            let _ = self.close_viewer(id);
            return Err(EngineError::ChannelLive);
        }
        let live = Live {
            stream,
            source: source(id),
        };
        let replaced = streams.insert(channel.to_owned(), live);
        drop(streams);
        if let Some(old) = &replaced {
            old.stop(&shared.workers);
        }
        Ok((id, sdp, stream_id, replaced.map(|old| old.stream.id())))
    }

    /// Ends a WHIP publisher's or a relay's session. Its stream ends at once
    /// (new viewers are refused from now on) and its viewers close.
    pub fn close_publisher(&self, publisher: PeerId) -> Result<(), EngineError> {
        let mut streams = self.shared.streams.lock();
        let channel = streams
            .iter()
            .find(|(_, live)| {
                matches!(live.source, Source::Whip(id) | Source::Relay(id) if id == publisher)
            })
            .map(|(channel, _)| channel.clone());
        match channel.and_then(|channel| streams.remove(&channel)) {
            Some(live) => {
                drop(streams);
                live.stop(&self.shared.workers);
                Ok(())
            }
            None => {
                drop(streams);
                self.close_viewer(publisher)
            }
        }
    }

    /// The live stream on `channel` (an ended one waiting for removal is not live).
    pub fn stream(&self, channel: &str) -> Option<Arc<Stream>> {
        self.shared
            .streams
            .lock()
            .get(channel)
            .filter(|live| !live.stream.is_ended())
            .map(|live| Arc::clone(&live.stream))
    }

    /// Every live stream.
    pub fn streams(&self) -> Vec<Arc<Stream>> {
        self.shared
            .streams
            .lock()
            .values()
            .filter(|live| !live.stream.is_ended())
            .map(|live| Arc::clone(&live.stream))
            .collect()
    }

    /// Every live stream with where it comes from.
    pub fn stream_infos(&self) -> Vec<StreamInfo> {
        self.shared
            .streams
            .lock()
            .values()
            .filter(|live| !live.stream.is_ended())
            .map(|live| {
                let (ingest, ingest_worker) = match live.source {
                    Source::Ftl { worker } => (Ingest::Ftl, worker),
                    Source::Whip(peer) => (Ingest::Whip, usize::from(peer.worker)),
                    Source::Relay(peer) => (Ingest::Relay, usize::from(peer.worker)),
                };
                StreamInfo {
                    stream: Arc::clone(&live.stream),
                    ingest,
                    ingest_worker,
                }
            })
            .collect()
    }

    /// Removes `stream_id` from `channel` and stops what feeds it, unless the
    /// channel has moved on to another stream since. The binary calls it when
    /// a stream ends on its own (a WHIP publisher gone, an FTL connection closed).
    pub fn remove_stream(&self, channel: &str, stream_id: u64) {
        let mut streams = self.shared.streams.lock();
        if streams
            .get(channel)
            .is_some_and(|live| live.stream.id() == stream_id)
            && let Some(live) = streams.remove(channel)
        {
            drop(streams);
            live.stop(&self.shared.workers);
        }
    }

    /// Opens a viewer of `channel` on the least-loaded worker. With an
    /// `offer` (standard WHEP) the reply carries our answer; without, it
    /// carries our offer, to be answered with [`accept_answer`](Self::accept_answer).
    pub fn open_viewer(
        &self,
        channel: &str,
        offer: Option<String>,
    ) -> Result<PendingReply<Result<OpenedViewer, EngineError>>, EngineError> {
        let stream = self.stream(channel).ok_or(EngineError::NoSuchStream)?;
        let config = &self.shared.config;
        let total: usize = self.streams().iter().map(|s| s.viewers()).sum();
        if stream.viewers() >= config.max_viewers_per_stream || total >= config.max_viewers_total {
            return Err(EngineError::TooManyViewers);
        }
        // Viewers are offered the stream's own H.264 profile, read from its SPS.
        if stream.ring(TrackKind::Video).is_some() && stream.sps().is_none() {
            return Err(EngineError::StreamNotReady);
        }
        let link = self.least_loaded()?;
        let (reply, pending) = reply_channel();
        link.send(Command::OpenViewer {
            stream,
            offer,
            reply,
        })?;
        Ok(pending)
    }

    /// Gives a viewer opened without an offer its answer.
    pub fn accept_answer(
        &self,
        viewer: PeerId,
        answer: String,
    ) -> Result<PendingReply<Result<(), EngineError>>, EngineError> {
        let link = self.link(viewer)?;
        let (reply, pending) = reply_channel();
        link.send(Command::AcceptAnswer {
            viewer,
            answer,
            reply,
        })?;
        Ok(pending)
    }

    /// Closes a viewer.
    pub fn close_viewer(&self, viewer: PeerId) -> Result<(), EngineError> {
        self.link(viewer)?.send(Command::ClosePeer { peer: viewer })
    }

    /// Every worker's counters.
    pub fn stats(&self, timeout: Duration) -> Vec<WorkerStats> {
        let pending: Vec<_> = self
            .shared
            .workers
            .iter()
            .filter_map(|link| {
                let (reply, pending) = reply_channel();
                link.send(Command::Stats { reply }).ok().map(|_| pending)
            })
            .collect();
        pending
            .into_iter()
            .filter_map(|p| p.wait(timeout).ok())
            .collect()
    }

    /// Whether one more stream fits (a stream replacing `channel`'s own does).
    fn check_stream_room(&self, channel: &str) -> Result<(), EngineError> {
        let live = self.streams();
        let others = live.iter().filter(|s| s.channel() != channel).count();
        if others >= self.shared.config.max_streams {
            return Err(EngineError::TooManyStreams);
        }
        Ok(())
    }

    /// The worker with the fewest peers, if it has room.
    fn least_loaded(&self) -> Result<&WorkerLink, EngineError> {
        let link = self
            .shared
            .workers
            .iter()
            .min_by_key(|w| w.viewers.load(Ordering::Relaxed))
            .ok_or(EngineError::WorkerUnavailable)?;
        if link.viewers.load(Ordering::Relaxed) >= self.shared.config.max_viewers_per_worker {
            return Err(EngineError::TooManyViewers);
        }
        Ok(link)
    }

    fn link(&self, viewer: PeerId) -> Result<&WorkerLink, EngineError> {
        self.shared
            .workers
            .get(usize::from(viewer.worker))
            .ok_or(EngineError::NoSuchViewer)
    }

    /// Binds the next free port of the FTL media range.
    fn bind_media_port(&self) -> Result<UdpSocket, EngineError> {
        let config = &self.shared.config;
        let (first, last) = (
            *config.ftl_media_ports.start(),
            *config.ftl_media_ports.end(),
        );
        let span = usize::from(last.saturating_sub(first)) + 1;
        for _ in 0..span {
            let offset = self.shared.next_port.fetch_add(1, Ordering::Relaxed) % span;
            let port = first.saturating_add(offset as u16);
            if let Ok(socket) = bind_udp(
                SocketAddr::new(config.ftl_media_bind, port),
                config.socket_buffer_bytes,
            ) {
                return Ok(socket);
            }
        }
        Err(EngineError::NoFreePort)
    }
}

/// A non-blocking UDP socket with the given buffer sizes.
pub(crate) fn bind_udp(address: SocketAddr, buffer_bytes: usize) -> io::Result<UdpSocket> {
    bind_udp_with(address, buffer_bytes, false)
}

/// As [`bind_udp`]; with `only_v6`, an IPv6 socket serves IPv6 alone, so an
/// IPv4 socket of another interface can share its port.
fn bind_udp_with(address: SocketAddr, buffer_bytes: usize, only_v6: bool) -> io::Result<UdpSocket> {
    let domain = socket2::Domain::for_address(address);
    let socket = socket2::Socket::new(domain, socket2::Type::DGRAM, Some(socket2::Protocol::UDP))?;
    if address.is_ipv6() && only_v6 {
        socket.set_only_v6(true)?;
    }
    // Best effort: the kernel caps these at net.core.[rw]mem_max.
    let _ = socket.set_recv_buffer_size(buffer_bytes);
    let _ = socket.set_send_buffer_size(buffer_bytes);
    socket.set_nonblocking(true)?;
    socket.bind(&address.into())?;
    Ok(socket.into())
}
