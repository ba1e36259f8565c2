//! What the recording dir holds, read from the dir itself so it survives
//! restarts: each `<channel>/<stem>.mp4` with its sidecar (written when a
//! file finished). A file left by a killed server has no sidecar; its
//! duration is read from its fragments once and the sidecar written then.
//! Anything else in the dir is not ours and is left alone.

use std::fs;
use std::io;
use std::path::Path;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use super::Shared;
use super::fragments::duration_of;
use super::naming::{RecordingId, Stem, channel_from_dir, rfc3339};

/// A finished file's facts, beside it as `<stem>.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(super) struct Sidecar {
    /// The channel, as the publisher named it.
    pub channel: String,
    /// The stream it recorded (unknown for a recovered file).
    pub stream_id: Option<u64>,
    /// Its first sample's time (RFC 3339).
    pub start: String,
    /// Its media duration in seconds, when known.
    pub duration_s: Option<f64>,
    /// Its size when it finished.
    pub bytes: u64,
    /// Why it stopped early, if it did.
    pub error: Option<String>,
}

/// Writes `sidecar` to `path` whole or not at all (a temporary file, then
/// a rename).
pub(super) fn write_sidecar(path: &Path, sidecar: &Sidecar) -> io::Result<()> {
    let text = serde_json::to_vec_pretty(sidecar).map_err(io::Error::other)?;
    let temporary = path.with_extension("json.tmp");
    fs::write(&temporary, text)?;
    fs::rename(&temporary, path)
}

/// One recording in the dir.
#[derive(Debug, Clone)]
pub(super) struct Entry {
    pub id: RecordingId,
    pub channel: String,
    pub start: Stem,
    /// Media duration, when known.
    pub duration: Option<Duration>,
    pub bytes: u64,
    /// When it was last written.
    pub modified: SystemTime,
    /// Whether it is being written now.
    pub recording: bool,
}

impl Entry {
    /// As `GET /api/recordings` lists it.
    pub fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "id": self.id.to_string(),
            "channel": self.channel,
            "start": rfc3339(self.start.start),
            "duration_s": self.duration.map(|d| (d.as_secs_f64() * 1000.0).round() / 1000.0),
            "bytes": self.bytes,
            "recording": self.recording,
        })
    }
}

/// Every recording under `dir`, newest first. A finished file without a
/// sidecar gets one.
pub(super) fn scan(shared: &Shared, dir: &Path) -> Vec<Entry> {
    let mut entries = Vec::new();
    let Ok(channels) = fs::read_dir(dir) else {
        return entries;
    };
    for channel_entry in channels.flatten() {
        // `file_type` does not follow symlinks: a link is not ours.
        let is_dir = channel_entry.file_type().is_ok_and(|t| t.is_dir());
        let name = channel_entry.file_name();
        let Some((channel_dir, channel)) = name
            .to_str()
            .and_then(|name| Some((name.to_owned(), channel_from_dir(name)?)))
        else {
            continue;
        };
        if !is_dir {
            continue;
        }
        let Ok(files) = fs::read_dir(channel_entry.path()) else {
            continue;
        };
        for file_entry in files.flatten() {
            let file_name = file_entry.file_name();
            let Some(stem) = file_name
                .to_str()
                .and_then(|name| name.strip_suffix(".mp4"))
                .and_then(Stem::parse)
            else {
                continue;
            };
            let is_file = file_entry.file_type().is_ok_and(|t| t.is_file());
            let Ok(metadata) = file_entry.metadata() else {
                continue;
            };
            if !is_file {
                continue;
            }
            let id = RecordingId {
                channel_dir: channel_dir.clone(),
                stem,
            };
            let path = file_entry.path();
            let modified = metadata.modified().unwrap_or(SystemTime::UNIX_EPOCH);
            let entry = match shared.is_active(&path) {
                Some(active) => Entry {
                    id,
                    channel: channel.clone(),
                    start: stem,
                    duration: Some(active.duration),
                    bytes: metadata.len(),
                    modified,
                    recording: true,
                },
                None => Entry {
                    duration: finished_duration(dir, &id, &channel, &path, metadata.len()),
                    id,
                    channel: channel.clone(),
                    start: stem,
                    bytes: metadata.len(),
                    modified,
                    recording: false,
                },
            };
            entries.push(entry);
        }
    }
    entries.sort_by(|a, b| {
        b.start
            .cmp(&a.start)
            .then_with(|| b.channel.cmp(&a.channel))
    });
    entries
}

