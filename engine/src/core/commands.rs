//! The core's commands: opening viewers, publishers, relays and FTL ingests
//! (each peer built in a fresh slot), answers, closes, stats and shutdown.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use super::peer::{Peer, PeerEntry};
use super::{Ingest, Removal, Sink, WorkerCore, guarded};
use crate::error::{EngineError, ViewerError};
use crate::ftl_media::FtlIngest;
use crate::id::{PeerId, Slot, SocketId};
use crate::inbox::{CoreCommand, FtlMediaRequest, RelayRequest, Reply};
use crate::publisher::Publisher;
use crate::relay::Relay;
use crate::reply::OpenedViewer;
use crate::ring::Writers;
use crate::stream::{Stream, TrackKind};
use crate::viewer::Viewer;

impl WorkerCore {
    /// Runs one command; false once told to shut down (every peer has been
    /// sent a clean close; the caller flushes and stops).
    pub(crate) fn handle_command(
        &mut self,
        now: Instant,
        command: CoreCommand,
        sink: &mut impl Sink,
    ) -> bool {
        match command {
            CoreCommand::CloseFtlMedia { stream_id } => self.close_ingest(stream_id, sink),
            CoreCommand::OpenViewer {
                stream,
                offer,
                reply,
            } => {
                let opened = self.open_viewer(now, stream, offer);
                self.reply_opened(now, reply, opened, sink);
            }
            CoreCommand::OpenPublisher {
                stream,
                writers,
                offer,
                reply,
            } => {
                let opened = self.open_publisher(now, stream, writers, offer);
                self.reply_opened(now, reply, opened, sink);
            }
            CoreCommand::AcceptAnswer {
                viewer,
                answer,
                reply,
            } => {
                let result = self.accept_answer(now, viewer.slot, &answer, sink);
                let _ = reply.send(result);
            }
            CoreCommand::ClosePeer { peer } => {
                self.remove_peer(now, peer.slot, Removal::Close, sink)
            }
            CoreCommand::Stats { reply } => {
                let _ = reply.send(self.stats(sink));
            }
            CoreCommand::Shutdown => {
                // Peers hear a clean close (close_notify) before the worker goes.
                let live: Vec<Slot> = self.slots.iter().map(|(slot, _)| slot).collect();
                for slot in live {
                    self.remove_peer(now, slot, Removal::Close, sink);
                }
                return false;
            }
        }
        true
    }

    /// Starts reading an FTL stream's media arriving on `socket`.
    pub(crate) fn open_ftl_media(
        &mut self,
        now: Instant,
        socket: SocketId,
        request: FtlMediaRequest,
    ) {
        let FtlMediaRequest {
            client_ip,
            params,
            stream,
            writers,
        } = request;
        let ingest = FtlIngest::new(now, client_ip, params, stream, writers);
        self.ingests.insert(
            socket,
            Ingest {
                ingest,
                timed_out: false,
            },
        );
    }

    /// Opens a relay talking from `socket`, announced as `local`, and
    /// replies with its offer. Returns whether the relay was placed: if not,
    /// the caller closes the socket.
    pub(crate) fn open_relay(
        &mut self,
        now: Instant,
        (socket, local): (SocketId, SocketAddr),
        request: RelayRequest,
        sink: &mut impl Sink,
    ) -> bool {
        let RelayRequest {
            stream,
            writers,
            reply,
        } = request;
        let opened = self.take_slot().and_then(|slot| {
            let base = self.rtc_base.config();
            let offered =
                guarded(|| Relay::offer(now, base, slot.ufrag(), (socket, local), stream, writers))
                    .unwrap_or_else(|| {
                        Err(ViewerError::BadSdp("the offer could not be made".into()))
                    });
            match offered {
                Ok((relay, offer)) => {
                    self.relays.insert(socket, slot);
                    Ok((self.place(slot, Peer::Relay(relay)), offer))
                }
                Err(error) => {
                    self.slots.unreserve(slot);
                    Err(error.into())
                }
            }
        });
        let placed = opened.is_ok();
        self.reply_opened(now, reply, opened, sink);
        placed
    }

    /// Answers an open request; if the caller gave up waiting, nobody will
    /// ever use the new peer, so it is closed.
    fn reply_opened(
        &mut self,
        now: Instant,
        reply: Reply<Result<OpenedViewer, EngineError>>,
        opened: Result<OpenedViewer, EngineError>,
        sink: &mut impl Sink,
    ) {
        let peer = opened.as_ref().ok().map(|(peer, _)| *peer);
        if reply.send(opened).is_err()
            && let Some(peer) = peer
        {
            self.remove_peer(now, peer.slot, Removal::Close, sink);
        }
    }

    /// A free slot (index and generation) for a new peer.
    fn take_slot(&mut self) -> Result<Slot, EngineError> {
        if self.viewer_count.load(Ordering::Relaxed) >= self.config.max_viewers_per_worker {
            return Err(EngineError::TooManyViewers);
        }
        self.slots.reserve().ok_or(EngineError::TooManyViewers)
    }

