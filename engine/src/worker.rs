//! Worker: one thread, one `mio::Poll` loop, owning everything it touches:
//! its WebRTC socket and viewers, its FTL media sockets, a timer queue and an
//! inbox. `run()` reads top to bottom: poll to the nearest deadline →
//! receive → inbox → rings to viewers → timers → housekeeping → flush sends.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::io;
use std::net::SocketAddr;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use mio::{Events, Interest, Poll, Token};
use str0m::RtcConfig;
use str0m::net::Protocol;

use crate::demux::{Demux, Slot, stun_local_ufrag};
use crate::ftl_media::FtlIngest;
use crate::ice_tcp::{IceTcp, TcpRead};
use crate::inbox::Command;
use crate::peer::LocalAddresses;
use crate::peer::{DrainOutcome, Viewer, ViewerError};
use crate::publisher::Publisher;
use crate::relay::Relay;
use crate::rtc_io::{Route, RtcPeer};
use crate::stream::Stream;
use crate::udp::{BATCH, RecvBatch, SendBatch};
use crate::{EngineConfig, EngineError, EngineEvent, OpenedViewer, PeerId, WorkerStats};

/// The WebRTC socket's token.
const SOCKET: Token = Token(0);
/// The inbox waker's token.
pub(crate) const WAKER: Token = Token(1);
/// FTL media sockets and relay sockets get tokens from here on (the
/// ICE-TCP listener is 2; its connections are far above).
const FIRST_INGEST: usize = 3;
/// The extra interfaces' WebRTC sockets get tokens from here on.
const FIRST_EXTRA: usize = 1 << 29;

/// Most datagrams read from the WebRTC socket per turn.
const WEBRTC_READ_BUDGET: usize = 16 * BATCH;

/// Most inbox commands run per turn (opening a viewer parses SDP and builds
/// an `Rtc`: a burst of them must not stall forwarding).
const INBOX_BUDGET: usize = 32;

/// Most ICE-TCP frames taken from one connection per turn.
const TCP_FRAME_BUDGET: usize = 256;

/// Most timers fired per turn.
const TIMER_BUDGET: usize = 4096;

/// Longest sleep when nothing is due (housekeeping runs at least this often).
const MAX_SLEEP: Duration = Duration::from_millis(500);

/// How often idle viewers and silent FTL streams are checked.
const HOUSEKEEPING: Duration = Duration::from_millis(500);

/// An FTL stream silent for this many media timeouts is closed by the
/// worker itself, in case nobody acted on the timeout event.
const SILENT_STREAM_CLOSE_FACTOR: u32 = 3;

/// Flush sends early once this many datagrams are queued.
const FLUSH_AT: usize = 4 * BATCH;

/// The `RtcConfig` every viewer starts from: ICE-lite, RTP mode, and one DTLS
/// certificate shared by all (a new one per peer costs ~28 ms).
#[derive(Clone)]
pub(crate) struct RtcBase {
    config: RtcConfig,
}

impl RtcBase {
    pub(crate) fn new() -> io::Result<Self> {
        let provider = str0m::crypto::from_feature_flags();
        let certificate = provider
            .dtls_provider
            .generate_certificate()
            .ok_or_else(|| io::Error::other("could not generate a DTLS certificate"))?;
        let config = str0m::Rtc::builder()
            .set_crypto_provider(Arc::new(provider))
            .set_dtls_cert(certificate)
            .set_ice_lite(true)
            .set_rtp_mode(true);
        Ok(Self { config })
    }
}

/// Runs a call into str0m (or anything a peer's bytes reach) so that a panic
/// in it costs that peer, not the worker and its other peers.
fn guarded<T>(call: impl FnOnce() -> T) -> Option<T> {
    catch_unwind(AssertUnwindSafe(call)).ok()
}

/// What a worker is built from.
pub(crate) struct WorkerSetup {
    pub index: usize,
    pub poll: Poll,
    pub socket: std::net::UdpSocket,
    pub address: SocketAddr,
    pub inbox: Receiver<Command>,
    pub wakers: Arc<[Arc<mio::Waker>]>,
    pub wake_pending: Arc<[AtomicBool]>,
    pub events: Sender<EngineEvent>,
    pub rtc_base: RtcBase,
    pub viewers: Arc<AtomicUsize>,
    pub config: EngineConfig,
    /// With ICE-TCP: the bound listener and the address it is announced as.
    pub tcp: Option<(std::net::TcpListener, SocketAddr)>,
    /// The extra interfaces' WebRTC sockets, each with its announced address.
    pub extra: Vec<(std::net::UdpSocket, SocketAddr)>,
}

/// A peer on this worker: a WHEP viewer, a WHIP publisher, or an edge
/// relay's session with its origin.
enum Peer {
    Viewer(Viewer),
    Publisher(Publisher),
    Relay(Relay),
}

impl Peer {
    /// The peer as the `Rtc` driver every peer shares.
    fn rtc(&self) -> &dyn RtcPeer {
        match self {
            Self::Viewer(viewer) => viewer,
            Self::Publisher(publisher) => publisher,
            Self::Relay(relay) => relay,
        }
    }

    fn rtc_mut(&mut self) -> &mut dyn RtcPeer {
        match self {
            Self::Viewer(viewer) => viewer,
            Self::Publisher(publisher) => publisher,
            Self::Relay(relay) => relay,
        }
    }

