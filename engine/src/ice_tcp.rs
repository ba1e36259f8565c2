//! IceTcp: a worker's passive ICE-TCP candidate (RFC 6544), for viewers and
//! publishers whose networks block UDP: a TCP listener and its connections,
//! each carrying RFC 4571 frames (a 16-bit big-endian length, then one STUN,
//! DTLS or SRTP message). A connection belongs to the peer whose ufrag its
//! first STUN request names; every later frame on it goes to that peer.
//! Frames are parsed in place from one buffer per connection.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use mio::net::{TcpListener, TcpStream};
use mio::{Interest, Registry, Token};

use crate::id::Slot;

/// The listener's token.
pub(crate) const LISTENER: Token = Token(2);

/// Connections get tokens from here on, far above the FTL and relay sockets'.
const FIRST_CONNECTION: usize = 1 << 30;

/// A connection whose peer has this much unsent (a viewer on a link too slow
/// for the stream) is closed rather than buffered without bound.
const MAX_UNSENT: usize = 1 << 20;

/// The largest RFC 4571 frame plus its length.
const MAX_FRAME: usize = 2 + u16::MAX as usize;

/// Bytes read per `read` call.
const READ_CHUNK: usize = 16 * 1024;

/// Most bytes held for a connection that has not yet named its peer: one
/// STUN request and its length (see [`cannot_open`]).
const UNIDENTIFIED_MAX: usize = 2 + 1280;

/// Most connections per worker that have not named their peer yet; more are
/// closed as soon as they are accepted (a flood of idle connections).
const MAX_UNIDENTIFIED: usize = 256;

/// Most connections one peer may have (a viewer's ICE agent opens one per
/// candidate pair it tries; more would only spend the server's descriptors).
pub(crate) const MAX_PER_PEER: usize = 2;

/// Most connections per worker in all (file descriptors are shared with the
/// HTTP server and every other socket of the process).
const MAX_CONNECTIONS: usize = 4096;

/// One accepted connection.
struct Connection {
    stream: TcpStream,
    remote: SocketAddr,
    /// Received bytes not yet framed (at most one partial frame after a read).
    inbound: Vec<u8>,
    /// Framed bytes the kernel has not taken yet.
    outbound: Vec<u8>,
    peer: Option<Slot>,
    opened: Instant,
}

/// What reading a connection produced: its frames (in `Frames`) and its state.
pub(crate) struct TcpRead {
    /// The connection's buffer, holding whole frames from `0` to `framed`.
    pub buffer: Vec<u8>,
    /// Where the whole frames end.
    pub framed: usize,
    /// The remote end.
    pub remote: SocketAddr,
    /// The peer the connection belongs to, if known.
    pub peer: Option<Slot>,
    /// The connection is gone (closed by the remote, failed, or abusive).
    pub closed: bool,
    /// More may be waiting: read again once these frames are taken.
    pub more: bool,
}

/// The frames in `buffer[..framed]`.
pub(crate) fn frames(buffer: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut at = 0;
    std::iter::from_fn(move || {
        let header = buffer.get(at..at + 2)?;
        let length = usize::from(u16::from_be_bytes([header[0], header[1]]));
        let frame = buffer.get(at + 2..at + 2 + length)?;
        at += 2 + length;
        Some(frame)
    })
}

/// Whether `buffer` cannot start with a STUN binding request: a connection
/// must open with one (20 to 1280 bytes), so anything else is refused at
/// once instead of being waited for.
pub(crate) fn cannot_open(buffer: &[u8]) -> bool {
    match buffer {
        [high, low, first, ..] => {
            let length = usize::from(u16::from_be_bytes([*high, *low]));
            // A STUN message's first two bits are zero (RFC 8489 §5).
            !(20..=1280).contains(&length) || first & 0xc0 != 0
        }
        [high, low] => !(20..=1280).contains(&usize::from(u16::from_be_bytes([*high, *low]))),
        _ => false,
    }
}

/// Where whole frames end in `buffer`.
fn framed_len(buffer: &[u8]) -> usize {
    frames(buffer).map(|frame| 2 + frame.len()).sum()
}

/// A worker's ICE-TCP listener and connections.
pub(crate) struct IceTcp {
    listener: TcpListener,
    /// The address announced in the passive candidate.
    address: SocketAddr,
    connections: HashMap<Token, Connection>,
    by_remote: HashMap<SocketAddr, Token>,
    next: usize,
    max_connections: usize,
}

