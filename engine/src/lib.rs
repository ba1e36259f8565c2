//! Waveguide's data plane: per-core workers that take RTP from publishers
//! (FTL, WHIP, or a relay from another node) and forward it to WHEP viewers
//! through lock-free rings, without transcoding.
//!
//! This crate knows no HTTP, configuration files or authentication; the
//! `waveguide-engine` binary wires it to those through [`EngineHandle`].
//!
//! ```text
//!  control threads ── EngineHandle ──▶ inbox (crossbeam + mio::Waker) ──▶ worker k
//!
//!  worker k (one thread per core, one mio::Poll loop, owns everything it touches):
//!    sockets (worker.rs, sockets.rs) ──datagrams, commands, time──▶ core (sans-IO)
//!    core: FTL ingest ─▶ track writer ─▶ PacketRing (per track) ─▶ wake followers
//!          demux ─▶ peer Rtc (str0m, RTP mode): viewer, WHIP publisher, relay
//!          rings ─▶ every local viewer: write_rtp ─▶ drain ─▶ SendBatch
//!    core ──transmits──▶ sockets: sendmmsg, GSO, ICE-TCP frames
//! ```
//!
//! A peer's `Rtc` lives on one worker; a stream's ingest lives on one
//! worker; rings connect them without locks. The worker's core never
//! touches a socket: tests drive it with in-memory str0m peers and a clock
//! that is a number. See `DESIGN.md`, "The shape" and "Hot-path rules".
//!
//! Bottom to top: `id`, `config`, `error`, `event`, `stats`, `reply`
//! (vocabulary); `ring`, `stream`, `udp`, `catch_up`, `demux`; `negotiation`,
//! `rtc_driver`, `track_writer`; the peers `viewer`, `publisher`, `relay`
//! and `ftl_media`; `pushed` (a stream fed from outside the workers); `inbox`; `core/`; `ice_tcp`, `sockets`, `tcp_input`, `worker`;
//! `registry`, `handle`, `startup`.

mod catch_up;
mod config;
mod core;
mod demux;
mod error;
mod event;
mod ftl_media;
mod handle;
mod ice_tcp;
mod id;
mod inbox;
mod negotiation;
mod publisher;
mod pushed;
mod registry;
mod relay;
mod reply;
mod ring;
mod rtc_driver;
mod sockets;
mod startup;
mod stats;
mod stream;
mod tcp_input;
mod track_writer;
mod udp;
mod viewer;
mod worker;

pub use config::{EngineConfig, WebRtcInterface};
pub use error::{EngineError, ViewerError};
pub use event::EngineEvent;
pub use handle::EngineHandle;
pub use id::{PeerId, Slot};
pub use inbox::PendingReply;
pub use pushed::{PushedStream, PushedTrack, SourceAudioWriter, StreamLease};
pub use registry::{Ingest, StreamInfo};
pub use reply::{FtlMedia, OpenedPublisher, OpenedRelay, OpenedViewer};
pub use ring::{PacketRing, Read, ReadPin, RingCursor, RingPacket};
pub use startup::Engine;
pub use stats::WorkerStats;
pub use stream::{SourceAudio, Stream, StreamCounters, StreamStats, TrackKind};
pub use track_writer::RtpFields;
pub use udp::SendStats;

/// Engine internals for the benches, the fuzz targets, the engine's own
/// integration tests and the load tool. **Unstable**: not part of the API,
/// changed by any commit; enabled by the `internals` feature (the load tool
/// turns it on, so a workspace build has it too). It only exports: nothing
/// behaves differently with it on.
#[cfg(feature = "internals")]
pub mod internals {
    pub use crate::negotiation::LocalAddresses;
    pub use crate::publisher::Publisher;
    pub use crate::ring::{PacketRing, ReadPin, RingCursor, RingPacket, RingWriter};
    pub use crate::rtc_driver::{DrainOutcome, Route};
    pub use crate::udp::{BATCH, RecvBatch, SendBatch, enable_timestamps};
    pub use crate::viewer::Viewer;
}
