//! Sockets: a worker's socket table and the send side of its loop: the
//! WebRTC sockets (the main one and one per extra interface), the sockets
//! of its own an FTL stream or a relay reads from, the ICE-TCP candidate,
//! and the batches waiting to leave from each. It is the core's [`Sink`]
//! for real: flushing sends, releasing sockets, waking other workers.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use mio::net::UdpSocket;
use mio::{Interest, Registry, Token};

use crate::core::Sink;
use crate::ice_tcp::IceTcp;
use crate::id::{Slot, SocketId};
use crate::stats::WorkerStats;
use crate::stream::Stream;
use crate::udp::SendBatch;

/// The main WebRTC socket's token.
pub(crate) const MAIN: Token = Token(0);
/// FTL media sockets and relay sockets get tokens from here on (the inbox
/// waker is 1, the ICE-TCP listener 2; its connections are far above).
const FIRST_OWN: usize = 3;
/// The extra interfaces' WebRTC sockets get tokens from here on.
const FIRST_EXTRA: usize = 1 << 29;

/// What a socket of its own is read for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Owner {
    /// An FTL stream's media.
    FtlMedia,
    /// A relay's session with its origin.
    Relay,
}

/// A socket read for one stream or one relay, and what waits to leave from it.
struct OwnSocket {
    socket: UdpSocket,
    /// The address it is announced as (a relay's candidate).
    local: SocketAddr,
    owner: Owner,
    send: SendBatch,
}

/// A UDP socket of the table, as the read loop sees it.
pub(crate) struct Readable<'a> {
    pub socket: &'a UdpSocket,
    /// The address datagrams arrive at, as announced.
    pub local: SocketAddr,
    /// `None` for a WebRTC socket.
    pub owner: Option<Owner>,
}

/// A worker's sockets and send batches.
pub(crate) struct Sockets {
    index: usize,
    registry: Registry,
    main: UdpSocket,
    address: SocketAddr,
    /// More WebRTC sockets, one per extra interface, with their addresses.
    extra: Vec<(UdpSocket, SocketAddr)>,
    own: HashMap<SocketId, OwnSocket>,
    next_token: usize,
    /// The WebRTC sockets' batch (the extra interfaces' as alternates) and
    /// ICE-TCP messages.
    send: SendBatch,
    /// The passive ICE-TCP candidate, if on.
    pub ice_tcp: Option<IceTcp>,
    /// Peers whose ICE-TCP connection fell too far behind at a flush.
    behind: Vec<Slot>,
    wakers: Arc<[Arc<mio::Waker>]>,
    wake_pending: Arc<[AtomicBool]>,
}

impl Sockets {
    /// The index of the worker these sockets belong to.
    pub(crate) fn worker(&self) -> usize {
        self.index
    }

    /// Registers the WebRTC sockets (and the ICE-TCP listener) with `registry`.
    pub(crate) fn new(
        index: usize,
        registry: Registry,
        (main, address): (std::net::UdpSocket, SocketAddr),
        extra: Vec<(std::net::UdpSocket, SocketAddr)>,
        ice_tcp: Option<IceTcp>,
        (wakers, wake_pending): (Arc<[Arc<mio::Waker>]>, Arc<[AtomicBool]>),
    ) -> io::Result<Self> {
        let mut main = UdpSocket::from_std(main);
        registry.register(&mut main, MAIN, Interest::READABLE)?;
        let mut registered = Vec::with_capacity(extra.len());
        for (index, (socket, address)) in extra.into_iter().enumerate() {
            let mut socket = UdpSocket::from_std(socket);
            registry.register(&mut socket, Token(FIRST_EXTRA + index), Interest::READABLE)?;
            registered.push((socket, address));
        }
        let alternates = registered.iter().map(|(_, address)| *address).collect();
        Ok(Self {
            index,
            registry,
            main,
            address,
            extra: registered,
            own: HashMap::new(),
            next_token: FIRST_OWN,
            send: SendBatch::with_alternates(true, alternates),
            ice_tcp,
            behind: Vec::new(),
            wakers,
            wake_pending,
        })
    }

    /// Lets other workers wake this one again. Cleared before the rings
    /// are read: a packet published after this wakes us again.
    pub(crate) fn clear_wake_pending(&self) {
        // A read-modify-write, not a store: the rings' heads read after it
        // must not be read before it (a store may pass a later load), or a
        // producer that still sees the flag set skips its wake and we miss
        // its packet until the next one.
        self.wake_pending[self.index].swap(false, Ordering::AcqRel);
    }

