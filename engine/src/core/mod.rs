//! WorkerCore: a worker's brain, sans-IO. Datagrams (with the socket they
//! arrived on and their route), inbox commands and timeouts go in with
//! `now`; transmits go into the caller's [`Sink`], lifecycle events out on
//! the engine's channel. It owns the peers (a slot table), their timers,
//! the demux, the FTL ingests and the followed streams; it touches no
//! socket and no `mio` type: the worker (`worker.rs`) reads the sockets,
//! hands the core what arrived, and sends what the core queued.
//!
//! Every call into a peer's `Rtc` (or anything a peer's bytes reach) runs in
//! [`guarded`], so a panic in it costs that peer, not the worker.

mod commands;
mod housekeeping;
mod peer;
mod sink;
mod slots;
#[cfg(test)]
mod tests;
mod timers;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crossbeam_channel::Sender;
use str0m::net::Protocol;

use crate::config::EngineConfig;
use crate::demux::{Demux, stun_local_ufrag};
use crate::event::EngineEvent;
use crate::ftl_media::FtlIngest;
use crate::id::{PeerId, Slot, SocketId};
use crate::negotiation::{LocalAddresses, RtcBase};
use crate::rtc_driver::{DrainOutcome, Route};
use crate::stats::WorkerStats;
use crate::stream::Stream;
use crate::udp::BATCH;

pub(crate) use sink::Sink;

use peer::{Peer, PeerEntry};
use slots::SlotTable;
use timers::Timers;

/// Most timers fired per turn.
const TIMER_BUDGET: usize = 4096;

/// How often idle viewers and silent FTL streams are checked.
const HOUSEKEEPING: Duration = Duration::from_millis(500);

/// Flush sends early once this many datagrams are queued.
pub(crate) const FLUSH_AT: usize = 4 * BATCH;

/// Runs a call into str0m (or anything a peer's bytes reach) so that a panic
/// in it costs that peer, not the worker and its other peers.
fn guarded<T>(call: impl FnOnce() -> T) -> Option<T> {
    catch_unwind(AssertUnwindSafe(call)).ok()
}

/// The batch a peer's sends go into: its own socket's, or the WebRTC one.
fn batch_for<'a>(sink: &'a mut impl Sink, peer: &Peer) -> &'a mut crate::udp::SendBatch {
    match peer.own_socket() {
        Some(socket) => sink.socket(socket),
        None => sink.webrtc(),
    }
}

/// How a peer leaves.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Removal {
    /// Send a clean close first.
    Close,
    /// Already closed, or its `Rtc` panicked: just drop it.
    Drop,
}

/// An FTL stream's ingest and whether its silence was reported.
struct Ingest {
    ingest: FtlIngest,
    timed_out: bool,
}

/// What a core is built from.
pub(crate) struct CoreSetup {
    /// The worker's index.
    pub index: usize,
    pub config: EngineConfig,
    pub rtc_base: RtcBase,
    /// The addresses new peers announce.
    pub addresses: LocalAddresses,
    pub events: Sender<EngineEvent>,
    /// Peers on this worker, read by the handle to place new ones.
    pub viewers: Arc<AtomicUsize>,
}

/// One worker's peers, ingests and timers.
pub(crate) struct WorkerCore {
    index: usize,
    config: EngineConfig,
    rtc_base: RtcBase,
    addresses: LocalAddresses,
    events: Sender<EngineEvent>,
    viewer_count: Arc<AtomicUsize>,
    slots: SlotTable<PeerEntry>,
    demux: Demux,
    timers: Timers,
    /// FTL media sockets' ingests.
    ingests: HashMap<SocketId, Ingest>,
    /// Relays' own sockets, to their slots.
    relays: HashMap<SocketId, Slot>,
    /// Viewers per followed stream, by stream id.
    following: HashMap<u64, (Arc<Stream>, usize)>,
    stats: WorkerStats,
    next_housekeeping: Instant,
}

impl WorkerCore {
    pub(crate) fn new(setup: CoreSetup, now: Instant) -> Self {
        Self {
            stats: WorkerStats {
                index: setup.index,
                address: Some(setup.addresses.udp),
                ..WorkerStats::default()
            },
            index: setup.index,
            config: setup.config,
            rtc_base: setup.rtc_base,
            addresses: setup.addresses,
            events: setup.events,
            viewer_count: setup.viewers,
            slots: SlotTable::new(),
            demux: Demux::default(),
            timers: Timers::new(),
            ingests: HashMap::new(),
            relays: HashMap::new(),
            following: HashMap::new(),
            next_housekeeping: now,
        }
    }

    /// The soonest moment the core has work: a peer's timer or housekeeping.
    pub(crate) fn next_deadline(&self) -> Instant {
        self.timers
            .next()
            .map_or(self.next_housekeeping, |t| t.min(self.next_housekeeping))
    }

