//! Worker: one thread, one `mio::Poll` loop. It owns its sockets (the
//! socket table in `sockets.rs`) and its core (`core/`, the sans-IO brain);
//! `run()` reads top to bottom: poll to the nearest deadline → receive
//! batches → hand them to the core → inbox → rings → timers → housekeeping
//! → flush sends.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use mio::event::Event;
use mio::{Events, Poll, Token};

use crate::config::EngineConfig;
use crate::core::{CoreSetup, Sink, WorkerCore};
use crate::event::EngineEvent;
use crate::ice_tcp::IceTcp;
use crate::inbox::{Command, RelayRequest};
use crate::negotiation::{LocalAddresses, RtcBase};
use crate::sockets::{Owner, Sockets};
use crate::tcp_input;
use crate::udp::{BATCH, RecvBatch, bind_udp};

/// The inbox waker's token.
pub(crate) const WAKER: Token = Token(1);

/// Most datagrams read from a WebRTC or relay socket per turn.
const WEBRTC_READ_BUDGET: usize = 16 * BATCH;

/// Most inbox commands run per turn (opening a viewer parses SDP and builds
/// an `Rtc`: a burst of them must not stall forwarding).
const INBOX_BUDGET: usize = 32;

/// Longest sleep when nothing is due (housekeeping runs at least this often).
const MAX_SLEEP: Duration = Duration::from_millis(500);

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

pub(crate) struct Worker {
    index: usize,
    poll: Poll,
    inbox: Receiver<Command>,
    config: EngineConfig,
    core: WorkerCore,
    sockets: Sockets,
    /// ICE-TCP connections with frames left over from their budget.
    tcp_backlog: Vec<Token>,
    /// A budget ran out before a source was empty: poll without waiting.
    more_work: bool,
}

impl Worker {
    pub(crate) fn new(setup: WorkerSetup) -> io::Result<Self> {
        let registry = setup.poll.registry().try_clone()?;
        let ice_tcp = match setup.tcp {
            Some((listener, address)) => Some(IceTcp::new(
                listener,
                address,
                &registry,
                setup.config.max_viewers_per_worker,
            )?),
            None => None,
        };
        let addresses = LocalAddresses {
            udp: setup.address,
            more_udp: setup.extra.iter().map(|(_, address)| *address).collect(),
            tcp: ice_tcp.as_ref().map(IceTcp::address),
        };
        let sockets = Sockets::new(
            setup.index,
            registry,
            (setup.socket, setup.address),
            setup.extra,
            ice_tcp,
            (setup.wakers, setup.wake_pending),
        )?;
        let core = CoreSetup {
            index: setup.index,
            config: setup.config.clone(),
            rtc_base: setup.rtc_base,
            addresses,
            events: setup.events,
            viewers: setup.viewers,
        };
        Ok(Self {
            index: setup.index,
            poll: setup.poll,
            inbox: setup.inbox,
            config: setup.config,
            core: WorkerCore::new(core, Instant::now()),
            sockets,
            tcp_backlog: Vec::new(),
            more_work: false,
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
                let deadline = self.core.next_deadline();
                deadline.saturating_duration_since(now).min(MAX_SLEEP)
            };
            if let Err(error) = self.poll.poll(&mut events, Some(timeout))
                && error.kind() != io::ErrorKind::Interrupted
            {
                tracing::error!(worker = self.index, %error, "poll failed; worker stops");
                return;
            }
            let now = Instant::now();
            self.more_work = false;
            self.sockets.clear_wake_pending();
            for event in events.iter() {
                self.receive(now, event, &mut recv);
            }
            for token in std::mem::take(&mut self.tcp_backlog) {
                self.receive_tcp(now, token);
            }
            if !self.handle_inbox(now) {
                self.flush(now);
                return;
            }
            self.core.forward(now, &mut self.sockets);
            self.more_work |= self.core.fire_timers(now, &mut self.sockets);
            if self.core.housekeeping(now, &mut self.sockets) {
                self.sweep_tcp(now);
            }
            self.flush(now);
            self.core.count_turn(now.elapsed());
        }
    }

    /// Reads what `event` says is ready.
    fn receive(&mut self, now: Instant, event: &Event, recv: &mut RecvBatch) {
        match event.token() {
            WAKER => {}
            crate::ice_tcp::LISTENER => {
                if let Some(tcp) = &mut self.sockets.ice_tcp {
                    tcp.accept(now, self.poll.registry());
                }
            }
            token if IceTcp::owns(token) => {
                // A backlogged connection is read once per turn, from the backlog.
                let readable = event.is_readable() || event.is_read_closed() || event.is_error();
                if readable && !self.tcp_backlog.contains(&token) {
                    self.receive_tcp(now, token);
                }
                if event.is_writable()
                    && let Some(tcp) = &mut self.sockets.ice_tcp
                {
                    tcp.write(token, self.poll.registry());
                }
            }
            token => self.receive_udp(now, token, recv),
        }
    }

