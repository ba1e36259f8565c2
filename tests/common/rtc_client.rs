//! RtcClient: a str0m `Rtc` (full ICE) on its own loopback UDP socket, driven
//! the plain sans-IO way. The test viewer and the WHIP publisher build on it
//! and differ only in the events they keep.

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Event, Input, Output, Rtc, RtcConfig};

pub struct RtcClient {
    pub rtc: Rtc,
    socket: UdpSocket,
    local: SocketAddr,
    next_timeout: Instant,
    pub connected_at: Option<Instant>,
    /// Every address a datagram came from.
    pub sources: std::collections::BTreeSet<SocketAddr>,
}

impl RtcClient {
    /// An `Rtc` built from `config` with a host candidate on a fresh socket.
    pub fn new(config: RtcConfig) -> Self {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket.set_nonblocking(true).unwrap();
        let local = socket.local_addr().unwrap();
        let now = Instant::now();
        let mut rtc = config.build(now);
        rtc.add_local_candidate(Candidate::host(local, "udp").unwrap());
        Self {
            rtc,
            socket,
            local,
            next_timeout: now,
            connected_at: None,
            sources: std::collections::BTreeSet::new(),
        }
    }

    /// One round: reads what waits (datagrams `keep` refuses are lost, as on
    /// a network), fires the timer, sends; events go to `on_event`.
    pub fn step(
        &mut self,
        buf: &mut [u8],
        mut keep: impl FnMut(&[u8]) -> bool,
        mut on_event: impl FnMut(&mut Rtc, Event),
    ) {
        let now = Instant::now();
        let mut fed = false;
        while let Ok((n, source)) = self.socket.recv_from(buf) {
            self.sources.insert(source);
            if !keep(&buf[..n]) {
                continue;
            }
            if let Ok(receive) = Receive::new(Protocol::Udp, source, self.local, &buf[..n]) {
                let _ = self.rtc.handle_input(Input::Receive(now, receive));
                self.drain(&mut on_event);
                fed = true;
            }
        }
        if now >= self.next_timeout {
            self.flush(&mut on_event);
            fed = true;
        }
        if !fed {
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// Feeds the current time (what `write_rtp` needs before packets leave), then drains.
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
                Ok(Output::Timeout(t)) => {
                    self.next_timeout = t;
                    return;
                }
                Err(_) => return,
            }
        }
    }
}
