//! One recording: the sink on the packager's thread, which only queues,
//! and the writer on its own thread, which turns the events into files
//! (`dir/<channel>/<start>.mp4`, then a sidecar when a file finishes).
//!
//! Each fragment goes to the kernel in one `write_all` on an unbuffered
//! `File`, so the page cache holds every whole fragment the moment it is
//! written: a killed process loses nothing written, only the fragment it
//! was in the middle of. `fsync` per fragment would guard only against a
//! power cut or a kernel crash, at a disk flush every part; a finished file
//! is synced once, before its sidecar says it is complete.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::time::{Duration, SystemTime};

use serde_json::json;

use super::catalog::{Sidecar, write_sidecar};
use super::naming::{MAX_SUFFIX, RecordingId, Stem, channel_dir, rfc3339};
use super::{ActiveFile, Shared};
use crate::outputs::packager::{InitSegment, PackagerEvent, PackagerSink, Part};

/// Events queued between the packager and one recording's writer (about
/// 20 to 60 s of parts). A disk stalled for longer fails that recording
/// rather than holding the packager or growing without bound.
pub(super) const QUEUE_EVENTS: usize = 64;

/// The packager's side of a recording: queues each event for the writer
/// and never waits.
pub(super) struct RecordingSink {
    queue: SyncSender<PackagerEvent>,
    /// Set when the queue was full: the writer then closes the file as
    /// failed.
    fell_behind: Arc<AtomicBool>,
}

impl PackagerSink for RecordingSink {
    fn deliver(&mut self, event: &PackagerEvent) -> bool {
        match self.queue.try_send(event.clone()) {
            Ok(()) => true,
            Err(TrySendError::Full(_)) => {
                self.fell_behind.store(true, Ordering::Release);
                false
            }
            // The writer stopped (it failed, or saw the end).
            Err(TrySendError::Disconnected(_)) => false,
        }
    }
}

/// Starts the writer of a recording of `channel`'s stream `stream_id` on
/// its own thread; its sink goes to the packager.
pub(super) fn spawn(
    shared: Arc<Shared>,
    channel: &str,
    stream_id: u64,
) -> io::Result<RecordingSink> {
    let writer = Writer::new(shared, channel, stream_id)?;
    let (queue, events) = sync_channel(QUEUE_EVENTS);
    let fell_behind = Arc::new(AtomicBool::new(false));
    let behind = Arc::clone(&fell_behind);
    // Named by id: a channel is client input (it may hold a NUL).
    std::thread::Builder::new()
        .name(format!("recording-{stream_id}"))
        .spawn(move || writer.run(&events, &behind))?;
    Ok(RecordingSink { queue, fell_behind })
}

/// Whether the writer goes on after an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Flow {
    Continue,
    Stop,
}

/// The file being written.
struct OpenFile {
    file: File,
    id: RecordingId,
    path: PathBuf,
    start: Stem,
    duration: Duration,
    bytes: u64,
}

/// Writes one stream's events to files.
pub(super) struct Writer {
    shared: Arc<Shared>,
    dir: PathBuf,
    channel: String,
    channel_dir: String,
    stream_id: u64,
    init: Option<Arc<InitSegment>>,
    file: Option<OpenFile>,
    /// How a new file is opened (`create_new`; tests swap in `/dev/full`).
    open: fn(&Path) -> io::Result<File>,
}

fn create_new(path: &Path) -> io::Result<File> {
    OpenOptions::new().write(true).create_new(true).open(path)
}

