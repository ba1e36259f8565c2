//! Relay: an edge node's upstream session. A receive-only [`Publisher`] that
//! pulls a stream from its origin node over WHEP (we offer, the origin
//! answers) and feeds a local stream's rings, so local viewers join it as
//! any other. It has its own UDP socket: its remote is another node's shared
//! WebRTC port, which several relays may pull from at once, so the worker's
//! source-address demux could not tell them apart.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::Token;
use str0m::RtcConfig;

use crate::peer::{DrainOutcome, ViewerError};
use crate::publisher::Publisher;
use crate::ring::RingWriter;
use crate::rtc_io::{RtcIo, RtcPeer};
use crate::stream::Stream;
use crate::udp::SendBatch;

/// One upstream session and its socket.
pub struct Relay {
    publisher: Publisher,
    socket: mio::net::UdpSocket,
    /// The address announced in our candidate: the public IP and the socket's port.
    local: SocketAddr,
    token: Token,
    /// Its own sends, flushed to its own socket after every drain.
    send: SendBatch,
    /// Since when the stream has had no local viewer (counted once connected).
    idle_since: Option<Instant>,
}

impl Relay {
    /// A relay of `stream` on `socket` (already bound), announcing
    /// `local` as its candidate; returns our offer for the origin.
    pub fn offer(
        now: Instant,
        base: &RtcConfig,
        ufrag: String,
        (socket, local, token): (std::net::UdpSocket, SocketAddr, Token),
        stream: Arc<Stream>,
        writers: (Option<RingWriter>, Option<RingWriter>),
    ) -> Result<(Self, String), ViewerError> {
        let (publisher, offer) = Publisher::offer(now, base, ufrag, local, stream, writers)?;
        let relay = Self {
            publisher,
            socket: mio::net::UdpSocket::from_std(socket),
            local,
            token,
            send: SendBatch::new(false),
            idle_since: None,
        };
        Ok((relay, offer))
    }

    /// Completes the session with the origin's answer.
    pub fn accept_answer(&mut self, answer: &str) -> Result<(), ViewerError> {
        self.publisher.accept_answer(answer)
    }

    /// The socket, to register with the worker's poll.
    pub fn socket_mut(&mut self) -> &mut mio::net::UdpSocket {
        &mut self.socket
    }

    /// The address our candidate announces (where the origin sends to).
    pub fn local(&self) -> SocketAddr {
        self.local
    }

    /// The poll token of its socket.
    pub fn token(&self) -> Token {
        self.token
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
    pub fn forward_keyframe_request(&mut self, now: Instant) -> DrainOutcome {
        let outcome = self.publisher.forward_keyframe_request(now, &mut self.send);
        self.flush();
        outcome
    }

    /// Sends what the session queued from its own socket.
    fn flush(&mut self) {
        if !self.send.is_empty() {
            self.send.flush(&self.socket);
        }
    }

    /// Reads one batch of datagrams' worth from the socket; the caller feeds them.
    pub fn recv(&self, batch: &mut crate::udp::RecvBatch) -> io::Result<usize> {
        batch.recv(&self.socket)
    }
}

/// The worker drives a relay like any peer, but whatever the relay sends
/// leaves from its own socket, not the worker's: the batch the worker passes
/// in is not used.
impl RtcPeer for Relay {
    fn io(&self) -> &RtcIo {
        self.publisher.io()
    }

    fn io_mut(&mut self) -> &mut RtcIo {
        self.publisher.io_mut()
    }

    fn drain(&mut self, now: Instant, _worker: &mut SendBatch) -> DrainOutcome {
        let outcome = self.publisher.drain(now, &mut self.send);
        self.flush();
        outcome
    }

    fn close(&mut self, now: Instant, _worker: &mut SendBatch) -> DrainOutcome {
        let outcome = self.publisher.close(now, &mut self.send);
        self.flush();
        outcome
    }
}