    /// Counts one turn of the worker's loop and the time it spent working.
    pub(crate) fn count_turn(&mut self, busy: Duration) {
        self.stats.turns += 1;
        let busy = u64::try_from(busy.as_nanos()).unwrap_or(u64::MAX);
        self.stats.busy_nanos = self.stats.busy_nanos.saturating_add(busy);
    }

    /// Counts a datagram (or ICE-TCP connection) that matched no peer.
    pub(crate) fn count_unroutable(&mut self) {
        self.stats.unroutable += 1;
    }

    /// Hands over datagrams that arrived on `socket` (announced as `local`)
    /// from their sources: an FTL media socket's go to its ingest, a relay's
    /// to the relay, the WebRTC sockets' to the peer the demux names.
    pub(crate) fn handle_datagrams<'a>(
        &mut self,
        now: Instant,
        socket: SocketId,
        local: SocketAddr,
        datagrams: impl Iterator<Item = (SocketAddr, &'a [u8])>,
        sink: &mut impl Sink,
    ) {
        if let Some(ingest) = self.ingests.get_mut(&socket) {
            let send = sink.socket(socket);
            for (source, datagram) in datagrams {
                ingest.ingest.handle_datagram(now, source, datagram, send);
            }
            return;
        }
        if let Some(&slot) = self.relays.get(&socket) {
            // Everything on a relay's socket is from its origin.
            for (source, datagram) in datagrams {
                self.handle_peer_datagram(
                    now,
                    slot,
                    (Protocol::Udp, source, local),
                    datagram,
                    sink,
                );
            }
            return;
        }
        for (source, datagram) in datagrams {
            self.route(now, (Protocol::Udp, source, local), datagram, sink);
        }
    }

    /// Ends a read turn of `socket`: an FTL ingest sends its NACKs, and the
    /// workers following its stream are woken if it published.
    pub(crate) fn finish_read(&mut self, now: Instant, socket: SocketId, sink: &mut impl Sink) {
        let Some(ingest) = self.ingests.get_mut(&socket) else {
            return;
        };
        let published = ingest.ingest.finish_read(now, sink.socket(socket));
        for drop in ingest.ingest.take_drops() {
            tracing::trace!(worker = self.index, ?drop, "FTL datagram dropped");
        }
        if published > 0 {
            let stream = Arc::clone(ingest.ingest.stream());
            sink.wake_followers(&stream);
        }
    }

    /// Hands a datagram that arrived on a WebRTC socket over `route` to its peer.
    fn route(&mut self, now: Instant, route: Route, datagram: &[u8], sink: &mut impl Sink) {
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
        if !self.handle_peer_datagram(now, slot, route, datagram, sink) {
            self.stats.unroutable += 1;
        }
    }

    /// A STUN request for `slot`: checked by the peer's `Rtc` (message
    /// integrity), and only then is its source remembered.
    fn admit(&mut self, now: Instant, route: Route, datagram: &[u8], slot: Slot) -> Option<Slot> {
        let (_, source, _) = route;
        let entry = self.slots.get_mut(slot)?;
        if !guarded(|| entry.peer.accepts(now, route, datagram)).unwrap_or(false) {
            return None;
        }
        if self.demux.lookup(source) != Some(slot) {
            self.demux.insert(source, slot, &mut entry.addresses);
        }
        Some(slot)
    }

    /// Whether the peer in `slot` takes a datagram over `route` (STUN
    /// integrity): an ICE-TCP connection's first frame names its peer so.
    pub(crate) fn accepts(
        &mut self,
        now: Instant,
        slot: Slot,
        route: Route,
        datagram: &[u8],
    ) -> bool {
        self.slots.get_mut(slot).is_some_and(|entry| {
            guarded(|| entry.peer.accepts(now, route, datagram)).unwrap_or(false)
        })
    }

    /// Feeds one datagram (or ICE-TCP frame) to the peer in `slot`; false
    /// if there is no such peer.
    pub(crate) fn handle_peer_datagram(
        &mut self,
        now: Instant,
        slot: Slot,
        route: Route,
        datagram: &[u8],
        sink: &mut impl Sink,
    ) -> bool {
        let Some(entry) = self.slots.get_mut(slot) else {
            return false;
        };
        let send = batch_for(sink, &entry.peer);
        let outcome = guarded(|| entry.peer.handle_datagram(now, route, datagram, send));
        self.after_drain(now, slot, outcome, sink);
        true
    }

    /// Whether `slot` holds a peer.
    pub(crate) fn is_live(&self, slot: Slot) -> bool {
        self.slots.contains(slot)
    }