    fn accepts(&self, now: Instant, route: Route, datagram: &[u8]) -> bool {
        self.rtc().accepts(now, route, datagram)
    }

    fn handle_datagram(
        &mut self,
        now: Instant,
        route: Route,
        datagram: &[u8],
        send: &mut SendBatch,
    ) -> DrainOutcome {
        self.rtc_mut().handle_datagram(now, route, datagram, send)
    }

    fn handle_timeout(&mut self, now: Instant, send: &mut SendBatch) -> DrainOutcome {
        self.rtc_mut().handle_timeout(now, send)
    }

    fn close(&mut self, now: Instant, send: &mut SendBatch) -> DrainOutcome {
        self.rtc_mut().close(now, send)
    }

    fn next_timeout(&self) -> Instant {
        self.rtc().next_timeout()
    }

    fn is_connected(&self) -> bool {
        self.rtc().is_connected()
    }

    fn created(&self) -> Instant {
        match self {
            Self::Viewer(viewer) => viewer.created(),
            Self::Publisher(publisher) => publisher.created(),
            Self::Relay(relay) => relay.created(),
        }
    }

    fn stream(&self) -> &Arc<Stream> {
        match self {
            Self::Viewer(viewer) => viewer.stream(),
            Self::Publisher(publisher) => publisher.stream(),
            Self::Relay(relay) => relay.stream(),
        }
    }
}

struct PeerEntry {
    peer: Peer,
    addresses: Vec<SocketAddr>,
    scheduled: Option<Instant>,
    reported_connected: bool,
}

struct SlotEntry {
    generation: u32,
    entry: Option<PeerEntry>,
}

struct Ingest {
    ingest: FtlIngest,
    timed_out: bool,
}

/// How a viewer leaves.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Removal {
    /// Send a clean close first.
    Close,
    /// Already closed, or its `Rtc` panicked: just drop it.
    Drop,
}

pub(crate) struct Worker {
    index: usize,
    poll: Poll,
    socket: mio::net::UdpSocket,
    address: SocketAddr,
    /// More WebRTC sockets, one per extra interface, with their addresses.
    extra: Vec<(mio::net::UdpSocket, SocketAddr)>,
    inbox: Receiver<Command>,
    wakers: Arc<[Arc<mio::Waker>]>,
    wake_pending: Arc<[AtomicBool]>,
    events: Sender<EngineEvent>,
    rtc_base: RtcBase,
    viewer_count: Arc<AtomicUsize>,
    config: EngineConfig,
    slots: Vec<SlotEntry>,
    free: Vec<u32>,
    demux: Demux,
    timers: BinaryHeap<Reverse<(Instant, u32, u32)>>,
    due: Vec<(Instant, u32, u32)>,
    ingests: HashMap<Token, Ingest>,
    /// Relays' own sockets, to their slots.
    relays: HashMap<Token, Slot>,
    next_token: usize,
    /// Viewers per followed stream, by stream id.
    following: HashMap<u64, (Arc<Stream>, usize)>,
    send: SendBatch,
    /// The passive ICE-TCP candidate, if on.
    ice_tcp: Option<IceTcp>,
    /// ICE-TCP connections with frames left over from their budget.
    tcp_backlog: Vec<Token>,
    stats: WorkerStats,
    more_work: bool,
    next_housekeeping: Instant,
}

impl Worker {
    pub(crate) fn new(setup: WorkerSetup) -> io::Result<Self> {
        let mut socket = mio::net::UdpSocket::from_std(setup.socket);
        setup
            .poll
            .registry()
            .register(&mut socket, SOCKET, Interest::READABLE)?;
        let mut extra = Vec::with_capacity(setup.extra.len());
        for (index, (socket, address)) in setup.extra.into_iter().enumerate() {
            let mut socket = mio::net::UdpSocket::from_std(socket);
            setup.poll.registry().register(
                &mut socket,
                Token(FIRST_EXTRA + index),
                Interest::READABLE,
            )?;
            extra.push((socket, address));
        }
        let alternates = extra.iter().map(|(_, address)| *address).collect();
        let ice_tcp = match setup.tcp {
            Some((listener, address)) => Some(IceTcp::new(
                listener,
                address,
                setup.poll.registry(),
                setup.config.max_viewers_per_worker,
            )?),
            None => None,
        };
        Ok(Self {
            ice_tcp,
            tcp_backlog: Vec::new(),
            index: setup.index,
            poll: setup.poll,
            socket,
            address: setup.address,
            extra,
            inbox: setup.inbox,
            wakers: setup.wakers,
            wake_pending: setup.wake_pending,
            events: setup.events,
            rtc_base: setup.rtc_base,
            viewer_count: setup.viewers,
            config: setup.config,
            slots: Vec::new(),
            free: Vec::new(),
            demux: Demux::default(),
            timers: BinaryHeap::new(),
            due: Vec::new(),
            ingests: HashMap::new(),
            relays: HashMap::new(),
            next_token: FIRST_INGEST,
            following: HashMap::new(),
            send: SendBatch::with_alternates(true, alternates),
            stats: WorkerStats {
                index: setup.index,
                address: Some(setup.address),
                ..WorkerStats::default()
            },
            more_work: false,
            next_housekeeping: Instant::now(),
        })
    }

