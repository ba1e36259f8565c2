//! The packager: one per stream that an HLS client or a recording needs. It
//! reads the stream's rings from its own thread (never a worker's turn),
//! turns RTP into access units and Opus frames, cuts them into CMAF parts
//! and segments, and hands the same bytes to every sink (the HLS window,
//! a recording).

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;

/// A stream's CMAF initialization segment (`ftyp` + `moov`) and what a
/// playlist says about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitSegment {
    /// The bytes of `ftyp` + `moov`.
    pub bytes: Bytes,
    /// RFC 6381 codecs, as `CODECS` in a playlist (`avc1.64001f,opus`).
    pub codecs: String,
    /// Picture width and height, when the stream has video.
    pub resolution: Option<(u32, u32)>,
}

/// One CMAF fragment (`moof` + `mdat`): an LL-HLS part, and the unit a
/// recording is flushed by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    /// The bytes of `moof` + `mdat`.
    pub bytes: Bytes,
    /// Its media duration.
    pub duration: Duration,
    /// Whether it starts with a keyframe (`INDEPENDENT=YES`).
    pub independent: bool,
    /// Whether it is the first part of a new segment (then also
    /// independent). Segments are made of whole parts.
    pub starts_segment: bool,
    /// Whether the timeline broke before it (packet loss, a lapped ring, a
    /// new initialization segment): `EXT-X-DISCONTINUITY`. Only on a part
    /// that starts a segment.
    pub discontinuity: bool,
    /// The wall-clock time of its first sample (`EXT-X-PROGRAM-DATE-TIME`).
    pub program_date_time: SystemTime,
}

/// What a packager hands its sinks, in order: an `Init` before the first
/// part and again whenever the codec configuration changes (the next part
/// then starts a segment with a discontinuity), then parts, then `Ended`
/// once when the stream ends.
#[derive(Debug, Clone)]
pub enum PackagerEvent {
    /// A (new) initialization segment.
    Init(Arc<InitSegment>),
    /// The next part.
    Part(Arc<Part>),
    /// The stream ended; no more events follow.
    Ended,
}

/// Where a packager's output goes. Called on the packager's thread: a sink
/// must not block on anything slow (a disk write goes to the sink's own
/// thread).
pub trait PackagerSink: Send + 'static {
    /// Takes one event. `false` detaches the sink (it is dropped); a
    /// packager with no sink left stops.
    fn deliver(&mut self, event: &PackagerEvent) -> bool;
}

mod opus;
mod reader;
mod registry;
mod reorder;
mod segmenter;
mod timeline;
mod video_frames;

pub use registry::{PackagerSettings, Packagers, StartAt};