impl IceTcp {
    /// Takes over a bound listener announced as `address`.
    pub(crate) fn new(
        listener: std::net::TcpListener,
        address: SocketAddr,
        registry: &Registry,
        max_connections: usize,
    ) -> io::Result<Self> {
        listener.set_nonblocking(true)?;
        let mut listener = TcpListener::from_std(listener);
        registry.register(&mut listener, LISTENER, Interest::READABLE)?;
        Ok(Self {
            listener,
            address,
            connections: HashMap::new(),
            by_remote: HashMap::new(),
            next: FIRST_CONNECTION,
            max_connections: max_connections.min(MAX_CONNECTIONS),
        })
    }

    /// Connections that belong to `slot`.
    pub(crate) fn connections_of(&self, slot: Slot) -> usize {
        self.connections
            .values()
            .filter(|c| c.peer == Some(slot))
            .count()
    }

    /// The announced address.
    pub(crate) fn address(&self) -> SocketAddr {
        self.address
    }

    /// Whether `token` is one of its connections.
    pub(crate) fn owns(token: Token) -> bool {
        token.0 >= FIRST_CONNECTION
    }

    /// Connections open now.
    pub(crate) fn len(&self) -> usize {
        self.connections.len()
    }

    /// Accepts every waiting connection (over the limit, each is closed at once).
    pub(crate) fn accept(&mut self, now: Instant, registry: &Registry) {
        let mut unidentified = self
            .connections
            .values()
            .filter(|c| c.peer.is_none())
            .count();
        loop {
            let (mut stream, remote) = match self.listener.accept() {
                Ok(accepted) => accepted,
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => return,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                Err(error) => {
                    tracing::debug!(%error, "ICE-TCP accept failed");
                    return;
                }
            };
            if self.connections.len() >= self.max_connections || unidentified >= MAX_UNIDENTIFIED {
                continue;
            }
            let token = Token(self.next);
            self.next = self.next.wrapping_add(1).max(FIRST_CONNECTION);
            if self.connections.contains_key(&token) {
                // The numbering wrapped onto a connection still open.
                continue;
            }
            let _ = stream.set_nodelay(true);
            if registry
                .register(&mut stream, token, Interest::READABLE | Interest::WRITABLE)
                .is_err()
            {
                continue;
            }
            if let Some(old) = self.by_remote.insert(remote, token) {
                self.close(old, registry);
                self.by_remote.insert(remote, token);
            }
            unidentified += 1;
            self.connections.insert(
                token,
                Connection {
                    stream,
                    remote,
                    inbound: Vec::new(),
                    outbound: Vec::new(),
                    peer: None,
                    opened: now,
                },
            );
        }
    }

    /// Reads what `token` has received and hands its buffer out with the
    /// whole frames in it; give it back with [`restore`](Self::restore).
    pub(crate) fn read(&mut self, token: Token) -> Option<TcpRead> {
        let connection = self.connections.get_mut(&token)?;
        let mut buffer = std::mem::take(&mut connection.inbound);
        let mut closed = false;
        let mut more = false;
        // Until the connection names its peer it may hold one STUN request.
        let limit = if connection.peer.is_some() {
            MAX_FRAME
        } else {
            UNIDENTIFIED_MAX
        };
        loop {
            let start = buffer.len();
            if start >= limit {
                // A whole frame fits in what is held: hand it out first.
                more = true;
                break;
            }
            let chunk = if connection.peer.is_some() {
                READ_CHUNK
            } else {
                limit - start
            };
            buffer.resize(start + chunk, 0);
            match connection.stream.read(&mut buffer[start..]) {
                Ok(0) => {
                    buffer.truncate(start);
                    closed = true;
                    break;
                }
                Ok(read) => buffer.truncate(start + read),
                Err(error) => {
                    buffer.truncate(start);
                    match error.kind() {
                        io::ErrorKind::WouldBlock => break,
                        io::ErrorKind::Interrupted => continue,
                        _ => {
                            closed = true;
                            break;
                        }
                    }
                }
            }
        }
        Some(TcpRead {
            framed: framed_len(&buffer),
            buffer,
            remote: connection.remote,
            peer: connection.peer,
            closed,
            more,
        })
    }