    /// Puts a new peer in `slot` and starts its timer.
    fn place(&mut self, slot: Slot, peer: Peer) -> PeerId {
        self.slots.place(slot, PeerEntry::new(peer));
        self.viewer_count.fetch_add(1, Ordering::Relaxed);
        self.schedule(slot);
        self.peer_id(slot)
    }

    fn open_viewer(
        &mut self,
        now: Instant,
        stream: Arc<Stream>,
        offer: Option<String>,
    ) -> Result<OpenedViewer, EngineError> {
        if stream.is_ended() {
            return Err(EngineError::NoSuchStream);
        }
        let slot = self.take_slot()?;
        let base = self.rtc_base.config();
        let address = self.addresses.clone();
        let opened = guarded(|| match offer {
            Some(offer) => Viewer::answer(
                now,
                base,
                slot.ufrag(),
                address,
                Arc::clone(&stream),
                &offer,
            ),
            None => Viewer::offer(now, base, slot.ufrag(), address, Arc::clone(&stream)),
        })
        .unwrap_or_else(|| {
            Err(ViewerError::BadSdp(
                "the offer could not be processed".into(),
            ))
        });
        let (viewer, sdp) = match opened {
            Ok(opened) => opened,
            Err(error) => {
                self.slots.unreserve(slot);
                return Err(error.into());
            }
        };
        let followed = self
            .following
            .entry(stream.id())
            .or_insert_with(|| (Arc::clone(&stream), 0));
        followed.1 += 1;
        stream.follow(self.index);
        stream.count_viewer(true);
        // Nothing to start from: ask a WHIP publisher for a keyframe now.
        if let Some(ring) = stream.ring(TrackKind::Video) {
            let held = ring.head().saturating_sub(ring.capacity() as u64);
            if ring.keyframe_start().is_none_or(|start| start < held) {
                stream.request_keyframe();
            }
        }
        Ok((self.place(slot, Peer::Viewer(viewer)), sdp))
    }

    fn open_publisher(
        &mut self,
        now: Instant,
        stream: Arc<Stream>,
        writers: Writers,
        offer: String,
    ) -> Result<OpenedViewer, EngineError> {
        let slot = self.take_slot()?;
        let base = self.rtc_base.config();
        let address = self.addresses.clone();
        let opened = guarded(|| {
            Publisher::answer(now, base, slot.ufrag(), address, stream, writers, &offer)
        })
        .unwrap_or_else(|| {
            Err(ViewerError::BadSdp(
                "the offer could not be processed".into(),
            ))
        });
        match opened {
            Ok((publisher, answer)) => Ok((self.place(slot, Peer::Publisher(publisher)), answer)),
            Err(error) => {
                self.slots.unreserve(slot);
                Err(error.into())
            }
        }
    }

    /// Gives a viewer (or a relay) the answer to our offer.
    fn accept_answer(
        &mut self,
        now: Instant,
        slot: Slot,
        answer: &str,
        sink: &mut impl Sink,
    ) -> Result<(), EngineError> {
        let result = match self.slots.get_mut(slot) {
            Some(entry) => guarded(|| match &mut entry.peer {
                Peer::Viewer(viewer) => viewer.accept_answer(answer),
                Peer::Relay(relay) => relay.accept_answer(answer),
                Peer::Publisher(_) => Err(ViewerError::NotAwaitingAnswer),
            })
            .unwrap_or(Err(ViewerError::NotAwaitingAnswer))
            .map_err(EngineError::from),
            None => Err(EngineError::NoSuchViewer),
        };
        // A failed negotiation leaves the viewer unusable; a malformed
        // or repeated answer leaves it as it was.
        if let Err(EngineError::Viewer(
            ViewerError::Negotiation(_) | ViewerError::NoH264(_) | ViewerError::NoH264ToRelay,
        )) = result
        {
            self.remove_peer(now, slot, Removal::Close, sink);
        } else if result.is_ok()
            && let Some(entry) = self.slots.get_mut(slot)
        {
            // The answer starts ICE: a relay, the controlling side,
            // sends its first checks now rather than at its old timeout.
            let send = super::batch_for(sink, &entry.peer);
            let outcome = guarded(|| entry.peer.handle_timeout(now, send));
            self.after_drain(now, slot, outcome, sink);
        }
        result
    }

    fn stats(&self, sink: &impl Sink) -> crate::stats::WorkerStats {
        let mut stats = self.stats.clone();
        sink.add_stats(&mut stats);
        stats.ftl_streams = self.ingests.len();
        let (viewers, connected) = self.slots.iter().fold((0, 0), |(all, connected), (_, e)| {
            (all + 1, connected + usize::from(e.peer.is_connected()))
        });
        stats.viewers = viewers;
        stats.connected_viewers = connected;
        stats
    }
}
