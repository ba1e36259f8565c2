//! Recording: every live stream of a recorded channel written to disk as
//! fragmented MP4, listed and served by the API, and pruned by age and
//! total size.
//!
//! ```text
//!  supervisor (control runtime, every 250 ms)
//!    new live stream of a recorded channel, not a relay
//!      └─ packagers.attach(stream, Oldest, RecordingSink)
//!  packager thread ── RecordingSink::deliver ── bounded queue ──▶ writer thread
//!                     (never blocks: a full queue fails the        dir/<channel>/<start>.mp4
//!                      recording, not the stream)                  + <start>.json when finished
//!  retention (every minute, blocking pool)   API (GET /api/recordings[/{id}])
//!    reads the dir: what is there is the     a channel's files go to its viewers only
//!    truth, across restarts                  (the service says who they are)
//! ```
//!
//! A file is the init segment, then every part's `moof`+`mdat` as it comes,
//! each handed to the kernel whole, so a killed server loses at most the
//! fragment being written and the file still plays. A new init segment
//! (the codec changed) closes the file and starts another, as a fragmented
//! MP4 cannot change its `moov`. An error on the disk stops that recording
//! only: it is logged once with the path, counted, and the stream goes on.

mod api;
mod catalog;
mod fragments;
mod naming;
mod retention;
mod writer;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use engine::{Ingest, Stream, StreamInfo};
use parking_lot::Mutex;

pub use self::api::router;
use crate::control::service_client::ServiceClient;
use crate::control::state::Control;
use crate::outputs::packager::{Packagers, StartAt};

/// The file a client's recording id names under `dir`, if the id is one
/// this server makes (`<channel dir>~<stem>`): the API's only way from an
/// id to a path, which never leaves `dir/<channel dir>/`.
pub fn file_of_id(dir: &Path, id: &str) -> Option<PathBuf> {
    naming::RecordingId::parse(id).map(|id| id.file(dir))
}

/// How often the supervisor looks for streams to record. With
/// [`StartAt::Oldest`], a stream found this late still loses nothing.
const SUPERVISE_INTERVAL: Duration = Duration::from_millis(250);

/// How often retention runs (and once at start-up).
const RETENTION_INTERVAL: Duration = Duration::from_secs(60);

/// What is recorded, where, and for how long it is kept.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecordingSettings {
    /// Where recordings go; `None` records nothing (the default).
    pub dir: Option<PathBuf>,
    /// Which channels are recorded.
    pub channels: RecordedChannels,
    /// Finished recordings last written longer ago than this are deleted.
    pub max_age: Option<Duration>,
    /// The oldest finished recordings are deleted while all recordings
    /// (those being written included) take more than this.
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

impl RecordedChannels {
    /// Whether `channel` is recorded.
    pub fn records(&self, channel: &str) -> bool {
        match self {
            Self::All => true,
            Self::Only(channels) => channels.iter().any(|c| c == channel),
        }
    }
}

/// A snapshot of the recordings' counters, taken under one lock.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RecordingMetrics {
    /// Files being written now.
    pub active: u64,
    /// Files finished (closed at a stream's end or a codec change) since
    /// start-up.
    pub finished: u64,
    /// Recordings stopped by an error since start-up: a file that could not
    /// be created or written (an unwritable dir, a full disk), or a writer
    /// that fell behind the stream.
    pub failed: u64,
    /// Bytes written to recordings since start-up.
    pub bytes_written: u64,
    /// Files deleted by retention since start-up.
    pub deleted: u64,
}

/// A file being written, as the API shows it.
#[derive(Debug, Clone, Copy, Default)]
struct ActiveFile {
    duration: Duration,
    bytes: u64,
}

#[derive(Default)]
struct State {
    /// By path; a path is here from before its file is created until its
    /// sidecar is written, so retention and the listing never take it for
    /// a finished file.
    active: HashMap<PathBuf, ActiveFile>,
    counters: RecordingMetrics,
}