    /// The loop. Returns when told to shut down.
    pub(crate) fn run(mut self) {
        let mut events = Events::with_capacity(256);
        let mut recv = RecvBatch::new();
        loop {
            let now = Instant::now();
            let timeout = if self.more_work {
                Duration::ZERO
            } else {
                self.next_deadline()
                    .saturating_duration_since(now)
                    .min(MAX_SLEEP)
            };
            if let Err(error) = self.poll.poll(&mut events, Some(timeout))
                && error.kind() != io::ErrorKind::Interrupted
            {
                tracing::error!(worker = self.index, %error, "poll failed; worker stops");
                return;
            }
            let now = Instant::now();
            self.stats.turns += 1;
            self.more_work = false;
            // Cleared before the rings are read: a packet published after
            // this wakes us again.
            self.wake_pending[self.index].store(false, Ordering::Release);
            for event in events.iter() {
                match event.token() {
                    SOCKET => self.receive_webrtc(now, &mut recv, 0),
                    token if (FIRST_EXTRA..FIRST_EXTRA + self.extra.len()).contains(&token.0) => {
                        self.receive_webrtc(now, &mut recv, token.0 - FIRST_EXTRA + 1)
                    }
                    WAKER => {}
                    crate::ice_tcp::LISTENER => {
                        if let Some(tcp) = &mut self.ice_tcp {
                            tcp.accept(now, self.poll.registry());
                        }
                    }
                    token if IceTcp::owns(token) => {
                        // A backlogged connection is read once per turn, from the backlog.
                        let readable =
                            event.is_readable() || event.is_read_closed() || event.is_error();
                        if readable && !self.tcp_backlog.contains(&token) {
                            self.receive_tcp(now, token);
                        }
                        if event.is_writable()
                            && let Some(tcp) = &mut self.ice_tcp
                        {
                            tcp.write(token, self.poll.registry());
                        }
                    }
                    token if self.relays.contains_key(&token) => {
                        self.receive_relay(now, token, &mut recv)
                    }
                    token => self.receive_ftl(now, token, &mut recv),
                }
            }
            for token in std::mem::take(&mut self.tcp_backlog) {
                self.receive_tcp(now, token);
            }
            if !self.handle_inbox(now) {
                return;
            }
            self.forward(now);
            self.fire_timers(now);
            if now >= self.next_housekeeping {
                self.housekeeping(now);
                self.next_housekeeping = now + HOUSEKEEPING;
            }
            self.flush();
            let busy = now.elapsed().as_nanos();
            self.stats.busy_nanos = self
                .stats
                .busy_nanos
                .saturating_add(u64::try_from(busy).unwrap_or(u64::MAX));
        }
    }

    /// Sends what the turn queued: datagrams in batches, ICE-TCP frames to
    /// their connections.
    fn flush(&mut self) {
        self.send.flush(&self.socket);
        for (batch, (socket, _)) in self.send.alternates_mut().zip(&self.extra) {
            batch.flush(socket);
        }
        let mut behind = Vec::new();
        if let Some(tcp) = &mut self.ice_tcp {
            let registry = self.poll.registry();
            let mut touched = Vec::new();
            for (remote, message) in self.send.drain_tcp() {
                touched.extend(tcp.queue(remote, &message, registry, &mut behind));
            }
            // One write per connection that had nothing queued; the others
            // are written when the kernel reports room (WRITABLE).
            for token in touched {
                tcp.write(token, registry);
            }
        }
        let now = Instant::now();
        for slot in behind {
            self.remove_peer(now, slot, Removal::Drop);
        }
    }

    /// Reads an ICE-TCP connection and feeds its frames to its peer. The
    /// first frame must be a STUN request naming a peer of this worker, or
    /// the connection is closed.
    fn receive_tcp(&mut self, now: Instant, token: Token) {
        let mut frames_left = TCP_FRAME_BUDGET;
        loop {
            let Some(tcp) = &mut self.ice_tcp else {
                return;
            };
            let local = tcp.address();
            let Some(mut read) = tcp.read(token) else {
                return;
            };
            let mut refused = read.peer.is_none() && crate::ice_tcp::cannot_open(&read.buffer);
            let mut peer_gone = false;
            let (closed, more, remote) = (read.closed, read.more, read.remote);
            let TcpRead {
                buffer,
                framed,
                peer,
                ..
            } = &mut read;
            let whole = if refused { 0 } else { *framed };
            let mut taken = 0;
            for frame in crate::ice_tcp::frames(&buffer[..whole]) {
                if frames_left == 0 {
                    break;
                }
                frames_left -= 1;
                taken += 2 + frame.len();
                if frame.is_empty() {
                    continue;
                }
                let route = (Protocol::Tcp, remote, local);
                if peer.is_none() {
                    let ice_tcp = self.ice_tcp.as_ref();
                    *peer = stun_local_ufrag(frame).filter(|slot| {
                        ice_tcp.is_some_and(|tcp| {
                            tcp.connections_of(*slot) < crate::ice_tcp::MAX_PER_PEER
                        }) && entry_in(&mut self.slots, *slot).is_some_and(|entry| {
                            guarded(|| entry.peer.accepts(now, route, frame)).unwrap_or(false)
                        })
                    });
                }
                let Some(slot) = *peer else {
                    refused = true;
                    break;
                };
                let Some(entry) = entry_in(&mut self.slots, slot) else {
                    peer_gone = true;
                    break;
                };
                let send = &mut self.send;
                let outcome = guarded(|| entry.peer.handle_datagram(now, route, frame, send));
                self.after_drain(now, slot, outcome);
            }
            *framed = taken;
            let Some(tcp) = &mut self.ice_tcp else {
                return;
            };
            if refused || closed || peer_gone {
                if refused {
                    tracing::debug!(worker = self.index, %remote, "ICE-TCP connection opened with no STUN request for a peer here (or its peer has enough); closed");
                    self.stats.unroutable += 1;
                }
                tcp.close(token, self.poll.registry());
                return;
            }
            let unread = taken < whole;
            tcp.restore(token, read);
            if frames_left == 0 && (unread || more) {
                // Enough for one turn: come back to the rest next turn.
                self.more_work = true;
                if !self.tcp_backlog.contains(&token) {
                    self.tcp_backlog.push(token);
                }
                return;
            }
            if !more {
                return;
            }
        }
    }

