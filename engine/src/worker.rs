//! Worker: one thread, one `mio::Poll` loop, owning everything it touches:
//! its WebRTC socket and viewers, its FTL media sockets, a timer queue and an
//! inbox. `run()` reads top to bottom: poll to the nearest deadline →
//! receive → inbox → rings to viewers → timers → flush sends.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use mio::{Events, Interest, Poll, Token};
use str0m::RtcConfig;

use crate::demux::{Demux, Slot, stun_local_ufrag};
use crate::ftl_media::FtlIngest;
use crate::inbox::Command;
use crate::peer::{DrainOutcome, Viewer, ViewerError};
use crate::stream::Stream;
use crate::udp::{BATCH, RecvBatch, SendBatch};
use crate::{EngineConfig, EngineError, EngineEvent, ViewerId, WorkerStats};

/// The WebRTC socket's token.
const SOCKET: Token = Token(0);
/// The inbox waker's token.
pub(crate) const WAKER: Token = Token(1);
/// FTL media sockets get tokens from here on.
const FIRST_INGEST: usize = 2;

/// Most datagrams read from the WebRTC socket per turn.
const WEBRTC_READ_BUDGET: usize = 16 * BATCH;

/// Longest sleep when nothing is due (housekeeping runs at least this often).
const MAX_SLEEP: Duration = Duration::from_millis(500);

/// How often idle viewers and silent FTL streams are checked.
const HOUSEKEEPING: Duration = Duration::from_millis(500);

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

/// What a worker is built from.
pub(crate) struct WorkerSetup {
    pub index: usize,
    pub poll: Poll,
    pub socket: std::net::UdpSocket,
    pub address: SocketAddr,
    pub inbox: Receiver<Command>,
    pub wakers: Arc<[Arc<mio::Waker>]>,
    pub events: Sender<EngineEvent>,
    pub rtc_base: RtcBase,
    pub viewers: Arc<AtomicUsize>,
    pub config: EngineConfig,
}

struct ViewerEntry {
    viewer: Viewer,
    addresses: Vec<SocketAddr>,
    scheduled: Option<Instant>,
    reported_connected: bool,
}

struct SlotEntry {
    generation: u32,
    entry: Option<ViewerEntry>,
}

struct Ingest {
    ingest: FtlIngest,
    timed_out: bool,
}

pub(crate) struct Worker {
    index: usize,
    poll: Poll,
    socket: mio::net::UdpSocket,
    address: SocketAddr,
    inbox: Receiver<Command>,
    wakers: Arc<[Arc<mio::Waker>]>,
    events: Sender<EngineEvent>,
    rtc_base: RtcBase,
    viewer_count: Arc<AtomicUsize>,
    config: EngineConfig,
    slots: Vec<SlotEntry>,
    free: Vec<u32>,
    demux: Demux,
    timers: BinaryHeap<Reverse<(Instant, u32, u32)>>,
    ingests: HashMap<Token, Ingest>,
    next_token: usize,
    /// Viewers per followed stream, by stream id.
    following: HashMap<u64, (Arc<Stream>, usize)>,
    send: SendBatch,
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
        Ok(Self {
            index: setup.index,
            poll: setup.poll,
            socket,
            address: setup.address,
            inbox: setup.inbox,
            wakers: setup.wakers,
            events: setup.events,
            rtc_base: setup.rtc_base,
            viewer_count: setup.viewers,
            config: setup.config,
            slots: Vec::new(),
            free: Vec::new(),
            demux: Demux::default(),
            timers: BinaryHeap::new(),
            ingests: HashMap::new(),
            next_token: FIRST_INGEST,
            following: HashMap::new(),
            send: SendBatch::new(true),
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
            for event in events.iter() {
                match event.token() {
                    SOCKET => self.receive_webrtc(now, &mut recv),
                    WAKER => {}
                    token => self.receive_ftl(now, token, &mut recv),
                }
            }
            // The WebRTC socket is edge-triggered: a turn that stopped at the
            // budget left datagrams behind, so look again next turn.
            if !self.handle_inbox(now) {
                return;
            }
            self.forward(now);
            self.fire_timers(now);
            if now >= self.next_housekeeping {
                self.housekeeping(now);
                self.next_housekeeping = now + HOUSEKEEPING;
            }
            self.send.flush(&self.socket);
        }
    }