/// A finished file's duration: from its sidecar, or read from its
/// fragments (then kept in a new sidecar).
fn finished_duration(
    dir: &Path,
    id: &RecordingId,
    channel: &str,
    path: &Path,
    bytes: u64,
) -> Option<Duration> {
    let sidecar_path = id.sidecar(dir);
    let sidecar = fs::read(&sidecar_path)
        .ok()
        .and_then(|text| serde_json::from_slice::<Sidecar>(&text).ok());
    if let Some(sidecar) = sidecar {
        return sidecar
            .duration_s
            .filter(|s| s.is_finite() && *s >= 0.0)
            .map(Duration::from_secs_f64);
    }
    let duration = duration_of(path).ok().flatten();
    let recovered = Sidecar {
        channel: channel.to_owned(),
        stream_id: None,
        start: rfc3339(id.stem.start),
        duration_s: duration.map(|d| (d.as_secs_f64() * 1000.0).round() / 1000.0),
        bytes,
        error: Some("not finished (the server stopped while recording)".to_owned()),
    };
    if let Err(error) = write_sidecar(&sidecar_path, &recovered) {
        tracing::debug!(path = %sidecar_path.display(), %error, "cannot write a recovered recording's sidecar");
    }
    duration
}

#[cfg(test)]
mod tests {
    use super::super::fragments::build::{fragment, init};
    use super::super::{ActiveFile, test_dir, test_recordings};
    use super::*;

    #[test]
    fn lists_ours_newest_first_and_ignores_the_rest() {
        let dir = test_dir("catalog-list");
        fs::create_dir_all(dir.join("a")).unwrap();
        fs::create_dir_all(dir.join("b.2Fc")).unwrap();
        fs::create_dir_all(dir.join("not ours")).unwrap();
        fs::write(dir.join("a/20261203T163000Z.mp4"), b"12345").unwrap();
        fs::write(dir.join("b.2Fc/20261204T000000Z.mp4"), b"1").unwrap();
        fs::write(dir.join("a/notes.txt"), b"x").unwrap();
        fs::write(dir.join("a/2026.mp4"), b"x").unwrap();
        fs::write(dir.join("not ours/20261203T163000Z.mp4"), b"x").unwrap();
        fs::write(dir.join("20261203T163000Z.mp4"), b"x").unwrap();
        fs::create_dir_all(dir.join("a/20261205T000000Z.mp4")).unwrap();
        let (recordings, _) = test_recordings(Some(dir.clone()));
        let entries = scan(&recordings.shared, &dir);
        let ids: Vec<String> = entries.iter().map(|e| e.id.to_string()).collect();
        assert_eq!(ids, ["b.2Fc~20261204T000000Z", "a~20261203T163000Z"]);
        assert_eq!(entries[0].channel, "b/c");
        assert_eq!(entries[1].bytes, 5);
        assert!(!entries[0].recording);
    }

    #[test]
    fn a_file_being_written_is_marked() {
        let dir = test_dir("catalog-active");
        fs::create_dir_all(dir.join("a")).unwrap();
        let path = dir.join("a/20261203T163000Z.mp4");
        fs::write(&path, b"xx").unwrap();
        let (recordings, _) = test_recordings(Some(dir.clone()));
        recordings.shared.state.lock().active.insert(
            path,
            ActiveFile {
                duration: Duration::from_secs(3),
                bytes: 2,
            },
        );
        let entries = scan(&recordings.shared, &dir);
        assert!(entries[0].recording);
        assert_eq!(entries[0].duration, Some(Duration::from_secs(3)));
        // No sidecar is made up for it.
        assert!(!dir.join("a/20261203T163000Z.json").exists());
        let json = entries[0].json();
        assert_eq!(json["recording"], true);
        assert_eq!(json["start"], "2026-12-03T16:30:00Z");
        assert_eq!(json["duration_s"], 3.0);
    }

    #[test]
    fn a_killed_servers_file_gets_its_duration_from_its_fragments() {
        let dir = test_dir("catalog-recover");
        fs::create_dir_all(dir.join("a")).unwrap();
        let mut bytes = init(&[(1, 1000, 0)]);
        bytes.extend(fragment(&[(1, 0, &[500; 3])], true));
        fs::write(dir.join("a/20261203T163000Z.mp4"), &bytes).unwrap();
        let (recordings, _) = test_recordings(Some(dir.clone()));
        let entries = scan(&recordings.shared, &dir);
        assert_eq!(entries[0].duration, Some(Duration::from_millis(1500)));
        let sidecar: Sidecar =
            serde_json::from_slice(&fs::read(dir.join("a/20261203T163000Z.json")).unwrap())
                .unwrap();
        assert_eq!(sidecar.duration_s, Some(1.5));
        assert_eq!(sidecar.stream_id, None);
        assert!(sidecar.error.is_some());
        // The sidecar is used from then on.
        write_sidecar(
            &dir.join("a/20261203T163000Z.json"),
            &Sidecar {
                duration_s: Some(9.0),
                ..sidecar
            },
        )
        .unwrap();
        let entries = scan(&recordings.shared, &dir);
        assert_eq!(entries[0].duration, Some(Duration::from_secs(9)));
    }
}