    /// The addresses new peers announce.
    fn candidates(&self) -> LocalAddresses {
        LocalAddresses {
            udp: self.address,
            more_udp: self.extra.iter().map(|(_, address)| *address).collect(),
            tcp: self.ice_tcp.as_ref().map(IceTcp::address),
        }
    }

    fn next_deadline(&self) -> Instant {
        let timer = self.timers.peek().map(|Reverse((at, _, _))| *at);
        timer.map_or(self.next_housekeeping, |t| t.min(self.next_housekeeping))
    }

    /// The WebRTC socket `index` (0: the main one; then the extra
    /// interfaces) and the address it is announced as.
    fn udp_socket(&self, index: usize) -> Option<(&mio::net::UdpSocket, SocketAddr)> {
        if index == 0 {
            return Some((&self.socket, self.address));
        }
        self.extra
            .get(index - 1)
            .map(|(socket, address)| (socket, *address))
    }

    fn receive_webrtc(&mut self, now: Instant, recv: &mut RecvBatch, index: usize) {
        let Some((_, destination)) = self.udp_socket(index) else {
            return;
        };
        let mut read = 0;
        loop {
            if read >= WEBRTC_READ_BUDGET {
                // Edge-triggered: datagrams are left behind, so come back.
                self.more_work = true;
                self.poll_webrtc_again(index);
                return;
            }
            let Some((socket, _)) = self.udp_socket(index) else {
                return;
            };
            match recv.recv(socket) {
                Ok(count) => read += count,
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => return,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                Err(error) => {
                    tracing::debug!(worker = self.index, %error, "WebRTC socket read failed");
                    self.more_work = true;
                    self.poll_webrtc_again(index);
                    return;
                }
            }
            for (source, datagram) in recv.datagrams() {
                self.route(now, (Protocol::Udp, source, destination), datagram);
            }
            if self.send.len() >= FLUSH_AT {
                self.flush();
            }
        }
    }

    /// Registers a socket again so an edge fires even if nothing new arrives.
    fn poll_webrtc_again(&mut self, index: usize) {
        let registry = self.poll.registry();
        let _ = match index {
            0 => registry.reregister(&mut self.socket, SOCKET, Interest::READABLE),
            _ => match self.extra.get_mut(index - 1) {
                Some((socket, _)) => {
                    registry.reregister(socket, Token(FIRST_EXTRA + index - 1), Interest::READABLE)
                }
                None => Ok(()),
            },
        };
    }

    /// Hands a datagram that arrived over `route` to its peer.
    fn route(&mut self, now: Instant, route: Route, datagram: &[u8]) {
        let (_, source, _) = route;
        // STUN goes by our ufrag (a client may reuse a port an older viewer
        // had); everything else by source address.
        let slot = match stun_local_ufrag(datagram) {
            Some(slot) => self.admit(now, route, datagram, slot),
            None => self.demux.lookup(source),
        };
        let Some(slot) = slot else {
            self.stats.unroutable += 1;
            return;
        };
        let Some(entry) = entry_in(&mut self.slots, slot) else {
            self.stats.unroutable += 1;
            return;
        };
        let send = &mut self.send;
        let outcome = guarded(|| entry.peer.handle_datagram(now, route, datagram, send));
        self.after_drain(now, slot, outcome);
    }

    /// A STUN request for `slot`: checked by the viewer's `Rtc` (message
    /// integrity), and only then is its source remembered.
    fn admit(&mut self, now: Instant, route: Route, datagram: &[u8], slot: Slot) -> Option<Slot> {
        let (_, source, _) = route;
        let entry = entry_in(&mut self.slots, slot)?;
        if !guarded(|| entry.peer.accepts(now, route, datagram)).unwrap_or(false) {
            return None;
        }
        if self.demux.lookup(source) != Some(slot) {
            self.demux.insert(source, slot, &mut entry.addresses);
        }
        Some(slot)
    }

    fn entry_mut(&mut self, slot: Slot) -> Option<&mut PeerEntry> {
        entry_in(&mut self.slots, slot)
    }

