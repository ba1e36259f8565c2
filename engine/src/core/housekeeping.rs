//! Housekeeping, every [`HOUSEKEEPING`]: drops peers
//! that never connected, viewers whose stream ended, WHIP publishers and
//! relays whose media stopped and relays nobody watches; reports FTL
//! streams whose media stopped, and closes those silent far longer.

use std::time::Instant;

use super::peer::Peer;
use super::{HOUSEKEEPING, Removal, Sink, WorkerCore};
use crate::event::EngineEvent;
use crate::id::Slot;

/// An FTL stream silent for this many media timeouts is closed by the
/// worker itself, in case nobody acted on the timeout event.
const SILENT_STREAM_CLOSE_FACTOR: u32 = 3;

impl WorkerCore {
    /// Runs housekeeping if it is due; returns whether it ran (the worker
    /// then sweeps its ICE-TCP connections too).
    pub(crate) fn housekeeping(&mut self, now: Instant, sink: &mut impl Sink) -> bool {
        if now < self.next_housekeeping {
            return false;
        }
        self.drop_stale_peers(now, sink);
        self.check_ftl_media(now, sink);
        self.next_housekeeping = now + HOUSEKEEPING;
        true
    }

    fn drop_stale_peers(&mut self, now: Instant, sink: &mut impl Sink) {
        let connect_timeout = self.config.viewer_connect_timeout;
        let media_timeout = self.config.ftl_media_timeout;
        let relay_grace = self.config.relay_idle_grace;
        let stale: Vec<Slot> = self
            .slots
            .iter_mut()
            .filter_map(|(slot, entry)| {
                let peer = &mut entry.peer;
                let never_connected =
                    !peer.is_connected() && now.duration_since(peer.created()) > connect_timeout;
                // A WHIP publisher or a relay whose media stopped is gone; a
                // relay without local viewers is no longer needed.
                let silent = match peer {
                    Peer::Publisher(p) => {
                        p.is_connected() && now.duration_since(p.last_media()) > media_timeout
                    }
                    Peer::Relay(r) => {
                        (r.is_connected() && now.duration_since(r.last_media()) > media_timeout)
                            || r.idle_for(now, relay_grace)
                    }
                    Peer::Viewer(_) => false,
                };
                let orphaned = matches!(peer, Peer::Viewer(_)) && peer.stream().is_ended();
                (never_connected || silent || orphaned).then_some(slot)
            })
            .collect();
        for slot in stale {
            self.remove_peer(now, slot, Removal::Close, sink);
        }
    }

    fn check_ftl_media(&mut self, now: Instant, sink: &mut impl Sink) {
        let timeout = self.config.ftl_media_timeout;
        let mut abandoned = Vec::new();
        for ingest in self.ingests.values_mut() {
            let silent = now.duration_since(ingest.ingest.last_datagram());
            let stream = ingest.ingest.stream();
            if silent > timeout && !ingest.timed_out {
                ingest.timed_out = true;
                let _ = self.events.send(EngineEvent::FtlMediaTimeout {
                    channel: stream.channel().to_owned(),
                    stream_id: stream.id(),
                });
            }
            if silent > timeout * SILENT_STREAM_CLOSE_FACTOR {
                abandoned.push(stream.id());
            }
        }
        for stream_id in abandoned {
            self.close_ingest(stream_id, sink);
        }
    }
}