/// What the supervisor, the writers, retention and the API share.
struct Shared {
    dir: Option<PathBuf>,
    state: Mutex<State>,
    /// Tells the service's webhook (`Control::notify`).
    notify: Box<dyn Fn(serde_json::Value) + Send + Sync>,
}

impl Shared {
    fn new(dir: Option<PathBuf>, notify: Box<dyn Fn(serde_json::Value) + Send + Sync>) -> Self {
        Self {
            dir,
            state: Mutex::new(State::default()),
            notify,
        }
    }

    fn count(&self, change: impl FnOnce(&mut RecordingMetrics)) {
        change(&mut self.state.lock().counters);
    }

    fn is_active(&self, path: &Path) -> Option<ActiveFile> {
        self.state.lock().active.get(path).copied()
    }
}

/// This node's recordings.
pub struct Recordings {
    shared: Arc<Shared>,
    /// Decides who may list and download a channel's recordings (the
    /// control plane's service: the same viewer check as HLS and WHEP).
    viewers: ServiceClient,
}

impl Recordings {
    /// Starts recording on `runtime`: the supervisor, which attaches a
    /// recording to each new live stream of a recorded channel (relays
    /// excepted: their origin records them), and retention, at once and
    /// every minute. With no dir it starts nothing, records nothing and
    /// lists nothing.
    pub fn start(
        control: Arc<Control>,
        packagers: Arc<Packagers>,
        settings: RecordingSettings,
        runtime: &tokio::runtime::Handle,
    ) -> Arc<Self> {
        let viewers = control.service.clone();
        let notifier = Arc::clone(&control);
        let shared = Arc::new(Shared::new(
            settings.dir.clone(),
            Box::new(move |event| notifier.notify(event)),
        ));
        if let Some(dir) = &settings.dir {
            if let Err(error) = std::fs::create_dir_all(dir) {
                tracing::warn!(dir = %dir.display(), %error, "cannot create the recording dir; recordings will fail");
            }
            runtime.spawn(supervise(
                Arc::clone(&shared),
                control,
                packagers,
                settings.channels.clone(),
            ));
            runtime.spawn(retention::run(
                Arc::clone(&shared),
                dir.clone(),
                settings.max_age,
                settings.max_total_bytes,
                RETENTION_INTERVAL,
            ));
        }
        Arc::new(Self { shared, viewers })
    }

    /// The counters now.
    pub fn metrics(&self) -> RecordingMetrics {
        let state = self.shared.state.lock();
        RecordingMetrics {
            active: state.active.len() as u64,
            ..state.counters
        }
    }
}

/// Attaches a recording to every new live stream of a recorded channel
/// that is not a relay. Each stream is recorded once: a recording that
/// failed is not started again for the same stream.
async fn supervise(
    shared: Arc<Shared>,
    control: Arc<Control>,
    packagers: Arc<Packagers>,
    channels: RecordedChannels,
) {
    let mut interval = tokio::time::interval(SUPERVISE_INTERVAL);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut recorded: HashSet<u64> = HashSet::new();
    loop {
        interval.tick().await;
        let infos = control.engine.stream_infos();
        for stream in new_streams(&infos, &channels, &mut recorded) {
            match writer::spawn(Arc::clone(&shared), stream.channel(), stream.id()) {
                Ok(sink) => packagers.attach(stream, StartAt::Oldest, Box::new(sink)),
                Err(error) => {
                    tracing::warn!(channel = ?stream.channel(), stream_id = stream.id(), %error, "cannot start a recording");
                    shared.count(|c| c.failed += 1);
                }
            }
        }
    }
}

/// The streams of `infos` to start recording now: of a recorded channel,
/// not a relay (its origin records it), and not in `recorded`, which they
/// join. Ids no longer live leave `recorded` (ids are never reused, and an
/// ended stream is not listed again), so it holds at most the live streams.
fn new_streams<'a>(
    infos: &'a [StreamInfo],
    channels: &RecordedChannels,
    recorded: &mut HashSet<u64>,
) -> Vec<&'a Arc<Stream>> {
    let live: HashSet<u64> = infos.iter().map(|info| info.stream.id()).collect();
    recorded.retain(|id| live.contains(id));
    infos
        .iter()
        .filter(|info| info.ingest != Ingest::Relay && channels.records(info.stream.channel()))
        .filter(|info| recorded.insert(info.stream.id()))
        .map(|info| &info.stream)
        .collect()
}