impl Writer {
    /// A writer for `channel`, or why there can be none (no dir, an empty
    /// channel name).
    pub(super) fn new(shared: Arc<Shared>, channel: &str, stream_id: u64) -> io::Result<Self> {
        let dir = shared
            .dir
            .clone()
            .ok_or_else(|| io::Error::other("recording is off"))?;
        let channel_dir = channel_dir(channel)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "empty channel name"))?;
        Ok(Self {
            shared,
            dir,
            channel: channel.to_owned(),
            channel_dir,
            stream_id,
            init: None,
            file: None,
            open: create_new,
        })
    }

    #[cfg(test)]
    pub(super) fn with_opener(mut self, open: fn(&Path) -> io::Result<File>) -> Self {
        self.open = open;
        self
    }

    /// Writes events until the end, an error, or the sink's departure.
    fn run(mut self, events: &Receiver<PackagerEvent>, fell_behind: &AtomicBool) {
        loop {
            match events.recv() {
                Ok(event) => {
                    if self.handle(&event) == Flow::Stop {
                        return;
                    }
                }
                // The sink is gone; what it queued has been written.
                Err(_) => {
                    if fell_behind.load(Ordering::Acquire) {
                        self.fell_behind();
                    } else {
                        // The packager stopped without `Ended`; the file is whole.
                        self.finish();
                    }
                    return;
                }
            }
        }
    }

    /// Takes one event.
    pub(super) fn handle(&mut self, event: &PackagerEvent) -> Flow {
        match event {
            PackagerEvent::Init(init) => {
                // A moov cannot change: the next part starts a new file.
                self.finish();
                self.init = Some(Arc::clone(init));
                Flow::Continue
            }
            PackagerEvent::Part(part) => self.write_part(part),
            PackagerEvent::Ended => {
                self.finish();
                Flow::Stop
            }
        }
    }

    fn write_part(&mut self, part: &Part) -> Flow {
        if self.file.is_none() {
            let Some(init) = self.init.clone() else {
                tracing::debug!(
                    stream_id = self.stream_id,
                    "a part before any init segment; skipped"
                );
                return Flow::Continue;
            };
            if let Err((path, error)) = self.open(part.program_date_time, &init) {
                return self.fail(&path, &error);
            }
        }
        let Some(open) = self.file.as_mut() else {
            return Flow::Continue;
        };
        if let Err(error) = open
            .file
            .write_all(&part.bytes)
            .and_then(|()| open.file.flush())
        {
            let path = open.path.clone();
            return self.fail(&path, &error);
        }
        open.duration += part.duration;
        open.bytes += part.bytes.len() as u64;
        let progress = ActiveFile {
            duration: open.duration,
            bytes: open.bytes,
        };
        let mut state = self.shared.state.lock();
        state.counters.bytes_written += part.bytes.len() as u64;
        if let Some(active) = state.active.get_mut(&open.path) {
            *active = progress;
        }
        Flow::Continue
    }

    /// Creates the next file, named by its first sample's time, and writes
    /// the init segment to it.
    fn open(&mut self, start: SystemTime, init: &InitSegment) -> Result<(), (PathBuf, io::Error)> {
        let channel_path = self.dir.join(&self.channel_dir);
        std::fs::create_dir_all(&channel_path).map_err(|error| (channel_path.clone(), error))?;
        let first = Stem::at(start);
        let mut opened = None;
        for suffix in std::iter::once(0).chain(2..=MAX_SUFFIX) {
            let id = RecordingId {
                channel_dir: self.channel_dir.clone(),
                stem: first.with_suffix(suffix),
            };
            let path = id.file(&self.dir);
            // Listed as being written before it exists (see `State::active`).
            {
                let mut state = self.shared.state.lock();
                if state.active.contains_key(&path) {
                    continue;
                }
                state.active.insert(path.clone(), ActiveFile::default());
            }
            match (self.open)(&path) {
                Ok(file) => {
                    opened = Some((file, id, path));
                    break;
                }
                Err(error) => {
                    self.shared.state.lock().active.remove(&path);
                    if error.kind() != io::ErrorKind::AlreadyExists {
                        return Err((path, error));
                    }
                }
            }
        }
        let Some((file, id, path)) = opened else {
            let error = io::Error::new(
                io::ErrorKind::AlreadyExists,
                "every name for this second is taken",
            );
            return Err((channel_path.join(first.to_string()), error));
        };
        tracing::info!(channel = ?self.channel, stream_id = self.stream_id, path = %path.display(), "recording");
        self.file = Some(OpenFile {
            file,
            id,
            path: path.clone(),
            start: first,
            duration: Duration::ZERO,
            bytes: 0,
        });
        let Some(open) = self.file.as_mut() else {
            return Ok(());
        };
        open.file
            .write_all(&init.bytes)
            .and_then(|()| open.file.flush())
            .map_err(|error| (path.clone(), error))?;
        open.bytes = init.bytes.len() as u64;
        let mut state = self.shared.state.lock();
        state.counters.bytes_written += open.bytes;
        if let Some(active) = state.active.get_mut(&path) {
            active.bytes = open.bytes;
        }
        Ok(())
    }

    /// A write failed: logged once, counted, and the file closed as it
    /// is (it plays up to its last whole fragment).
    fn fail(&mut self, path: &Path, error: &io::Error) -> Flow {
        tracing::warn!(channel = ?self.channel, stream_id = self.stream_id, path = %path.display(), %error, "recording failed; the stream goes on");
        self.shared.count(|c| c.failed += 1);
        self.close(Some(error.to_string()));
        Flow::Stop
    }

    /// The packager dropped this recording because its queue was full.
    fn fell_behind(&mut self) {
        let path = self
            .file
            .as_ref()
            .map(|open| open.path.display().to_string());
        tracing::warn!(channel = ?self.channel, stream_id = self.stream_id, ?path, queue = QUEUE_EVENTS, "recording fell behind the stream (a slow disk); stopped");
        self.shared.count(|c| c.failed += 1);
        self.close(Some("the writer fell behind the stream".to_owned()));
    }

    /// Closes the file being written, if any, as finished.
    fn finish(&mut self) {
        self.close(None);
    }

    /// Closes the file: synced (if whole), its sidecar written, no longer
    /// active and, if whole, counted finished, and the webhook told: `{"event": "recording_finished", "channel",
    /// "stream_id", "recording_id" (as the API names it), "start" (RFC 3339
    /// UTC), "duration_seconds", "bytes", "error"}`, where `error` is null
    /// unless the recording stopped early (the file still plays up to there).
    fn close(&mut self, error: Option<String>) {
        let Some(open) = self.file.take() else {
            return;
        };
        if error.is_none()
            && let Err(sync_error) = open.file.sync_data()
        {
            tracing::debug!(path = %open.path.display(), error = %sync_error, "cannot sync a finished recording");
        }
        drop(open.file);
        let duration_s = (open.duration.as_secs_f64() * 1000.0).round() / 1000.0;
        let start = rfc3339(open.start.start);
        let sidecar = Sidecar {
            channel: self.channel.clone(),
            stream_id: Some(self.stream_id),
            start: start.clone(),
            duration_s: Some(duration_s),
            bytes: open.bytes,
            error: error.clone(),
        };
        if let Err(sidecar_error) = write_sidecar(&open.id.sidecar(&self.dir), &sidecar) {
            // Listing computes the duration from the file instead.
            tracing::debug!(path = %open.path.display(), error = %sidecar_error, "cannot write a recording's sidecar");
        }
        {
            // One lock: a snapshot never counts a file both active and finished.
            let mut state = self.shared.state.lock();
            state.active.remove(&open.path);
            if error.is_none() {
                state.counters.finished += 1;
            }
        }
        (self.shared.notify)(json!({
            "event": "recording_finished",
            "channel": self.channel,
            "stream_id": self.stream_id,
            "recording_id": open.id.to_string(),
            "start": start,
            "duration_seconds": duration_s,
            "bytes": open.bytes,
            "error": error,
        }));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outputs::recording::{test_dir, test_recordings};
    use bytes::Bytes;
    use std::time::UNIX_EPOCH;

    fn init(tag: &[u8]) -> PackagerEvent {
        PackagerEvent::Init(Arc::new(InitSegment {
            bytes: Bytes::copy_from_slice(tag),
            codecs: "avc1.64001f,opus".into(),
            resolution: Some((1280, 720)),
        }))
    }

    /// 2026-12-03T16:30:00Z plus `seconds`.
    fn part(bytes: &[u8], seconds: u64) -> PackagerEvent {
        PackagerEvent::Part(Arc::new(Part {
            bytes: Bytes::copy_from_slice(bytes),
            duration: Duration::from_millis(500),
            independent: true,
            starts_segment: true,
            discontinuity: false,
            program_date_time: UNIX_EPOCH + Duration::from_secs(1_796_315_400 + seconds),
        }))
    }

    fn writer(
        dir: &Path,
        channel: &str,
    ) -> (
        Writer,
        Arc<super::super::Recordings>,
        Arc<parking_lot::Mutex<Vec<serde_json::Value>>>,
    ) {
        let (recordings, events) = test_recordings(Some(dir.to_owned()));
        let writer = Writer::new(Arc::clone(&recordings.shared), channel, 7).unwrap();
        (writer, recordings, events)
    }

    #[test]
    fn a_file_is_init_then_parts() {
        let dir = test_dir("writer-bytes");
        let (mut writer, recordings, events) = writer(&dir, "123");
        assert_eq!(writer.handle(&init(b"INIT")), Flow::Continue);
        assert_eq!(writer.handle(&part(b"part-one", 0)), Flow::Continue);
        let path = dir.join("123/20261203T163000Z.mp4");
        // Flushed per fragment: the bytes are there while it is written.
        assert_eq!(std::fs::read(&path).unwrap(), b"INITpart-one");
        assert_eq!(recordings.metrics().active, 1);
        assert_eq!(writer.handle(&part(b"-two", 0)), Flow::Continue);
        assert_eq!(writer.handle(&PackagerEvent::Ended), Flow::Stop);
        assert_eq!(std::fs::read(&path).unwrap(), b"INITpart-one-two");
        let metrics = recordings.metrics();
        assert_eq!(
            (metrics.active, metrics.finished, metrics.failed),
            (0, 1, 0)
        );
        assert_eq!(metrics.bytes_written, 16);
        let sidecar: Sidecar =
            serde_json::from_slice(&std::fs::read(dir.join("123/20261203T163000Z.json")).unwrap())
                .unwrap();
        assert_eq!(sidecar.duration_s, Some(1.0));
        assert_eq!(sidecar.bytes, 16);
        let events = events.lock();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0]["event"], "recording_finished");
        assert_eq!(events[0]["channel"], "123");
        assert_eq!(events[0]["stream_id"], 7);
        assert_eq!(events[0]["recording_id"], "123~20261203T163000Z");
        assert_eq!(events[0]["start"], "2026-12-03T16:30:00Z");
        assert_eq!(events[0]["duration_seconds"], 1.0);
        assert_eq!(events[0]["bytes"], 16);
        assert_eq!(events[0]["error"], serde_json::Value::Null);
    }

    #[test]
    fn a_new_init_starts_a_new_file() {
        let dir = test_dir("writer-new-init");
        let (mut writer, recordings, events) = writer(&dir, "c");
        writer.handle(&init(b"A"));
        writer.handle(&part(b"1", 0));
        writer.handle(&init(b"B"));
        // Same second: the second file takes a suffix.
        writer.handle(&part(b"2", 0));
        writer.handle(&init(b"C"));
        writer.handle(&part(b"3", 5));
        writer.handle(&PackagerEvent::Ended);
        assert_eq!(
            std::fs::read(dir.join("c/20261203T163000Z.mp4")).unwrap(),
            b"A1"
        );
        assert_eq!(
            std::fs::read(dir.join("c/20261203T163000Z-2.mp4")).unwrap(),
            b"B2"
        );
        assert_eq!(
            std::fs::read(dir.join("c/20261203T163005Z.mp4")).unwrap(),
            b"C3"
        );
        assert_eq!(recordings.metrics().finished, 3);
        assert_eq!(events.lock().len(), 3);
    }

    #[test]
    fn an_existing_file_is_never_overwritten() {
        let dir = test_dir("writer-exists");
        std::fs::create_dir_all(dir.join("c")).unwrap();
        std::fs::write(dir.join("c/20261203T163000Z.mp4"), b"old").unwrap();
        let (mut writer, _, _) = writer(&dir, "c");
        writer.handle(&init(b"I"));
        writer.handle(&part(b"P", 0));
        writer.handle(&PackagerEvent::Ended);
        assert_eq!(
            std::fs::read(dir.join("c/20261203T163000Z.mp4")).unwrap(),
            b"old"
        );
        assert_eq!(
            std::fs::read(dir.join("c/20261203T163000Z-2.mp4")).unwrap(),
            b"IP"
        );
    }

    #[test]
    fn no_part_no_file() {
        let dir = test_dir("writer-empty");
        let (mut writer, recordings, events) = writer(&dir, "c");
        writer.handle(&init(b"I"));
        writer.handle(&PackagerEvent::Ended);
        assert!(!dir.join("c").exists());
        assert_eq!(recordings.metrics(), Default::default());
        assert!(events.lock().is_empty());
    }

    #[test]
    fn a_hostile_channel_stays_under_dir() {
        let dir = test_dir("writer-hostile");
        let (mut writer, _, _) = writer(&dir, "../../escape");
        writer.handle(&init(b"I"));
        writer.handle(&part(b"P", 0));
        writer.handle(&PackagerEvent::Ended);
        assert!(
            dir.join(".2E.2E.2F.2E.2E.2Fescape/20261203T163000Z.mp4")
                .is_file()
        );
        assert!(Writer::new(Arc::clone(&writer.shared), "", 1).is_err());
    }

    #[test]
    fn an_uncreatable_dir_fails_the_recording() {
        // Root ignores permission bits; a path under a regular file fails
        // for everyone (ENOTDIR).
        let base = test_dir("writer-uncreatable");
        let file = base.join("a-file");
        std::fs::write(&file, b"").unwrap();
        let (mut writer, recordings, events) = writer(&file.join("sub"), "c");
        writer.handle(&init(b"I"));
        assert_eq!(writer.handle(&part(b"P", 0)), Flow::Stop);
        let metrics = recordings.metrics();
        assert_eq!(
            (metrics.active, metrics.finished, metrics.failed),
            (0, 0, 1)
        );
        // No file, so nothing to tell the webhook.
        assert!(events.lock().is_empty());
    }

    #[test]
    fn a_full_disk_fails_the_recording() {
        let dir = test_dir("writer-full");
        let (writer, recordings, events) = writer(&dir, "c");
        let mut writer = writer.with_opener(|_| OpenOptions::new().write(true).open("/dev/full"));
        writer.handle(&init(b"I"));
        assert_eq!(writer.handle(&part(b"P", 0)), Flow::Stop);
        let metrics = recordings.metrics();
        assert_eq!(
            (metrics.active, metrics.finished, metrics.failed),
            (0, 0, 1)
        );
        let events = events.lock();
        assert_eq!(events.len(), 1);
        let error = events[0]["error"].as_str().unwrap();
        assert!(error.contains("No space left"), "{error}");
    }

    #[test]
    fn a_writer_left_behind_fails_the_recording_not_the_packager() {
        let dir = test_dir("writer-behind");
        let (recordings, _) = test_recordings(Some(dir.clone()));
        // A queue no writer drains.
        let (queue, events) = sync_channel(QUEUE_EVENTS);
        let fell_behind = Arc::new(AtomicBool::new(false));
        let mut sink = RecordingSink {
            queue,
            fell_behind: Arc::clone(&fell_behind),
        };
        assert!(sink.deliver(&init(b"I")));
        for second in 1..QUEUE_EVENTS as u64 {
            assert!(sink.deliver(&part(b"P", second)), "{second}");
        }
        assert!(!sink.deliver(&part(b"P", 99)));
        drop(sink);
        let writer = Writer::new(Arc::clone(&recordings.shared), "c", 1).unwrap();
        writer.run(&events, &fell_behind);
        let metrics = recordings.metrics();
        assert_eq!(
            (metrics.active, metrics.finished, metrics.failed),
            (0, 0, 1)
        );
        // What was queued is written and the file closed.
        let written = std::fs::read(dir.join("c/20261203T163001Z.mp4")).unwrap();
        assert_eq!(written.len(), 1 + (QUEUE_EVENTS - 1));
    }

    #[test]
    fn a_sink_whose_writer_stopped_detaches() {
        let (queue, events) = sync_channel(QUEUE_EVENTS);
        let mut sink = RecordingSink {
            queue,
            fell_behind: Arc::new(AtomicBool::new(false)),
        };
        drop(events);
        assert!(!sink.deliver(&PackagerEvent::Ended));
    }

    #[test]
    fn the_thread_writes_what_the_sink_hears() {
        let dir = test_dir("writer-thread");
        let (recordings, events) = test_recordings(Some(dir.clone()));
        let mut sink = spawn(Arc::clone(&recordings.shared), "c", 3).unwrap();
        assert!(sink.deliver(&init(b"I")));
        assert!(sink.deliver(&part(b"P", 0)));
        assert!(sink.deliver(&PackagerEvent::Ended));
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while events.lock().is_empty() {
            assert!(
                std::time::Instant::now() < deadline,
                "no recording_finished"
            );
            std::thread::yield_now();
        }
        assert_eq!(
            std::fs::read(dir.join("c/20261203T163000Z.mp4")).unwrap(),
            b"IP"
        );
        assert_eq!(recordings.metrics().finished, 1);
    }

    /// The shipped clip (320x240, 30 fps, 90 frames, a keyframe a second)
    /// as AVCC access units, with its SPS and PPS.
    fn clip() -> (codec::cmaf::VideoConfig, Vec<(Vec<u8>, bool)>) {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/data/testsrc-320x240-30fps-baseline-gop30.h264"
        );
        let stream = std::fs::read(path).unwrap();
        let (mut sps, mut pps) = (None, None);
        let mut units: Vec<(Vec<u8>, bool)> = Vec::new();
        for nal in waveguide_load::media::nal_units(&stream) {
            let kind = nal[0] & 0x1f;
            match kind {
                7 => sps = sps.or(Some(nal.to_vec())),
                8 => pps = pps.or(Some(nal.to_vec())),
                1 | 5 => {
                    // first_mb_in_slice 0 (ue(v) "1") opens an access unit.
                    if nal[1] & 0x80 != 0 || units.is_empty() {
                        units.push((Vec::new(), false));
                    }
                    let (data, keyframe) = units.last_mut().unwrap();
                    data.extend_from_slice(&(nal.len() as u32).to_be_bytes());
                    data.extend_from_slice(nal);
                    *keyframe |= kind == 5;
                }
                _ => {}
            }
        }
        let sps = sps.unwrap();
        let parsed = codec::h264::Sps::parse(&sps).unwrap();
        let config = codec::cmaf::VideoConfig {
            sps,
            pps: pps.unwrap(),
            width: parsed.width,
            height: parsed.height,
        };
        (config, units)
    }

    /// ffprobe's frame count and duration of `path`, or its complaint.
    fn probe(path: &Path) -> (u64, f64) {
        let output = std::process::Command::new("/usr/bin/ffprobe")
            .args(["-v", "error", "-count_frames", "-select_streams", "v:0"])
            .args([
                "-show_entries",
                "stream=codec_name,width,height,nb_read_frames",
            ])
            .args(["-show_entries", "format=duration", "-of", "json"])
            .arg(path)
            .output()
            .expect("ffprobe (Debian's ffmpeg package) is needed for this test");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "ffprobe failed: {stderr}");
        let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
        let stream = &json["streams"][0];
        assert_eq!(stream["codec_name"], "h264", "{json}");
        assert_eq!(
            (stream["width"].as_u64(), stream["height"].as_u64()),
            (Some(320), Some(240))
        );
        let frames = stream["nb_read_frames"].as_str().unwrap().parse().unwrap();
        let duration = json["format"]["duration"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        (frames, duration)
    }

    #[test]
    fn a_recorded_clip_plays_whole_and_cut_short() {
        use codec::cmaf::{self, Sample, TrackConfig};
        let (video, units) = clip();
        assert_eq!(units.len(), 90);
        let config = TrackConfig {
            video: Some(video),
            audio: None,
        };
        let init_bytes = cmaf::init_segment(&config).unwrap();
        let dir = test_dir("writer-clip");
        let (mut writer, _, events) = writer(&dir, "clip");
        writer.handle(&PackagerEvent::Init(Arc::new(InitSegment {
            bytes: Bytes::from(init_bytes),
            codecs: cmaf::codecs(&config),
            resolution: Some((320, 240)),
        })));
        let mut sizes = Vec::new();
        for (index, chunk) in units.chunks(15).enumerate() {
            let first = index as u64 * 15;
            let samples: Vec<Sample> = chunk
                .iter()
                .enumerate()
                .map(|(i, (data, keyframe))| Sample {
                    decode_time: (first + i as u64) * 3000,
                    duration: 3000,
                    composition_offset: 0,
                    keyframe: *keyframe,
                    data,
                })
                .collect();
            let bytes = cmaf::fragment(index as u32 + 1, &samples, &[]).unwrap();
            sizes.push(bytes.len());
            let event = PackagerEvent::Part(Arc::new(Part {
                bytes: Bytes::from(bytes),
                duration: Duration::from_millis(500),
                independent: chunk[0].1,
                starts_segment: chunk[0].1,
                discontinuity: false,
                program_date_time: UNIX_EPOCH + Duration::from_secs(1_796_315_400),
            }));
            assert_eq!(writer.handle(&event), Flow::Continue);
        }
        writer.handle(&PackagerEvent::Ended);
        assert_eq!(events.lock()[0]["duration_seconds"], 3.0);
        let path = dir.join("clip/20261203T163000Z.mp4");
        let (frames, duration) = probe(&path);
        assert_eq!(frames, 90);
        assert!((duration - 3.0).abs() < 0.034, "{duration}");
        // The sidecar-less reading agrees.
        let read = super::super::fragments::duration_of(&path)
            .unwrap()
            .unwrap();
        assert!((read.as_secs_f64() - 3.0).abs() < 1e-6, "{read:?}");
        // Killed in the middle of the last fragment: what came before plays.
        let bytes = std::fs::read(&path).unwrap();
        let cut = bytes.len() - sizes.last().unwrap() / 2;
        let killed = dir.join("clip/killed.mp4");
        std::fs::write(&killed, &bytes[..cut]).unwrap();
        let (frames, _) = probe(&killed);
        assert!((75..90).contains(&frames), "{frames}");
        let read = super::super::fragments::duration_of(&killed)
            .unwrap()
            .unwrap();
        assert!((read.as_secs_f64() - 2.5).abs() < 1e-6, "{read:?}");
    }
}
