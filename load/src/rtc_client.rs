//! `RtcClient`: one str0m `Rtc` (full ICE) with a host candidate on its own
//! UDP socket, driven the plain sans-IO way on the caller's thread. The WHIP
//! publisher and the recording viewer build on it and differ only in the
//! events they keep.

use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Event, Input, Output, Rtc, RtcConfig};

/// Shortest wait for a datagram (a zero read timeout is an error).
const MIN_WAIT: Duration = Duration::from_micros(100);
/// Longest wait for a datagram in one step, so a caller's condition is
/// checked often even when str0m wants nothing for a while.
const MAX_WAIT: Duration = Duration::from_millis(5);

/// Why a str0m client could not be set up or negotiate.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// A socket failed.
    #[error("socket: {0}")]
    Io(#[from] std::io::Error),
    /// str0m could not build the offer or take the answer.
    #[error("negotiation: {0}")]
    Negotiation(String),
}

impl SessionError {
    /// A negotiation error from anything str0m reports.
    pub fn negotiation(error: impl std::fmt::Display) -> Self {
        Self::Negotiation(error.to_string())
    }
}

/// A str0m `Rtc` on its own UDP socket.
pub struct RtcClient {
    rtc: Rtc,
    socket: UdpSocket,
    local: SocketAddr,
    next_timeout: Instant,
    connected_at: Option<Instant>,
    sources: BTreeSet<SocketAddr>,
}

impl RtcClient {
    /// An `Rtc` built from `config` with a host candidate on a fresh socket
    /// bound to `bind`.
    pub fn new(config: RtcConfig, bind: IpAddr) -> Result<Self, SessionError> {
        let socket = UdpSocket::bind(SocketAddr::new(bind, 0))?;
        let local = socket.local_addr()?;
        let now = Instant::now();
        let mut rtc = config.build(now);
        rtc.add_local_candidate(Candidate::host(local, "udp").map_err(SessionError::negotiation)?);
        Ok(Self {
            rtc,
            socket,
            local,
            next_timeout: now,
            connected_at: None,
            sources: BTreeSet::new(),
        })
    }

    /// The `Rtc`.
    pub fn rtc(&self) -> &Rtc {
        &self.rtc
    }

    /// The `Rtc`, to negotiate or write media.
    pub fn rtc_mut(&mut self) -> &mut Rtc {
        &mut self.rtc
    }

    /// When ICE and DTLS completed.
    pub fn connected_at(&self) -> Option<Instant> {
        self.connected_at
    }

    /// Every address a datagram came from.
    pub fn sources(&self) -> &BTreeSet<SocketAddr> {
        &self.sources
    }

    /// One round: waits for a datagram until str0m's next timer, `until` or
    /// a few milliseconds, whichever comes first, and feeds it (a datagram
    /// `keep` refuses is lost, as on a network); then fires the timer if it
    /// is due and sends. Events go to `on_event`.
    pub fn step(
        &mut self,
        until: Instant,
        buf: &mut [u8],
        mut keep: impl FnMut(&[u8]) -> bool,
        mut on_event: impl FnMut(&mut Rtc, Event),
    ) {
        let now = Instant::now();
        let wait = self
            .next_timeout
            .min(until)
            .saturating_duration_since(now)
            .clamp(MIN_WAIT, MAX_WAIT);
        if self.socket.set_read_timeout(Some(wait)).is_ok()
            && let Ok((n, source)) = self.socket.recv_from(buf)
        {
            self.sources.insert(source);
            let datagram = &buf[..n];
            if keep(datagram)
                && let Ok(receive) = Receive::new(Protocol::Udp, source, self.local, datagram)
            {
                let _ = self
                    .rtc
                    .handle_input(Input::Receive(Instant::now(), receive));
                self.drain(&mut on_event);
            }
        }
        if Instant::now() >= self.next_timeout {
            self.flush(&mut on_event);
        }
    }

    /// Feeds the current time (what `write_rtp` needs before packets
    /// leave), then sends what str0m has to send.
    pub fn flush(&mut self, on_event: &mut impl FnMut(&mut Rtc, Event)) {
        let _ = self.rtc.handle_input(Input::Timeout(Instant::now()));
        self.drain(on_event);
    }

    fn drain(&mut self, on_event: &mut impl FnMut(&mut Rtc, Event)) {
        loop {
            match self.rtc.poll_output() {
                Ok(Output::Transmit(t)) => {
                    let _ = self.socket.send_to(&t.contents, t.destination);
                }
                Ok(Output::Event(Event::Connected)) => self.connected_at = Some(Instant::now()),
                Ok(Output::Event(event)) => on_event(&mut self.rtc, event),
                Ok(Output::Timeout(at)) => {
                    self.next_timeout = at;
                    return;
                }
                Err(_) => {
                    self.next_timeout = Instant::now() + Duration::from_millis(10);
                    return;
                }
            }
        }
    }
}