    /// Reads a relay's own socket: everything on it is from its origin.
    fn receive_relay(&mut self, now: Instant, token: Token, recv: &mut RecvBatch) {
        let Some(&slot) = self.relays.get(&token) else {
            return;
        };
        let mut read = 0;
        loop {
            let Some(PeerEntry {
                peer: Peer::Relay(relay),
                ..
            }) = entry_in(&mut self.slots, slot)
            else {
                return;
            };
            if read >= WEBRTC_READ_BUDGET {
                self.more_work = true;
                let _ =
                    self.poll
                        .registry()
                        .reregister(relay.socket_mut(), token, Interest::READABLE);
                return;
            }
            let local = relay.local();
            match relay.recv(recv) {
                Ok(count) => read += count,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                Err(error) => {
                    if error.kind() != io::ErrorKind::WouldBlock {
                        tracing::debug!(worker = self.index, %error, "relay socket read failed");
                    }
                    return;
                }
            }
            for (source, datagram) in recv.datagrams() {
                let Some(entry) = entry_in(&mut self.slots, slot) else {
                    return;
                };
                let send = &mut self.send;
                let route = (Protocol::Udp, source, local);
                let outcome = guarded(|| entry.peer.handle_datagram(now, route, datagram, send));
                self.after_drain(now, slot, outcome);
            }
        }
    }

    fn receive_ftl(&mut self, now: Instant, token: Token, recv: &mut RecvBatch) {
        let Some(ingest) = self.ingests.get_mut(&token) else {
            return;
        };
        let outcome = match ingest.ingest.read(now, recv) {
            Ok(outcome) => outcome,
            Err(error) => {
                tracing::debug!(worker = self.index, %error, "FTL socket read failed");
                crate::ftl_media::ReadOutcome {
                    published: 0,
                    more: true,
                }
            }
        };
        for drop in ingest.ingest.take_drops() {
            tracing::trace!(worker = self.index, ?drop, "FTL datagram dropped");
        }
        if outcome.more {
            self.more_work = true;
            let _ = self.poll.registry().reregister(
                ingest.ingest.socket_mut(),
                token,
                Interest::READABLE,
            );
        }
        if outcome.published > 0 {
            let stream = Arc::clone(ingest.ingest.stream());
            self.wake_followers(&stream);
        }
    }

    /// Wakes the workers with viewers of `stream`; one wake per worker until
    /// it runs, so wakes coalesce.
    fn wake_followers(&self, stream: &Stream) {
        let followers = stream.followers();
        for worker in 0..self.wakers.len() {
            if worker != self.index
                && followers & (1 << worker) != 0
                && !self.wake_pending[worker].swap(true, Ordering::AcqRel)
            {
                let _ = self.wakers[worker].wake();
            }
        }
    }

    /// Runs waiting commands, up to the budget; false once told to shut down.
    fn handle_inbox(&mut self, now: Instant) -> bool {
        for _ in 0..INBOX_BUDGET {
            let Ok(command) = self.inbox.try_recv() else {
                return true;
            };
            if !self.handle_command(now, command) {
                return false;
            }
        }
        self.more_work |= !self.inbox.is_empty();
        true
    }

    fn handle_command(&mut self, now: Instant, command: Command) -> bool {
        match command {
            Command::OpenFtlMedia {
                socket,
                client_ip,
                params,
                stream,
                video,
                audio,
            } => {
                let token = Token(self.next_token);
                self.next_token += 1;
                let socket = mio::net::UdpSocket::from_std(socket);
                let mut ingest =
                    FtlIngest::new(now, socket, client_ip, params, stream, video, audio);
                match self
                    .poll
                    .registry()
                    .register(ingest.socket_mut(), token, Interest::READABLE)
                {
                    Ok(()) => {
                        self.ingests.insert(
                            token,
                            Ingest {
                                ingest,
                                timed_out: false,
                            },
                        );
                    }
                    Err(error) => {
                        tracing::warn!(worker = self.index, %error, "cannot watch FTL socket")
                    }
                }
            }
            Command::CloseFtlMedia { stream_id } => self.close_ingest(stream_id),
            Command::OpenViewer {
                stream,
                offer,
                reply,
            } => {
                let opened = self.open_viewer(now, stream, offer);
                self.reply_opened(now, reply, opened);
            }
            Command::OpenPublisher {
                stream,
                writers,
                offer,
                reply,
            } => {
                let opened = self.open_publisher(now, stream, writers, offer);
                self.reply_opened(now, reply, opened);
            }
            Command::OpenRelay {
                stream,
                writers,
                reply,
            } => {
                let opened = self.open_relay(now, stream, writers);
                self.reply_opened(now, reply, opened);
            }
            Command::AcceptAnswer {
                viewer,
                answer,
                reply,
            } => {
                let result = match self.entry_mut(viewer.slot) {
                    Some(entry) => guarded(|| match &mut entry.peer {
                        Peer::Viewer(viewer) => viewer.accept_answer(&answer),
                        Peer::Relay(relay) => relay.accept_answer(&answer),
                        Peer::Publisher(_) => Err(ViewerError::NotAwaitingAnswer),
                    })
                    .unwrap_or(Err(ViewerError::NotAwaitingAnswer))
                    .map_err(EngineError::from),
                    None => Err(EngineError::NoSuchViewer),
                };
                // A failed negotiation leaves the viewer unusable; a malformed
                // or repeated answer leaves it as it was.
                if let Err(EngineError::Viewer(
                    ViewerError::Negotiation(_)
                    | ViewerError::NoH264(_)
                    | ViewerError::NoH264ToRelay,
                )) = result
                {
                    self.remove_peer(now, viewer.slot, Removal::Close);
                } else if result.is_ok()
                    && let Some(entry) = entry_in(&mut self.slots, viewer.slot)
                {
                    // The answer starts ICE: a relay, the controlling side,
                    // sends its first checks now rather than at its old timeout.
                    let send = &mut self.send;
                    let outcome = guarded(|| entry.peer.handle_timeout(now, send));
                    self.after_drain(now, viewer.slot, outcome);
                }
                let _ = reply.send(result);
            }
            Command::ClosePeer { peer } => self.remove_peer(now, peer.slot, Removal::Close),
            Command::Stats { reply } => {
                let mut stats = self.stats.clone();
                stats.send = self.send.stats();
                stats.ftl_streams = self.ingests.len();
                stats.ice_tcp_connections = self.ice_tcp.as_ref().map_or(0, IceTcp::len);
                let live = self.slots.iter().filter_map(|s| s.entry.as_ref());
                let (viewers, connected) = live.fold((0, 0), |(all, connected), e| {
                    (all + 1, connected + usize::from(e.peer.is_connected()))
                });
                stats.viewers = viewers;
                stats.connected_viewers = connected;
                let _ = reply.send(stats);
            }
            Command::Shutdown => {
                // Peers hear a clean close (close_notify) before the worker goes.
                let live: Vec<Slot> = self
                    .slots
                    .iter()
                    .enumerate()
                    .filter(|(_, s)| s.entry.is_some())
                    .map(|(index, s)| Slot {
                        index: index as u32,
                        generation: s.generation,
                    })
                    .collect();
                for slot in live {
                    self.remove_peer(now, slot, Removal::Close);
                }
                self.flush();
                return false;
            }
        }
        true
    }