    /// Forwards every followed stream's new packets to its viewers, and
    /// viewers' keyframe requests upstream.
    pub(crate) fn forward(&mut self, now: Instant, sink: &mut impl Sink) {
        for index in 0..self.slots.capacity() {
            let Some(slot) = self.slots.at(index) else {
                continue;
            };
            let Some(entry) = self.slots.get_mut(slot) else {
                continue;
            };
            let send = batch_for(sink, &entry.peer);
            let outcome = match &mut entry.peer {
                Peer::Viewer(viewer) => {
                    let (forwarded, laps) = (viewer.forwarded, viewer.laps);
                    let outcome = guarded(|| viewer.forward(now, send));
                    self.stats.forwarded += viewer.forwarded - forwarded;
                    self.stats.laps += viewer.laps - laps;
                    outcome
                }
                peer => guarded(|| peer.forward(now, send)),
            };
            self.after_drain(now, slot, outcome, sink);
            if sink.webrtc().len() >= FLUSH_AT {
                sink.flush_webrtc();
            }
        }
    }

    /// Fires the timers due now, each once: a peer that reschedules itself
    /// for `now` runs again next turn, not in this loop. Returns whether
    /// more are due (the budget ran out).
    pub(crate) fn fire_timers(&mut self, now: Instant, sink: &mut impl Sink) -> bool {
        let due = self.timers.take_due(now, TIMER_BUDGET);
        for &(at, slot) in &due {
            let Some(entry) = self.slots.get_mut(slot) else {
                continue;
            };
            if entry.scheduled != Some(at) {
                continue;
            }
            entry.scheduled = None;
            let send = batch_for(sink, &entry.peer);
            let outcome = guarded(|| entry.peer.handle_timeout(now, send));
            self.after_drain(now, slot, outcome, sink);
        }
        self.timers.recycle(due);
        self.timers.next().is_some_and(|at| at <= now)
    }

    /// Acts on what a peer call returned; `None` means it panicked.
    fn after_drain(
        &mut self,
        now: Instant,
        slot: Slot,
        outcome: Option<DrainOutcome>,
        sink: &mut impl Sink,
    ) {
        let Some(outcome) = outcome else {
            tracing::error!(
                worker = self.index,
                ?slot,
                "a viewer's WebRTC stack panicked; viewer dropped"
            );
            self.remove_peer(now, slot, Removal::Drop, sink);
            return;
        };
        self.stats.keyframe_requests += u64::from(outcome.keyframe_requests);
        if (outcome.keyframe_requests > 0 || outcome.published > 0)
            && let Some(entry) = self.slots.get_mut(slot)
        {
            let stream = Arc::clone(entry.peer.stream());
            if outcome.keyframe_requests > 0 {
                stream.request_keyframe();
            }
            if outcome.published > 0 {
                sink.wake_followers(&stream);
            }
        }
        if outcome.closed {
            self.remove_peer(now, slot, Removal::Drop, sink);
            return;
        }
        if let Some(entry) = self.slots.get_mut(slot)
            && matches!(entry.peer, Peer::Viewer(_))
            && entry.peer.is_connected()
            && !entry.reported_connected
        {
            entry.reported_connected = true;
            let id = self.peer_id(slot);
            let _ = self.events.send(EngineEvent::ViewerConnected(id));
        }
        self.schedule(slot);
    }

    fn peer_id(&self, slot: Slot) -> PeerId {
        PeerId {
            worker: self.index as u16,
            slot,
        }
    }

    /// Queues the peer's next timeout, unless an earlier one is queued.
    fn schedule(&mut self, slot: Slot) {
        let Some(entry) = self.slots.get_mut(slot) else {
            return;
        };
        let at = entry.peer.next_timeout();
        if entry.scheduled.is_none_or(|scheduled| at < scheduled) {
            entry.scheduled = Some(at);
            self.timers.push(at, slot);
        }
    }

    /// Drops a peer at once (its ICE-TCP connection fell too far behind).
    pub(crate) fn drop_peer(&mut self, now: Instant, slot: Slot, sink: &mut impl Sink) {
        self.remove_peer(now, slot, Removal::Drop, sink);
    }

    fn remove_peer(&mut self, now: Instant, slot: Slot, removal: Removal, sink: &mut impl Sink) {
        let Some(mut entry) = self.slots.remove(slot) else {
            return;
        };
        if removal == Removal::Close {
            let send = batch_for(sink, &entry.peer);
            let _ = guarded(|| entry.peer.close(now, send));
        }
        self.demux.remove(slot, &entry.addresses);
        self.viewer_count.fetch_sub(1, Ordering::Relaxed);
        let id = self.peer_id(slot);
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
            Peer::Relay(relay) => {
                self.relays.remove(&relay.socket());
                sink.release(relay.socket());
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

    /// Stops reading the FTL stream `stream_id`; its stream ends.
    fn close_ingest(&mut self, stream_id: u64, sink: &mut impl Sink) {
        let socket = self
            .ingests
            .iter()
            .find(|(_, i)| i.ingest.stream().id() == stream_id)
            .map(|(socket, _)| *socket);
        if let Some(ingest) = socket.and_then(|socket| self.ingests.remove(&socket)) {
            ingest.ingest.stream().end();
        }
        if let Some(socket) = socket {
            sink.release(socket);
        }
    }
}