    /// Reads a UDP socket in batches until it is empty or its budget is
    /// spent, handing each batch to the core.
    fn receive_udp(&mut self, now: Instant, token: Token, recv: &mut RecvBatch) {
        let Some(readable) = self.sockets.readable(token) else {
            return;
        };
        let (local, owner) = (readable.local, readable.owner);
        let budget = match owner {
            Some(Owner::FtlMedia) => crate::ftl_media::READ_BUDGET,
            Some(Owner::Relay) | None => WEBRTC_READ_BUDGET,
        };
        let socket = crate::id::SocketId(token.0);
        let mut read = 0;
        loop {
            if read >= budget {
                // Edge-triggered: datagrams are left behind, so come back.
                self.more_work = true;
                self.sockets.poll_again(token);
                break;
            }
            let Some(readable) = self.sockets.readable(token) else {
                return;
            };
            match recv.recv(readable.socket) {
                Ok(count) => read += count,
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => break,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                Err(error) => {
                    tracing::debug!(worker = self.index, %error, ?owner, "socket read failed");
                    // A relay's socket is read again when it is next ready.
                    if owner != Some(Owner::Relay) {
                        self.more_work = true;
                        self.sockets.poll_again(token);
                    }
                    break;
                }
            }
            let datagrams = recv.datagrams();
            self.core
                .handle_datagrams(now, socket, local, datagrams, &mut self.sockets);
            if self.sockets.webrtc().len() >= crate::core::FLUSH_AT {
                self.sockets.flush_webrtc();
            }
        }
        self.core.finish_read(now, socket, &mut self.sockets);
        if owner.is_some() {
            self.sockets.flush_own(socket);
        }
    }

    /// Feeds an ICE-TCP connection's frames to its peer; a connection that
    /// spent its budget with more to read goes on the backlog.
    fn receive_tcp(&mut self, now: Instant, token: Token) {
        let registry = self.poll.registry();
        if tcp_input::receive(now, token, (&mut self.core, &mut self.sockets), registry) {
            self.more_work = true;
            if !self.tcp_backlog.contains(&token) {
                self.tcp_backlog.push(token);
            }
        }
    }

    /// Runs waiting commands, up to the budget; false once told to shut down.
    fn handle_inbox(&mut self, now: Instant) -> bool {
        for _ in 0..INBOX_BUDGET {
            let Ok(command) = self.inbox.try_recv() else {
                return true;
            };
            match command {
                Command::OpenFtlMedia { socket, media } => {
                    let local = socket.local_addr();
                    match local.and_then(|local| self.sockets.watch(socket, local, Owner::FtlMedia))
                    {
                        Ok(id) => self.core.open_ftl_media(now, id, media),
                        Err(error) => {
                            tracing::warn!(worker = self.index, %error, "cannot watch FTL socket")
                        }
                    }
                }
                Command::OpenRelay(request) => self.open_relay(now, request),
                Command::Core(command) => {
                    if !self.core.handle_command(now, command, &mut self.sockets) {
                        return false;
                    }
                }
            }
        }
        self.more_work |= !self.inbox.is_empty();
        true
    }

    /// Binds a relay's own socket (a new ephemeral port: where the origin
    /// sends to), watches it, and has the core open the relay on it.
    fn open_relay(&mut self, now: Instant, request: RelayRequest) {
        let bound = bind_udp(
            SocketAddr::new(self.config.webrtc_bind, 0),
            self.config.socket_buffer_bytes,
        )
        .and_then(|socket| {
            let local = SocketAddr::new(self.config.public_ip, socket.local_addr()?.port());
            let id = self.sockets.watch(socket, local, Owner::Relay)?;
            Ok((id, local))
        });
        match bound {
            Ok(socket) => {
                if !self
                    .core
                    .open_relay(now, socket, request, &mut self.sockets)
                {
                    self.sockets.release(socket.0);
                }
            }
            Err(error) => {
                let _ = request.reply.send(Err(error.into()));
            }
        }
    }

    /// Closes ICE-TCP connections that named no peer in time or whose peer
    /// is gone, and accepts connections left waiting when accepting last
    /// failed (no free descriptor).
    fn sweep_tcp(&mut self, now: Instant) {
        if let Some(tcp) = &mut self.sockets.ice_tcp {
            let core = &self.core;
            let registry = self.poll.registry();
            tcp.sweep(now, self.config.viewer_connect_timeout, registry, |slot| {
                core.is_live(slot)
            });
            tcp.accept(now, registry);
        }
    }

    /// Sends what the turn queued, and drops the peers whose ICE-TCP
    /// connection fell too far behind.
    fn flush(&mut self, now: Instant) {
        for slot in self.sockets.flush_all() {
            self.core.drop_peer(now, slot, &mut self.sockets);
        }
    }
}