    /// Gives a connection its buffer back (whole frames removed) and the
    /// peer it now belongs to.
    pub(crate) fn restore(&mut self, token: Token, mut read: TcpRead) {
        let Some(connection) = self.connections.get_mut(&token) else {
            return;
        };
        read.buffer.drain(..read.framed);
        // An idle connection keeps no read buffer (its peer sends little).
        connection.inbound = if read.buffer.is_empty() {
            Vec::new()
        } else {
            read.buffer
        };
        connection.peer = read.peer;
    }

    /// Queues one frame for the connection from `remote`; returns the
    /// connection's token if it should be written now (nothing was queued
    /// before: otherwise a WRITABLE event will come). A connection too far
    /// behind is closed, and its peer returned in `behind`.
    pub(crate) fn queue(
        &mut self,
        remote: SocketAddr,
        message: &[u8],
        registry: &Registry,
        behind: &mut Vec<Slot>,
    ) -> Option<Token> {
        let &token = self.by_remote.get(&remote)?;
        let length = u16::try_from(message.len()).ok()?;
        let connection = self.connections.get_mut(&token)?;
        if connection.outbound.len() + message.len() > MAX_UNSENT {
            tracing::debug!(%remote, "ICE-TCP connection too far behind; closed with its peer");
            behind.extend(connection.peer);
            self.close(token, registry);
            return None;
        }
        let idle = connection.outbound.is_empty();
        connection.outbound.extend_from_slice(&length.to_be_bytes());
        connection.outbound.extend_from_slice(message);
        idle.then_some(token)
    }

    /// Writes what is queued for `token` until the kernel stops taking it.
    pub(crate) fn write(&mut self, token: Token, registry: &Registry) {
        let Some(connection) = self.connections.get_mut(&token) else {
            return;
        };
        let mut written = 0;
        let mut failed = false;
        while written < connection.outbound.len() {
            match connection.stream.write(&connection.outbound[written..]) {
                Ok(0) => {
                    failed = true;
                    break;
                }
                Ok(n) => written += n,
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => break,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => {
                    failed = true;
                    break;
                }
            }
        }
        if written > 0 {
            connection.outbound.drain(..written);
            if connection.outbound.is_empty() && connection.outbound.capacity() > READ_CHUNK {
                // A backlog drained: give back what it grew to.
                connection.outbound = Vec::new();
            }
        }
        if failed {
            self.close(token, registry);
        }
    }

    /// Closes a connection.
    pub(crate) fn close(&mut self, token: Token, registry: &Registry) {
        if let Some(mut connection) = self.connections.remove(&token) {
            let _ = registry.deregister(&mut connection.stream);
            if self.by_remote.get(&connection.remote) == Some(&token) {
                self.by_remote.remove(&connection.remote);
            }
        }
    }

    /// Closes connections that named no peer within `connect_timeout`, and
    /// those whose peer is gone (`alive` says which peers still are).
    pub(crate) fn sweep(
        &mut self,
        now: Instant,
        connect_timeout: Duration,
        registry: &Registry,
        mut alive: impl FnMut(Slot) -> bool,
    ) {
        let stale: Vec<Token> = self
            .connections
            .iter()
            .filter(|(_, c)| match c.peer {
                Some(slot) => !alive(slot),
                None => now.saturating_duration_since(c.opened) > connect_timeout,
            })
            .map(|(token, _)| *token)
            .collect();
        for token in stale {
            self.close(token, registry);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_length_prefixed_and_partial_ones_wait() {
        let buffer = [0, 3, b'a', b'b', b'c', 0, 0, 0, 2, b'x'];
        let found: Vec<&[u8]> = frames(&buffer).collect();
        assert_eq!(found, vec![&b"abc"[..], &b""[..]]);
        // The last frame says 2 bytes and has 1: not whole yet.
        assert_eq!(framed_len(&buffer), 7);
        assert_eq!(framed_len(&[0]), 0);
        assert_eq!(framed_len(&[]), 0);
    }

    #[test]
    fn a_connection_must_open_with_something_like_stun() {
        assert!(cannot_open(b"GET / HTTP/1.1\r\n"));
        assert!(cannot_open(&[0, 4, 1, 2, 3, 4]));
        assert!(cannot_open(&[0, 100, 0x80]));
        assert!(!cannot_open(&[0, 100, 0x00, 0x01]));
        assert!(!cannot_open(&[0, 100]));
        assert!(!cannot_open(&[0]));
    }
}