    /// Answers an open request; if the caller gave up waiting, nobody will
    /// ever use the new peer, so it is closed.
    fn reply_opened(
        &mut self,
        now: Instant,
        reply: crate::inbox::Reply<Result<OpenedViewer, EngineError>>,
        opened: Result<OpenedViewer, EngineError>,
    ) {
        let peer = opened.as_ref().ok().map(|(peer, _)| *peer);
        if reply.send(opened).is_err()
            && let Some(peer) = peer
        {
            self.remove_peer(now, peer.slot, Removal::Close);
        }
    }

    fn close_ingest(&mut self, stream_id: u64) {
        let token = self
            .ingests
            .iter()
            .find(|(_, i)| i.ingest.stream().id() == stream_id)
            .map(|(token, _)| *token);
        if let Some(mut ingest) = token.and_then(|token| self.ingests.remove(&token)) {
            let _ = self.poll.registry().deregister(ingest.ingest.socket_mut());
            ingest.ingest.stream().end();
        }
    }

    /// A free slot (index and generation) for a new peer.
    fn take_slot(&mut self) -> Result<Slot, EngineError> {
        if self.viewer_count.load(Ordering::Relaxed) >= self.config.max_viewers_per_worker {
            return Err(EngineError::TooManyViewers);
        }
        let index = match self.free.pop() {
            Some(index) => index,
            None => {
                let index =
                    u32::try_from(self.slots.len()).map_err(|_| EngineError::TooManyViewers)?;
                self.slots.push(SlotEntry {
                    generation: 0,
                    entry: None,
                });
                index
            }
        };
        let generation = self.slots[index as usize].generation;
        Ok(Slot { index, generation })
    }

    /// Puts a new peer in `slot` and starts its timer.
    fn place(&mut self, slot: Slot, peer: Peer) -> PeerId {
        self.slots[slot.index as usize].entry = Some(PeerEntry {
            peer,
            addresses: Vec::new(),
            scheduled: None,
            reported_connected: false,
        });
        self.viewer_count.fetch_add(1, Ordering::Relaxed);
        self.schedule(slot);
        PeerId {
            worker: self.index as u16,
            slot,
        }
    }

    fn open_viewer(
        &mut self,
        now: Instant,
        stream: Arc<Stream>,
        offer: Option<String>,
    ) -> Result<OpenedViewer, EngineError> {
        if stream.is_ended() {
            return Err(EngineError::NoSuchStream);
        }
        let slot = self.take_slot()?;
        let base = &self.rtc_base.config;
        let address = self.candidates();
        let opened = guarded(|| match offer {
            Some(offer) => Viewer::answer(
                now,
                base,
                slot.ufrag(),
                address,
                Arc::clone(&stream),
                &offer,
            ),
            None => Viewer::offer(now, base, slot.ufrag(), address, Arc::clone(&stream)),
        })
        .unwrap_or_else(|| {
            Err(ViewerError::BadSdp(
                "the offer could not be processed".into(),
            ))
        });
        let (viewer, sdp) = match opened {
            Ok(opened) => opened,
            Err(error) => {
                self.free.push(slot.index);
                return Err(error.into());
            }
        };
        let followed = self
            .following
            .entry(stream.id())
            .or_insert_with(|| (Arc::clone(&stream), 0));
        followed.1 += 1;
        stream.follow(self.index);
        stream.count_viewer(true);
        // Nothing to start from: ask a WHIP publisher for a keyframe now.
        if let Some(ring) = stream.ring(crate::stream::TrackKind::Video) {
            let held = ring.head().saturating_sub(ring.capacity() as u64);
            if ring.keyframe_start().is_none_or(|start| start < held) {
                stream.request_keyframe();
            }
        }
        Ok((self.place(slot, Peer::Viewer(viewer)), sdp))
    }