/// A fresh, empty directory for a test.
#[cfg(test)]
fn test_dir(name: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("waveguide-recording-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Recordings over `dir` with no tasks, whose webhook events are kept;
/// every viewer may list and download (the dummy service).
#[cfg(test)]
fn test_recordings(dir: Option<PathBuf>) -> (Arc<Recordings>, Arc<Mutex<Vec<serde_json::Value>>>) {
    test_recordings_with(dir, crate::control::service::Service::Dummy)
}

/// As [`test_recordings`], with viewers decided by `service`.
#[cfg(test)]
fn test_recordings_with(
    dir: Option<PathBuf>,
    service: crate::control::service::Service,
) -> (Arc<Recordings>, Arc<Mutex<Vec<serde_json::Value>>>) {
    let events = Arc::new(Mutex::new(Vec::new()));
    let kept = Arc::clone(&events);
    let shared = Arc::new(Shared::new(
        dir,
        Box::new(move |event| kept.lock().push(event)),
    ));
    let viewers = ServiceClient::new(service).unwrap();
    (Arc::new(Recordings { shared, viewers }), events)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_lists_select() {
        assert!(RecordedChannels::All.records("anything"));
        let only = RecordedChannels::Only(vec!["a".into(), "b".into()]);
        assert!(only.records("a") && only.records("b"));
        assert!(!only.records("c") && !only.records(""));
    }

    fn info(id: u64, channel: &str, ingest: Ingest) -> StreamInfo {
        StreamInfo {
            stream: Arc::new(Stream::new(id, channel.to_owned(), None, None)),
            ingest,
            ingest_worker: None,
        }
    }

    fn ids(streams: &[&Arc<Stream>]) -> Vec<u64> {
        streams.iter().map(|stream| stream.id()).collect()
    }

    #[test]
    fn each_live_stream_of_a_recorded_channel_is_recorded_once() {
        let channels = RecordedChannels::Only(vec!["a".into(), "b".into()]);
        let mut recorded = HashSet::new();
        let infos = [
            info(1, "a", Ingest::Ftl),
            info(2, "b", Ingest::Rtmp),
            info(3, "c", Ingest::Whip),
            info(4, "a", Ingest::Relay),
        ];
        assert_eq!(ids(&new_streams(&infos, &channels, &mut recorded)), [1, 2]);
        // Seen again on the next tick: nothing new.
        assert!(new_streams(&infos, &channels, &mut recorded).is_empty());
        // Stream 1 ended and its channel came back as stream 5.
        let infos = [info(2, "b", Ingest::Rtmp), info(5, "a", Ingest::Whip)];
        assert_eq!(ids(&new_streams(&infos, &channels, &mut recorded)), [5]);
        assert_eq!(recorded, HashSet::from([2, 5]));
    }

    #[test]
    fn every_channel_but_never_a_relay() {
        let mut recorded = HashSet::new();
        let infos = [
            info(1, "x", Ingest::Relay),
            info(2, "y", Ingest::Ftl),
            info(3, "../z", Ingest::Whip),
        ];
        let all = RecordedChannels::All;
        assert_eq!(ids(&new_streams(&infos, &all, &mut recorded)), [2, 3]);
        assert!(!recorded.contains(&1));
    }

    #[test]
    fn default_settings_record_nothing() {
        let settings = RecordingSettings::default();
        assert_eq!(settings.dir, None);
        assert_eq!(settings.channels, RecordedChannels::All);
        let (recordings, _) = test_recordings(None);
        assert_eq!(recordings.metrics(), RecordingMetrics::default());
    }
}