    /// The socket `token` names, if it is a UDP socket of the table.
    pub(crate) fn readable(&self, token: Token) -> Option<Readable<'_>> {
        fn webrtc((socket, local): (&UdpSocket, SocketAddr)) -> Readable<'_> {
            Readable {
                socket,
                local,
                owner: None,
            }
        }
        if token == MAIN {
            return Some(webrtc((&self.main, self.address)));
        }
        if let Some(index) = token.0.checked_sub(FIRST_EXTRA) {
            return self
                .extra
                .get(index)
                .map(|(socket, address)| webrtc((socket, *address)));
        }
        self.own.get(&SocketId(token.0)).map(|own| Readable {
            socket: &own.socket,
            local: own.local,
            owner: Some(own.owner),
        })
    }

    /// Registers a socket again so an edge fires even if nothing new arrives.
    pub(crate) fn poll_again(&mut self, token: Token) {
        let socket = if token == MAIN {
            Some(&mut self.main)
        } else if let Some(index) = token.0.checked_sub(FIRST_EXTRA) {
            self.extra.get_mut(index).map(|(socket, _)| socket)
        } else {
            self.own
                .get_mut(&SocketId(token.0))
                .map(|own| &mut own.socket)
        };
        if let Some(socket) = socket {
            let _ = self.registry.reregister(socket, token, Interest::READABLE);
        }
    }

    /// Watches a socket of its own, announced as `local`; returns its id.
    pub(crate) fn watch(
        &mut self,
        socket: std::net::UdpSocket,
        local: SocketAddr,
        owner: Owner,
    ) -> io::Result<SocketId> {
        let token = Token(self.next_token);
        let mut socket = UdpSocket::from_std(socket);
        self.registry
            .register(&mut socket, token, Interest::READABLE)?;
        self.next_token += 1;
        let id = SocketId(token.0);
        self.own.insert(
            id,
            OwnSocket {
                socket,
                local,
                owner,
                send: SendBatch::new(false),
            },
        );
        Ok(id)
    }

    /// Sends what is queued for a socket of its own now (an FTL stream's
    /// ping echoes and NACKs, a relay's replies), as its read turn ends.
    pub(crate) fn flush_own(&mut self, socket: SocketId) {
        if let Some(own) = self.own.get_mut(&socket)
            && !own.send.is_empty()
        {
            own.send.flush(&own.socket);
        }
    }

    /// Sends what the turn queued: datagrams in batches from each socket,
    /// ICE-TCP frames to their connections. Returns the peers whose
    /// connection fell too far behind, to drop.
    pub(crate) fn flush_all(&mut self) -> Vec<Slot> {
        self.flush_webrtc();
        for own in self.own.values_mut() {
            if !own.send.is_empty() {
                own.send.flush(&own.socket);
            }
        }
        std::mem::take(&mut self.behind)
    }
}

impl Sink for Sockets {
    fn webrtc(&mut self) -> &mut SendBatch {
        &mut self.send
    }

    fn socket(&mut self, socket: SocketId) -> &mut SendBatch {
        match self.own.get_mut(&socket) {
            Some(own) => &mut own.send,
            // Only ids the worker handed out reach the core; were one stale,
            // its datagrams would leave from the main socket.
            None => &mut self.send,
        }
    }

    fn flush_webrtc(&mut self) {
        self.send.flush(&self.main);
        for (batch, (socket, _)) in self.send.alternates_mut().zip(&self.extra) {
            batch.flush(socket);
        }
        if let Some(tcp) = &mut self.ice_tcp {
            let mut touched = Vec::new();
            for (remote, message) in self.send.drain_tcp() {
                touched.extend(tcp.queue(remote, &message, &self.registry, &mut self.behind));
            }
            // One write per connection that had nothing queued; the others
            // are written when the kernel reports room (WRITABLE).
            for token in touched {
                tcp.write(token, &self.registry);
            }
        }
    }

    fn release(&mut self, socket: SocketId) {
        if let Some(mut own) = self.own.remove(&socket) {
            if !own.send.is_empty() {
                own.send.flush(&own.socket);
            }
            let _ = self.registry.deregister(&mut own.socket);
        }
    }

    fn wake_followers(&mut self, stream: &Stream) {
        // One wake per worker until it runs, so wakes coalesce.
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

    fn add_stats(&self, stats: &mut WorkerStats) {
        stats.send = self.send.stats();
        stats.ice_tcp_connections = self.ice_tcp.as_ref().map_or(0, IceTcp::len);
    }
}