    fn open_publisher(
        &mut self,
        now: Instant,
        stream: Arc<Stream>,
        writers: (
            Option<crate::ring::RingWriter>,
            Option<crate::ring::RingWriter>,
        ),
        offer: String,
    ) -> Result<OpenedViewer, EngineError> {
        let slot = self.take_slot()?;
        let base = &self.rtc_base.config;
        let address = self.candidates();
        let opened = guarded(|| {
            Publisher::answer(now, base, slot.ufrag(), address, stream, writers, &offer)
        })
        .unwrap_or_else(|| {
            Err(ViewerError::BadSdp(
                "the offer could not be processed".into(),
            ))
        });
        match opened {
            Ok((publisher, answer)) => Ok((self.place(slot, Peer::Publisher(publisher)), answer)),
            Err(error) => {
                self.free.push(slot.index);
                Err(error.into())
            }
        }
    }

    fn open_relay(
        &mut self,
        now: Instant,
        stream: Arc<Stream>,
        writers: (
            Option<crate::ring::RingWriter>,
            Option<crate::ring::RingWriter>,
        ),
    ) -> Result<OpenedViewer, EngineError> {
        let socket = crate::bind_udp(
            SocketAddr::new(self.config.webrtc_bind, 0),
            self.config.socket_buffer_bytes,
        )?;
        let local = SocketAddr::new(self.config.public_ip, socket.local_addr()?.port());
        let token = Token(self.next_token);
        let slot = self.take_slot()?;
        let base = &self.rtc_base.config;
        let opened = guarded(|| {
            Relay::offer(
                now,
                base,
                slot.ufrag(),
                (socket, local, token),
                stream,
                writers,
            )
        })
        .unwrap_or_else(|| Err(ViewerError::BadSdp("the offer could not be made".into())));
        let (mut relay, offer) = match opened {
            Ok(opened) => opened,
            Err(error) => {
                self.free.push(slot.index);
                return Err(error.into());
            }
        };
        if let Err(error) =
            self.poll
                .registry()
                .register(relay.socket_mut(), token, Interest::READABLE)
        {
            self.free.push(slot.index);
            return Err(error.into());
        }
        self.next_token += 1;
        self.relays.insert(token, slot);
        Ok((self.place(slot, Peer::Relay(relay)), offer))
    }

    fn forward(&mut self, now: Instant) {
        for index in 0..self.slots.len() {
            let generation = self.slots[index].generation;
            let Some(entry) = self.slots[index].entry.as_mut() else {
                continue;
            };
            let send = &mut self.send;
            let outcome = match &mut entry.peer {
                Peer::Viewer(viewer) => {
                    let (forwarded, laps) = (viewer.forwarded, viewer.laps);
                    let outcome = guarded(|| viewer.forward(now, send));
                    self.stats.forwarded += viewer.forwarded - forwarded;
                    self.stats.laps += viewer.laps - laps;
                    outcome
                }
                Peer::Publisher(publisher) => {
                    guarded(|| publisher.forward_keyframe_request(now, send))
                }
                Peer::Relay(relay) => guarded(|| relay.forward_keyframe_request(now)),
            };
            let slot = Slot {
                index: index as u32,
                generation,
            };
            self.after_drain(now, slot, outcome);
            if self.send.len() >= FLUSH_AT {
                self.flush();
            }
        }
    }

    /// Fires the timers due now, each once: a viewer that reschedules itself
    /// for `now` runs again next turn, not in this loop.
    fn fire_timers(&mut self, now: Instant) {
        while self.due.len() < TIMER_BUDGET {
            match self.timers.peek() {
                Some(Reverse(timer)) if timer.0 <= now => {
                    self.due.push(*timer);
                    self.timers.pop();
                }
                _ => break,
            }
        }
        let mut due = std::mem::take(&mut self.due);
        for (at, index, generation) in due.drain(..) {
            let slot = Slot { index, generation };
            let Some(entry) = entry_in(&mut self.slots, slot) else {
                continue;
            };
            if entry.scheduled != Some(at) {
                continue;
            }
            entry.scheduled = None;
            let send = &mut self.send;
            let outcome = guarded(|| entry.peer.handle_timeout(now, send));
            self.after_drain(now, slot, outcome);
        }
        self.due = due;
        if self
            .timers
            .peek()
            .is_some_and(|Reverse(timer)| timer.0 <= now)
        {
            self.more_work = true;
        }
    }

    /// Acts on what a viewer call returned; `None` means it panicked.
    fn after_drain(&mut self, now: Instant, slot: Slot, outcome: Option<DrainOutcome>) {
        let Some(outcome) = outcome else {
            tracing::error!(
                worker = self.index,
                ?slot,
                "a viewer's WebRTC stack panicked; viewer dropped"
            );
            self.remove_peer(now, slot, Removal::Drop);
            return;
        };
        self.stats.keyframe_requests += u64::from(outcome.keyframe_requests);
        if (outcome.keyframe_requests > 0 || outcome.published > 0)
            && let Some(entry) = entry_in(&mut self.slots, slot)
        {
            let stream = Arc::clone(entry.peer.stream());
            if outcome.keyframe_requests > 0 {
                stream.request_keyframe();
            }
            if outcome.published > 0 {
                self.wake_followers(&stream);
            }
        }
        if outcome.closed {
            self.remove_peer(now, slot, Removal::Drop);
            return;
        }
        if let Some(entry) = entry_in(&mut self.slots, slot)
            && matches!(entry.peer, Peer::Viewer(_))
            && entry.peer.is_connected()
            && !entry.reported_connected
        {
            entry.reported_connected = true;
            let id = PeerId {
                worker: self.index as u16,
                slot,
            };
            let _ = self.events.send(EngineEvent::ViewerConnected(id));
        }
        self.schedule(slot);
    }

