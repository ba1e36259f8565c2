//! ICE-TCP input: an accepted connection's RFC 4571 frames fed to the
//! core, at most [`TCP_FRAME_BUDGET`] per connection per turn. The first
//! frame names the connection's peer (a STUN request with its ufrag, which
//! the peer's `Rtc` must accept); every later frame goes to that peer.

use std::time::Instant;

use mio::{Registry, Token};
use str0m::net::Protocol;

use crate::core::WorkerCore;
use crate::demux::stun_local_ufrag;
use crate::ice_tcp::TcpRead;
use crate::sockets::Sockets;

/// Most ICE-TCP frames taken from one connection per turn.
const TCP_FRAME_BUDGET: usize = 256;

/// Reads an ICE-TCP connection and feeds its frames to its peer. The first
/// frame must be a STUN request naming a peer of this worker, or the
/// connection is closed. Returns true if the frame budget ran out with more
/// to read: read it again next turn.
pub(crate) fn receive(
    now: Instant,
    token: Token,
    (core, sockets): (&mut WorkerCore, &mut Sockets),
    registry: &Registry,
) -> bool {
    let worker = sockets.worker();
    let mut frames_left = TCP_FRAME_BUDGET;
    loop {
        let Some(tcp) = &mut sockets.ice_tcp else {
            return false;
        };
        let local = tcp.address();
        let Some(mut read) = tcp.read(token) else {
            return false;
        };
        let mut refused = read.peer.is_none() && crate::ice_tcp::cannot_open(&read.buffer);
        let mut peer_gone = false;
        let (closed, more, remote) = (read.closed, read.more, read.remote);
        let TcpRead {
            buffer,
            framed,
            peer,
            ..
        } = &mut read;
        let whole = if refused { 0 } else { *framed };
        let mut taken = 0;
        for frame in crate::ice_tcp::frames(&buffer[..whole]) {
            if frames_left == 0 {
                break;
            }
            frames_left -= 1;
            taken += 2 + frame.len();
            if frame.is_empty() {
                continue;
            }
            let route = (Protocol::Tcp, remote, local);
            if peer.is_none() {
                let ice_tcp = sockets.ice_tcp.as_ref();
                *peer = stun_local_ufrag(frame).filter(|slot| {
                    ice_tcp
                        .is_some_and(|tcp| tcp.connections_of(*slot) < crate::ice_tcp::MAX_PER_PEER)
                        && core.accepts(now, *slot, route, frame)
                });
            }
            let Some(slot) = *peer else {
                refused = true;
                break;
            };
            if !core.handle_peer_datagram(now, slot, route, frame, sockets) {
                peer_gone = true;
                break;
            }
        }
        *framed = taken;
        let Some(tcp) = &mut sockets.ice_tcp else {
            return false;
        };
        if refused || closed || peer_gone {
            if refused {
                tracing::debug!(worker, %remote, "ICE-TCP connection opened with no STUN request for a peer here (or its peer has enough); closed");
                core.count_unroutable();
            }
            tcp.close(token, registry);
            return false;
        }
        let unread = taken < whole;
        tcp.restore(token, read);
        if frames_left == 0 && (unread || more) {
            // Enough for one turn: come back to the rest next turn.
            return true;
        }
        if !more {
            return false;
        }
    }
}