    fn next_deadline(&self) -> Instant {
        let timer = self.timers.peek().map(|Reverse((at, _, _))| *at);
        timer.map_or(self.next_housekeeping, |t| t.min(self.next_housekeeping))
    }

    fn receive_webrtc(&mut self, now: Instant, recv: &mut RecvBatch) {
        let mut read = 0;
        loop {
            if read >= WEBRTC_READ_BUDGET {
                self.more_work = true;
                self.poll_webrtc_again();
                return;
            }
            match recv.recv(&self.socket) {
                Ok(count) => read += count,
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => return,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                Err(error) => {
                    tracing::debug!(worker = self.index, %error, "WebRTC socket read failed");
                    return;
                }
            }
            for (source, datagram) in recv.datagrams() {
                self.route(now, source, datagram);
            }
            if self.send.len() >= FLUSH_AT {
                self.send.flush(&self.socket);
            }
        }
    }

    /// Registers the socket again so an edge fires even if nothing new arrives.
    fn poll_webrtc_again(&mut self) {
        let _ = self
            .poll
            .registry()
            .reregister(&mut self.socket, SOCKET, Interest::READABLE);
    }

    fn route(&mut self, now: Instant, source: SocketAddr, datagram: &[u8]) {
        let slot = match self.demux.lookup(source) {
            Some(slot) => Some(slot),
            None => self.admit(now, source, datagram),
        };
        let Some(slot) = slot else {
            self.stats.unroutable += 1;
            return;
        };
        let address = self.address;
        let Some(entry) = entry_in(&mut self.slots, slot) else {
            self.stats.unroutable += 1;
            return;
        };
        let outcome = entry
            .viewer
            .handle_datagram(now, source, address, datagram, &mut self.send);
        self.after_drain(slot, outcome);
    }

    /// A STUN request from a new address: route it by our ufrag, and remember
    /// the address once the viewer's `Rtc` has checked its integrity.
    fn admit(&mut self, now: Instant, source: SocketAddr, datagram: &[u8]) -> Option<Slot> {
        let slot = stun_local_ufrag(datagram)?;
        let address = self.address;
        let entry = entry_in(&mut self.slots, slot)?;
        if !entry.viewer.accepts(now, source, address, datagram) {
            return None;
        }
        self.demux.insert(source, slot, &mut entry.addresses);
        Some(slot)
    }

    fn entry_mut(&mut self, slot: Slot) -> Option<&mut ViewerEntry> {
        entry_in(&mut self.slots, slot)
    }

    fn receive_ftl(&mut self, now: Instant, token: Token, recv: &mut RecvBatch) {
        let Some(ingest) = self.ingests.get_mut(&token) else {
            return;
        };
        match ingest.ingest.read(now, recv) {
            Ok(outcome) => {
                if outcome.more {
                    self.more_work = true;
                    let _ = self.poll.registry().reregister(
                        ingest.ingest.socket_mut(),
                        token,
                        Interest::READABLE,
                    );
                }
                for drop in ingest.ingest.take_drops() {
                    tracing::trace!(worker = self.index, ?drop, "FTL datagram dropped");
                }
                if outcome.published > 0 {
                    let followers = ingest.ingest.stream().followers();
                    for worker in 0..self.wakers.len() {
                        if worker != self.index && followers & (1 << worker) != 0 {
                            let _ = self.wakers[worker].wake();
                        }
                    }
                }
            }
            Err(error) => tracing::debug!(worker = self.index, %error, "FTL socket read failed"),
        }
    }

