//! Peer: what a worker's slot holds: a WHEP viewer, a WHIP publisher or an
//! edge relay's session with its origin, dispatched with one `match` per
//! method, and the worker's bookkeeping about it (demux addresses, its
//! scheduled timer, whether its connection was reported).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use crate::id::SocketId;
use crate::publisher::Publisher;
use crate::relay::Relay;
use crate::rtc_driver::{DrainOutcome, Route, RtcDriver};
use crate::stream::Stream;
use crate::udp::SendBatch;
use crate::viewer::Viewer;

/// A peer on this worker.
pub(crate) enum Peer {
    Viewer(Viewer),
    Publisher(Publisher),
    Relay(Relay),
}

impl Peer {
    fn driver(&self) -> &RtcDriver {
        match self {
            Self::Viewer(viewer) => viewer.driver(),
            Self::Publisher(publisher) => publisher.driver(),
            Self::Relay(relay) => relay.driver(),
        }
    }

    /// Whether the `Rtc` takes this datagram (STUN integrity, known remote).
    pub(crate) fn accepts(&self, now: Instant, route: Route, datagram: &[u8]) -> bool {
        self.driver().accepts(now, route, datagram)
    }

    /// Feeds one datagram (or ICE-TCP frame), then drains.
    pub(crate) fn handle_datagram(
        &mut self,
        now: Instant,
        route: Route,
        datagram: &[u8],
        send: &mut SendBatch,
    ) -> DrainOutcome {
        match self {
            Self::Viewer(viewer) => viewer.handle_datagram(now, route, datagram, send),
            Self::Publisher(publisher) => publisher.handle_datagram(now, route, datagram, send),
            Self::Relay(relay) => relay.handle_datagram(now, route, datagram, send),
        }
    }

    /// Feeds a due timeout, then drains.
    pub(crate) fn handle_timeout(&mut self, now: Instant, send: &mut SendBatch) -> DrainOutcome {
        match self {
            Self::Viewer(viewer) => viewer.handle_timeout(now, send),
            Self::Publisher(publisher) => publisher.handle_timeout(now, send),
            Self::Relay(relay) => relay.handle_timeout(now, send),
        }
    }

    /// Closes the `Rtc`, sending what a clean close sends.
    pub(crate) fn close(&mut self, now: Instant, send: &mut SendBatch) -> DrainOutcome {
        match self {
            Self::Viewer(viewer) => viewer.close(now, send),
            Self::Publisher(publisher) => publisher.close(now, send),
            Self::Relay(relay) => relay.close(now, send),
        }
    }

    /// What the peer does each turn besides its input: a viewer forwards
    /// its stream's new packets, a publisher or relay forwards a keyframe
    /// request upstream.
    pub(crate) fn forward(&mut self, now: Instant, send: &mut SendBatch) -> DrainOutcome {
        match self {
            Self::Viewer(viewer) => viewer.forward(now, send),
            Self::Publisher(publisher) => publisher.forward_keyframe_request(now, send),
            Self::Relay(relay) => relay.forward_keyframe_request(now, send),
        }
    }

    /// When [`handle_timeout`](Self::handle_timeout) is due.
    pub(crate) fn next_timeout(&self) -> Instant {
        match self {
            Self::Viewer(viewer) => viewer.next_timeout(),
            Self::Publisher(publisher) => publisher.next_timeout(),
            Self::Relay(relay) => relay.next_timeout(),
        }
    }

    /// Whether ICE and DTLS are up.
    pub(crate) fn is_connected(&self) -> bool {
        self.driver().is_connected()
    }

    /// When the peer was opened.
    pub(crate) fn created(&self) -> Instant {
        match self {
            Self::Viewer(viewer) => viewer.created(),
            Self::Publisher(publisher) => publisher.created(),
            Self::Relay(relay) => relay.created(),
        }
    }

    /// The stream it watches or feeds.
    pub(crate) fn stream(&self) -> &Arc<Stream> {
        match self {
            Self::Viewer(viewer) => viewer.stream(),
            Self::Publisher(publisher) => publisher.stream(),
            Self::Relay(relay) => relay.stream(),
        }
    }

    /// The socket of its own it talks from (a relay's), if any; the others
    /// talk from the worker's WebRTC sockets.
    pub(crate) fn own_socket(&self) -> Option<SocketId> {
        match self {
            Self::Relay(relay) => Some(relay.socket()),
            Self::Viewer(_) | Self::Publisher(_) => None,
        }
    }
}

/// A peer and what the worker keeps about it.
pub(crate) struct PeerEntry {
    pub peer: Peer,
    /// Its sources in the demux, to forget when it closes.
    pub addresses: Vec<SocketAddr>,
    /// The deadline its timer is queued for.
    pub scheduled: Option<Instant>,
    /// Whether its connection was reported (viewers only).
    pub reported_connected: bool,
}

impl PeerEntry {
    pub(crate) fn new(peer: Peer) -> Self {
        Self {
            peer,
            addresses: Vec::new(),
            scheduled: None,
            reported_connected: false,
        }
    }
}
