//! Packagers: the running packager of each stream, started when the first
//! sink attaches and gone when its last sink detaches or the stream ends.

use std::sync::Arc;
use std::time::Duration;

use engine::Stream;

use std::sync::mpsc::{self, SendError};

use super::reader::{Packager, Running};
use super::{PackagerEvent, PackagerSink};

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
    running: Running,
}

impl Packagers {
    /// No packager running yet.
    pub fn new(settings: PackagerSettings) -> Arc<Self> {
        Arc::new(Self {
            settings,
            running: Running::default(),
        })
    }

    /// Attaches `sink` to `stream`'s packager, starting one (reading from
    /// `start`) if none runs. A sink attached to a running packager first
    /// hears the current `Init`, then parts from the next segment start.
    /// A stream that already ended gets `Ended` at once.
    pub fn attach(&self, stream: &Arc<Stream>, start: StartAt, mut sink: Box<dyn PackagerSink>) {
        let mut running = self.running.lock();
        if stream.is_ended() {
            sink.deliver(&PackagerEvent::Ended);
            return;
        }
        let id = stream.id();
        let sink = match running.get(&id) {
            Some(sender) => match sender.send(sink) {
                Ok(()) => return,
                Err(SendError(sink)) => sink,
            },
            None => sink,
        };
        let (sender, receiver) = mpsc::channel();
        if sender.send(sink).is_err() {
            return;
        }
        let packager = Packager::new(Arc::clone(stream), start, self.settings);
        let handle = Arc::clone(&self.running);
        let spawned = std::thread::Builder::new()
            .name(format!("packager-{id}"))
            .spawn(move || packager.run(receiver, handle));
        match spawned {
            Ok(_) => {
                running.insert(id, sender);
            }
            Err(error) => {
                tracing::warn!(%error, channel = stream.channel(), "packager thread not started")
            }
        }
    }

    /// How many packagers run.
    pub fn running(&self) -> usize {
        self.running.lock().len()
    }
}
