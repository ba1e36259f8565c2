//! RtcDriver: what every peer does with its str0m `Rtc`, viewer, publisher
//! or relay: feed one input, drain `poll_output` to a future timeout
//! (re-feeding timeouts already due, since `write_rtp` only queues), and
//! close cleanly. The peers differ only in the events they act on; what a
//! drain tells the worker is a [`DrainOutcome`].

use std::net::SocketAddr;
use std::time::Instant;

use str0m::net::{Protocol, Receive};
use str0m::{Event, IceConnectionState, Input, Output, Rtc};

use crate::udp::SendBatch;

/// Most due timeouts re-fed in one drain before giving up for this turn.
const MAX_REFEEDS: usize = 8;

/// How a datagram arrived: over UDP or an ICE-TCP connection, from where,
/// to which of our addresses.
pub type Route = (Protocol, SocketAddr, SocketAddr);

/// What a peer wants its worker to know after a drain.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct DrainOutcome {
    /// Keyframe requests (PLI/FIR) the viewer sent.
    pub keyframe_requests: u32,
    /// The peer is gone: close and remove it.
    pub closed: bool,
    /// Media packets a publisher put into the rings.
    pub published: u32,
}

impl DrainOutcome {
    /// The outcome of a peer that is gone.
    pub fn closed() -> Self {
        Self {
            closed: true,
            ..Self::default()
        }
    }
}

/// One peer's `Rtc` and the state every peer keeps about it.
pub struct RtcDriver {
    pub(crate) rtc: Rtc,
    pub(crate) next_timeout: Instant,
    pub(crate) connected: bool,
    pub(crate) closed: bool,
}

impl RtcDriver {
    pub(crate) fn new(rtc: Rtc, now: Instant) -> Self {
        Self {
            rtc,
            next_timeout: now,
            connected: false,
            closed: false,
        }
    }

    /// Whether ICE and DTLS are up.
    pub(crate) fn is_connected(&self) -> bool {
        self.connected
    }

    /// Whether the `Rtc` takes this datagram (STUN integrity, known remote),
    /// arrived over `route`: protocol, source and our destination address.
    pub(crate) fn accepts(
        &self,
        now: Instant,
        (proto, source, destination): Route,
        datagram: &[u8],
    ) -> bool {
        match Receive::new(proto, source, destination, datagram) {
            Ok(receive) => self.rtc.accepts(&Input::Receive(now, receive)),
            Err(_) => false,
        }
    }

    /// Feeds one datagram. A record str0m refuses (spoofed, or mangled on the
    /// way) is dropped; returns false only if the `Rtc` is dead.
    pub(crate) fn receive(
        &mut self,
        now: Instant,
        (proto, source, destination): Route,
        datagram: &[u8],
    ) -> bool {
        let Ok(receive) = Receive::new(proto, source, destination, datagram) else {
            return true;
        };
        self.rtc.handle_input(Input::Receive(now, receive)).is_ok() || self.rtc.is_alive()
    }

    /// Feeds a timeout; returns false if the `Rtc` failed.
    pub(crate) fn timeout(&mut self, now: Instant) -> bool {
        self.rtc.handle_input(Input::Timeout(now)).is_ok()
    }

    /// Drains to a future timeout, queueing datagrams in `send` and handing
    /// every event but the connection-state ones to `on_event` (with the
    /// `Rtc`, for lookups). Returns true if the peer is now closed.
    pub(crate) fn drain(
        &mut self,
        now: Instant,
        send: &mut SendBatch,
        mut on_event: impl FnMut(&mut Rtc, Event),
    ) -> bool {
        let mut refeeds = 0;
        loop {
            match self.rtc.poll_output() {
                Ok(Output::Transmit(transmit)) if transmit.proto == Protocol::Tcp => {
                    send.push_tcp(transmit.destination, transmit.contents.into())
                }
                Ok(Output::Transmit(transmit)) => send.push_from(
                    transmit.source,
                    transmit.destination,
                    transmit.contents.into(),
                ),
                Ok(Output::Event(Event::Connected)) => self.connected = true,
                Ok(Output::Event(
                    Event::IceConnectionStateChange(IceConnectionState::Disconnected)
                    | Event::Closed,
                )) => {
                    self.close(now, send);
                    return true;
                }
                Ok(Output::Event(event)) => on_event(&mut self.rtc, event),
                Ok(Output::Timeout(at)) => {
                    if at <= now && refeeds < MAX_REFEEDS && !self.closed {
                        refeeds += 1;
                        if !self.timeout(now) {
                            self.close(now, send);
                            return true;
                        }
                        continue;
                    }
                    self.next_timeout = at.max(now);
                    break;
                }
                Err(_) => {
                    self.close(now, send);
                    return true;
                }
            }
        }
        if !self.rtc.is_alive() && !self.closed {
            self.close(now, send);
        }
        self.closed
    }

    /// Closes the `Rtc`, sending what a clean close sends (close_notify).
    pub(crate) fn close(&mut self, now: Instant, send: &mut SendBatch) {
        if self.closed {
            return;
        }
        self.closed = true;
        if self.rtc.close().is_ok() {
            self.drain(now, send, |_, _| {});
        }
        self.rtc.disconnect();
    }
}
