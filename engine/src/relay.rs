//! Relay: an edge node's upstream session. A receive-only [`Publisher`] that
//! pulls a stream from its origin node over WHEP (we offer, the origin
//! answers) and feeds a local stream's rings, so local viewers join it as
//! any other. It talks from a UDP socket of its own (the worker's, known
//! here by its [`SocketId`]): its remote is another node's shared WebRTC
//! port, which several relays may pull from at once, so the worker's
//! source-address demux could not tell them apart.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use str0m::RtcConfig;

use crate::error::ViewerError;
use crate::id::SocketId;
use crate::publisher::Publisher;
use crate::ring::Writers;
use crate::rtc_driver::{DrainOutcome, Route, RtcDriver};
use crate::stream::Stream;
use crate::udp::SendBatch;

/// One upstream session. Everything it sends goes into the batch of its
/// own socket, which its caller passes in.
pub struct Relay {
    publisher: Publisher,
    socket: SocketId,
    /// Since when the stream has had no local viewer (counted once connected).
    idle_since: Option<Instant>,
}

impl Relay {
    /// A relay of `stream` talking from `socket`, announced as `local`;
    /// returns our offer for the origin.
    pub(crate) fn offer(
        now: Instant,
        base: &RtcConfig,
        ufrag: String,
        (socket, local): (SocketId, SocketAddr),
        stream: Arc<Stream>,
        writers: Writers,
    ) -> Result<(Self, String), ViewerError> {
        let (publisher, offer) = Publisher::offer(now, base, ufrag, local, stream, writers)?;
        let relay = Self {
            publisher,
            socket,
            idle_since: None,
        };
        Ok((relay, offer))
    }

    /// Completes the session with the origin's answer.
    pub fn accept_answer(&mut self, answer: &str) -> Result<(), ViewerError> {
        self.publisher.accept_answer(answer)
    }

    /// The socket it talks from.
    pub fn socket(&self) -> SocketId {
        self.socket
    }

    /// The stream it feeds.
    pub fn stream(&self) -> &Arc<Stream> {
        self.publisher.stream()
    }

    /// When the relay was opened.
    pub fn created(&self) -> Instant {
        self.publisher.created()
    }

    /// When the last media packet arrived from the origin.
    pub fn last_media(&self) -> Instant {
        self.publisher.last_media()
    }

    /// Whether ICE and DTLS are up.
    pub fn is_connected(&self) -> bool {
        self.publisher.is_connected()
    }

    /// Whether the stream has had no local viewer for `grace` since the
    /// relay connected: it is then no longer needed. (Until it connects, the
    /// connect timeout bounds it.)
    pub fn idle_for(&mut self, now: Instant, grace: Duration) -> bool {
        if !self.is_connected() || self.stream().viewers() > 0 {
            self.idle_since = None;
            return false;
        }
        let since = *self.idle_since.get_or_insert(now);
        now.saturating_duration_since(since) >= grace
    }

    /// Sends a keyframe request upstream when a local viewer asked for one.
    pub fn forward_keyframe_request(&mut self, now: Instant, send: &mut SendBatch) -> DrainOutcome {
        self.publisher.forward_keyframe_request(now, send)
    }

    /// Feeds one datagram from the origin, then drains.
    pub fn handle_datagram(
        &mut self,
        now: Instant,
        route: Route,
        datagram: &[u8],
        send: &mut SendBatch,
    ) -> DrainOutcome {
        self.publisher.handle_datagram(now, route, datagram, send)
    }

    /// Feeds a due timeout, then drains.
    pub fn handle_timeout(&mut self, now: Instant, send: &mut SendBatch) -> DrainOutcome {
        self.publisher.handle_timeout(now, send)
    }

    /// Closes the session, sending what a clean close sends.
    pub fn close(&mut self, now: Instant, send: &mut SendBatch) -> DrainOutcome {
        self.publisher.close(now, send)
    }

    /// When [`handle_timeout`](Self::handle_timeout) is due.
    pub fn next_timeout(&self) -> Instant {
        self.publisher.next_timeout()
    }

    /// The `Rtc` driver, for routing checks.
    pub(crate) fn driver(&self) -> &RtcDriver {
        self.publisher.driver()
    }
}