    /// Runs every command waiting; false once told to shut down.
    fn handle_inbox(&mut self, now: Instant) -> bool {
        while let Ok(command) = self.inbox.try_recv() {
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
                    match self.poll.registry().register(
                        ingest.socket_mut(),
                        token,
                        Interest::READABLE,
                    ) {
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
                Command::CloseFtlMedia { stream_id } => {
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
                Command::OpenViewer {
                    stream,
                    offer,
                    reply,
                } => {
                    let _ = reply.send(self.open_viewer(now, stream, offer));
                }
                Command::AcceptAnswer {
                    viewer,
                    answer,
                    reply,
                } => {
                    let result = match self.entry_mut(viewer.slot) {
                        Some(entry) => entry
                            .viewer
                            .accept_answer(&answer)
                            .map_err(EngineError::from),
                        None => Err(EngineError::NoSuchViewer),
                    };
                    // A failed negotiation leaves the viewer unusable; a
                    // malformed or repeated answer leaves it as it was.
                    if let Err(EngineError::Viewer(
                        ViewerError::Negotiation(_) | ViewerError::NoH264(_),
                    )) = result
                    {
                        self.remove_viewer(viewer.slot);
                    }
                    let _ = reply.send(result);
                }
                Command::CloseViewer { viewer } => {
                    if let Some(entry) = self.entry_mut(viewer.slot) {
                        let outcome = entry.viewer.close();
                        self.after_drain(viewer.slot, outcome);
                    }
                }
                Command::Stats { reply } => {
                    let mut stats = self.stats.clone();
                    stats.send = self.send.stats();
                    stats.ftl_streams = self.ingests.len();
                    let live = self.slots.iter().filter_map(|s| s.entry.as_ref());
                    let (viewers, connected) = live.fold((0, 0), |(all, connected), e| {
                        (all + 1, connected + usize::from(e.viewer.is_connected()))
                    });
                    stats.viewers = viewers;
                    stats.connected_viewers = connected;
                    let _ = reply.send(stats);
                }
                Command::Shutdown => return false,
            }
        }
        true
    }

    fn open_viewer(
        &mut self,
        now: Instant,
        stream: Arc<Stream>,
        offer: Option<String>,
    ) -> Result<(ViewerId, String), EngineError> {
        if stream.is_ended() {
            return Err(EngineError::NoSuchStream);
        }
        let index = match self.free.pop() {
            Some(index) => index,
            None => {
                self.slots.push(SlotEntry {
                    generation: 0,
                    entry: None,
                });
                u32::try_from(self.slots.len() - 1).map_err(|_| EngineError::TooManyViewers)?
            }
        };
        let generation = self.slots[index as usize].generation;
        let slot = Slot { index, generation };
        let base = &self.rtc_base.config;
        let opened = match offer {
            Some(offer) => Viewer::answer(
                now,
                base,
                slot.ufrag(),
                self.address,
                Arc::clone(&stream),
                &offer,
            ),
            None => Viewer::offer(now, base, slot.ufrag(), self.address, Arc::clone(&stream)),
        };
        let (viewer, sdp) = match opened {
            Ok(opened) => opened,
            Err(error) => {
                self.free.push(index);
                return Err(error.into());
            }
        };
        self.slots[index as usize].entry = Some(ViewerEntry {
            viewer,
            addresses: Vec::new(),
            scheduled: None,
            reported_connected: false,
        });
        self.viewer_count.fetch_add(1, Ordering::Relaxed);
        let followed = self
            .following
            .entry(stream.id())
            .or_insert_with(|| (Arc::clone(&stream), 0));
        followed.1 += 1;
        stream.follow(self.index);
        self.schedule(slot);
        let id = ViewerId {
            worker: self.index as u16,
            slot,
        };
        Ok((id, sdp))
    }

    fn forward(&mut self, now: Instant) {
        for index in 0..self.slots.len() {
            let generation = self.slots[index].generation;
            let Some(entry) = self.slots[index].entry.as_mut() else {
                continue;
            };
            let before = entry.viewer.forwarded;
            let outcome = entry.viewer.forward(now, &mut self.send);
            self.stats.forwarded += entry.viewer.forwarded - before;
            let slot = Slot {
                index: index as u32,
                generation,
            };
            self.after_drain(slot, outcome);
            if self.send.len() >= FLUSH_AT {
                self.send.flush(&self.socket);
            }
        }
    }

    fn fire_timers(&mut self, now: Instant) {
        while let Some(Reverse((at, index, generation))) = self.timers.peek().copied() {
            if at > now {
                break;
            }
            self.timers.pop();
            let slot = Slot { index, generation };
            let Some(entry) = entry_in(&mut self.slots, slot) else {
                continue;
            };
            if entry.scheduled != Some(at) {
                continue;
            }
            entry.scheduled = None;
            let outcome = entry.viewer.handle_timeout(now, &mut self.send);
            self.after_drain(slot, outcome);
        }
    }

    fn after_drain(&mut self, slot: Slot, outcome: DrainOutcome) {
        self.stats.keyframe_requests += u64::from(outcome.keyframe_requests);
        if outcome.closed {
            self.remove_viewer(slot);
            return;
        }
        if let Some(entry) = entry_in(&mut self.slots, slot)
            && entry.viewer.is_connected()
            && !entry.reported_connected
        {
            entry.reported_connected = true;
            let id = ViewerId {
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
        let at = entry.viewer.next_timeout();
        if entry.scheduled.is_none_or(|scheduled| at < scheduled) {
            entry.scheduled = Some(at);
            self.timers.push(Reverse((at, slot.index, slot.generation)));
        }
    }

    fn remove_viewer(&mut self, slot: Slot) {
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
        entry.viewer.close();
        self.demux.remove(&entry.addresses);
        self.viewer_count.fetch_sub(1, Ordering::Relaxed);
        let stream_id = entry.viewer.stream().id();
        if let Some(followed) = self.following.get_mut(&stream_id) {
            followed.1 -= 1;
            if followed.1 == 0 {
                followed.0.unfollow(self.index);
                self.following.remove(&stream_id);
            }
        }
        let _ = self.events.send(EngineEvent::ViewerClosed(ViewerId {
            worker: self.index as u16,
            slot,
        }));
    }

    /// Drops viewers that never connected or whose stream ended, and reports
    /// FTL streams whose media stopped.
    fn housekeeping(&mut self, now: Instant) {
        let connect_timeout = self.config.viewer_connect_timeout;
        let stale: Vec<Slot> = self
            .slots
            .iter()
            .enumerate()
            .filter_map(|(index, s)| {
                let entry = s.entry.as_ref()?;
                let viewer = &entry.viewer;
                let never_connected = !viewer.is_connected()
                    && now.duration_since(viewer.created()) > connect_timeout;
                (never_connected || viewer.stream().is_ended()).then_some(Slot {
                    index: index as u32,
                    generation: s.generation,
                })
            })
            .collect();
        for slot in stale {
            self.remove_viewer(slot);
        }
        for ingest in self.ingests.values_mut() {
            let silent =
                now.duration_since(ingest.ingest.last_datagram()) > self.config.ftl_media_timeout;
            if silent && !ingest.timed_out {
                ingest.timed_out = true;
                let stream = ingest.ingest.stream();
                let _ = self.events.send(EngineEvent::FtlMediaTimeout {
                    channel: stream.channel().to_owned(),
                    stream_id: stream.id(),
                });
            }
        }
    }
}

/// The live viewer in `slot`, if the slot still holds that generation.
fn entry_in(slots: &mut [SlotEntry], slot: Slot) -> Option<&mut ViewerEntry> {
    slots
        .get_mut(slot.index as usize)
        .filter(|s| s.generation == slot.generation)?
        .entry
        .as_mut()
}
