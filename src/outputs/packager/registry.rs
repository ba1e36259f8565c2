//! Packagers: the running packager of each stream, started when the first
//! sink attaches and gone when its last sink detaches or the stream ends.

use std::sync::Arc;
use std::time::Duration;

use engine::Stream;

use super::PackagerSink;

/// How a packager cuts a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PackagerSettings {
    /// A segment's target duration; segments start at keyframes.
    pub segment_target: Duration,
    /// A part's target (the longest a part may be).
    pub part_target: Duration,
}

/// Where a newly started packager begins reading the rings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartAt {
    /// The newest keyframe the ring holds (a live viewer).
    NewestKeyframe,
    /// The oldest packet the ring holds, from its first keyframe on (a
    /// recording, which should miss nothing of a stream just started).
    Oldest,
}

/// The packagers of this node.
pub struct Packagers {
    settings: PackagerSettings,
}

impl Packagers {
    /// No packager running yet.
    pub fn new(settings: PackagerSettings) -> Arc<Self> {
        Arc::new(Self { settings })
    }

    /// How packagers cut streams.
    pub fn settings(&self) -> PackagerSettings {
        self.settings
    }

    /// Attaches `sink` to `stream`'s packager, starting one (reading from
    /// `start`) if none runs. A sink attached to a running packager first
    /// hears the current `Init`, then parts from the next segment start.
    /// A stream that already ended gets `Ended` at once.
    pub fn attach(&self, stream: &Arc<Stream>, start: StartAt, sink: Box<dyn PackagerSink>) {
        let _ = (stream, start, sink);
    }

    /// How many packagers run.
    pub fn running(&self) -> usize {
        0
    }
}