    fn schedule(&mut self, slot: Slot) {
        let Some(entry) = self.entry_mut(slot) else {
            return;
        };
        let at = entry.peer.next_timeout();
        if entry.scheduled.is_none_or(|scheduled| at < scheduled) {
            entry.scheduled = Some(at);
            self.timers.push(Reverse((at, slot.index, slot.generation)));
        }
    }

    fn remove_peer(&mut self, now: Instant, slot: Slot, removal: Removal) {
        let Some(slot_entry) = self.slots.get_mut(slot.index as usize) else {
            return;
        };
        if slot_entry.generation != slot.generation {
            return;
        }
        let Some(mut entry) = slot_entry.entry.take() else {
            return;
        };
        slot_entry.generation = slot_entry.generation.wrapping_add(1);
        self.free.push(slot.index);
        if removal == Removal::Close {
            let send = &mut self.send;
            let _ = guarded(|| entry.peer.close(now, send));
        }
        self.demux.remove(slot, &entry.addresses);
        self.viewer_count.fetch_sub(1, Ordering::Relaxed);
        let id = PeerId {
            worker: self.index as u16,
            slot,
        };
        let stream = Arc::clone(entry.peer.stream());
        let event = match entry.peer {
            Peer::Viewer(_) => {
                stream.count_viewer(false);
                if let Some(followed) = self.following.get_mut(&stream.id()) {
                    followed.1 -= 1;
                    if followed.1 == 0 {
                        followed.0.unfollow(self.index);
                        self.following.remove(&stream.id());
                    }
                }
                EngineEvent::ViewerClosed(id)
            }
            Peer::Publisher(_) => {
                // Its viewers end with it (housekeeping sees the ended stream).
                stream.end();
                EngineEvent::PublisherClosed {
                    id,
                    channel: stream.channel().to_owned(),
                    stream_id: stream.id(),
                }
            }
            Peer::Relay(mut relay) => {
                let _ = self.poll.registry().deregister(relay.socket_mut());
                self.relays.remove(&relay.token());
                stream.end();
                EngineEvent::RelayClosed {
                    id,
                    channel: stream.channel().to_owned(),
                    stream_id: stream.id(),
                }
            }
        };
        let _ = self.events.send(event);
    }

    /// Drops peers that never connected, viewers whose stream ended, WHIP
    /// publishers and relays whose media stopped and relays nobody watches;
    /// reports FTL streams whose media stopped, and closes those silent far
    /// longer.
    fn housekeeping(&mut self, now: Instant) {
        let connect_timeout = self.config.viewer_connect_timeout;
        let media_timeout = self.config.ftl_media_timeout;
        let relay_grace = self.config.relay_idle_grace;
        let stale: Vec<Slot> = self
            .slots
            .iter_mut()
            .enumerate()
            .filter_map(|(index, s)| {
                let peer = &mut s.entry.as_mut()?.peer;
                let never_connected =
                    !peer.is_connected() && now.duration_since(peer.created()) > connect_timeout;
                // A WHIP publisher or a relay whose media stopped is gone; a
                // relay without local viewers is no longer needed.
                let silent = match peer {
                    Peer::Publisher(p) => {
                        p.is_connected() && now.duration_since(p.last_media()) > media_timeout
                    }
                    Peer::Relay(r) => {
                        (r.is_connected() && now.duration_since(r.last_media()) > media_timeout)
                            || r.idle_for(now, relay_grace)
                    }
                    Peer::Viewer(_) => false,
                };
                let orphaned = matches!(peer, Peer::Viewer(_)) && peer.stream().is_ended();
                (never_connected || silent || orphaned).then_some(Slot {
                    index: index as u32,
                    generation: s.generation,
                })
            })
            .collect();
        for slot in stale {
            self.remove_peer(now, slot, Removal::Close);
        }
        let timeout = self.config.ftl_media_timeout;
        let mut abandoned = Vec::new();
        for ingest in self.ingests.values_mut() {
            let silent = now.duration_since(ingest.ingest.last_datagram());
            let stream = ingest.ingest.stream();
            if silent > timeout && !ingest.timed_out {
                ingest.timed_out = true;
                let _ = self.events.send(EngineEvent::FtlMediaTimeout {
                    channel: stream.channel().to_owned(),
                    stream_id: stream.id(),
                });
            }
            if silent > timeout * SILENT_STREAM_CLOSE_FACTOR {
                abandoned.push(stream.id());
            }
        }
        for stream_id in abandoned {
            self.close_ingest(stream_id);
        }
        if let Some(tcp) = &mut self.ice_tcp {
            let slots = &mut self.slots;
            tcp.sweep(now, connect_timeout, self.poll.registry(), |slot| {
                entry_in(slots, slot).is_some()
            });
            // Connections left waiting when accepting last failed (no free
            // descriptor) get another chance.
            tcp.accept(now, self.poll.registry());
        }
    }
}

/// The live viewer in `slot`, if the slot still holds that generation.
fn entry_in(slots: &mut [SlotEntry], slot: Slot) -> Option<&mut PeerEntry> {
    slots
        .get_mut(slot.index as usize)
        .filter(|s| s.generation == slot.generation)?
        .entry
        .as_mut()
}
