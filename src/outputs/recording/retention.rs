//! Retention: finished recordings last written longer ago than the
//! maximum age are deleted, then the oldest finished ones while all of
//! them (the ones being written count, but are never deleted) take more
//! than the maximum total.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::Shared;
use super::catalog::{Entry, scan};

/// What retention needs to know of a recording.
#[derive(Debug, Clone, Copy)]
pub(super) struct Candidate {
    pub modified: SystemTime,
    pub bytes: u64,
    pub recording: bool,
}

/// Which of `candidates` to delete, by index: every finished one older
/// than `max_age`, then the least recently written finished ones until
/// the total is at most `max_total`.
pub(super) fn select(
    candidates: &[Candidate],
    now: SystemTime,
    max_age: Option<Duration>,
    max_total: Option<u64>,
) -> Vec<usize> {
    let mut doomed = vec![false; candidates.len()];
    let mut total: u64 = candidates.iter().map(|c| c.bytes).sum();
    for (index, candidate) in candidates.iter().enumerate() {
        let age = now.duration_since(candidate.modified).unwrap_or_default();
        if !candidate.recording && max_age.is_some_and(|max| age > max) {
            doomed[index] = true;
            total = total.saturating_sub(candidate.bytes);
        }
    }
    if let Some(max_total) = max_total {
        let mut oldest_first: Vec<usize> = (0..candidates.len())
            .filter(|&i| !candidates[i].recording && !doomed[i])
            .collect();
        oldest_first.sort_by_key(|&i| candidates[i].modified);
        for index in oldest_first {
            if total <= max_total {
                break;
            }
            doomed[index] = true;
            total = total.saturating_sub(candidates[index].bytes);
        }
    }
    (0..candidates.len()).filter(|&i| doomed[i]).collect()
}

/// One pass: reads the dir, deletes what [`select`] picks (the file, then
/// its sidecar), counts the deleted files. Also gives a killed server's
/// files their sidecars (see `catalog::scan`).
pub(super) fn sweep(
    shared: &Shared,
    dir: &Path,
    now: SystemTime,
    max_age: Option<Duration>,
    max_total: Option<u64>,
) -> Vec<PathBuf> {
    let entries: Vec<Entry> = scan(shared, dir);
    let candidates: Vec<Candidate> = entries
        .iter()
        .map(|entry| Candidate {
            modified: entry.modified,
            bytes: entry.bytes,
            recording: entry.recording,
        })
        .collect();
    let mut deleted = Vec::new();
    for index in select(&candidates, now, max_age, max_total) {
        let Some(entry) = entries.get(index) else {
            continue;
        };
        let path = entry.id.file(dir);
        // A name being written is never a finished file's: names are
        // unique and registered before they are created.
        if shared.is_active(&path).is_some() {
            continue;
        }
        match std::fs::remove_file(&path) {
            Ok(()) => {
                let _ = std::fs::remove_file(entry.id.sidecar(dir));
                tracing::info!(path = %path.display(), bytes = entry.bytes, "recording deleted by retention");
                shared.count(|c| c.deleted += 1);
                deleted.push(path);
            }
            Err(error) => {
                tracing::warn!(path = %path.display(), %error, "cannot delete a recording");
            }
        }
    }
    deleted
}

/// Sweeps now and every `interval`, on the blocking pool.
pub(super) async fn run(
    shared: Arc<Shared>,
    dir: PathBuf,
    max_age: Option<Duration>,
    max_total: Option<u64>,
    interval: Duration,
) {
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        ticks.tick().await;
        let (shared, dir) = (Arc::clone(&shared), dir.clone());
        let pass = tokio::task::spawn_blocking(move || {
            sweep(&shared, &dir, SystemTime::now(), max_age, max_total);
        });
        let _ = pass.await;
    }
}

#[cfg(test)]
mod tests {
    use std::fs;

    use super::super::{ActiveFile, test_dir, test_recordings};
    use super::*;

    const HOUR: Duration = Duration::from_secs(3600);

    fn at(hours_ago: u64, bytes: u64, recording: bool) -> Candidate {
        Candidate {
            modified: SystemTime::UNIX_EPOCH + HOUR * 1000 - HOUR * hours_ago as u32,
            bytes,
            recording,
        }
    }

    fn now() -> SystemTime {
        SystemTime::UNIX_EPOCH + HOUR * 1000
    }

    #[test]
    fn nothing_without_limits() {
        let all = [at(100, 10, false), at(1, 10, false)];
        assert!(select(&all, now(), None, None).is_empty());
    }

    #[test]
    fn older_than_max_age_goes() {
        let all = [
            at(49, 1, false),
            at(48, 1, false),
            at(47, 1, false),
            at(72, 1, true),
        ];
        // Exactly 48 h is not older; the one being written is never deleted.
        assert_eq!(select(&all, now(), Some(HOUR * 48), None), [0]);
    }

    #[test]
    fn oldest_go_until_under_the_total() {
        let all = [
            at(3, 40, false),
            at(5, 40, false),
            at(1, 40, false),
            at(9, 40, true),
        ];
        // 160 in all, 100 allowed: the two oldest finished go (5 h, then 3 h).
        assert_eq!(select(&all, now(), None, Some(100)), [0, 1]);
        // At the limit, nothing goes.
        assert!(select(&all, now(), None, Some(160)).is_empty());
        // Over it by one: the oldest finished one goes.
        assert_eq!(select(&all, now(), None, Some(159)), [1]);
        // The one being written counts, but stays, even above the limit.
        assert_eq!(select(&all, now(), None, Some(1)), [0, 1, 2]);
    }

    #[test]
    fn age_first_then_size() {
        let all = [at(100, 50, false), at(2, 50, false), at(1, 50, false)];
        // Age takes the first; 100 left is at the limit.
        assert_eq!(select(&all, now(), Some(HOUR * 50), Some(100)), [0]);
        assert_eq!(select(&all, now(), Some(HOUR * 50), Some(99)), [0, 1]);
    }

    #[test]
    fn sweep_deletes_old_files_but_not_the_active_one() {
        let dir = test_dir("retention-sweep");
        fs::create_dir_all(dir.join("c")).unwrap();
        let old = dir.join("c/20261203T163000Z.mp4");
        let active = dir.join("c/20261203T170000Z.mp4");
        let young = dir.join("c/20261203T180000Z.mp4");
        for path in [&old, &active, &young] {
            fs::write(path, vec![0u8; 100]).unwrap();
        }
        fs::write(dir.join("c/20261203T163000Z.json"), b"{}").unwrap();
        let ago = |hours: u32| SystemTime::now() - HOUR * hours;
        for (path, hours) in [(&old, 30), (&active, 40), (&young, 1)] {
            fs::File::options()
                .write(true)
                .open(path)
                .unwrap()
                .set_modified(ago(hours))
                .unwrap();
        }
        let (recordings, _) = test_recordings(Some(dir.clone()));
        recordings
            .shared
            .state
            .lock()
            .active
            .insert(active.clone(), ActiveFile::default());
        let deleted = sweep(
            &recordings.shared,
            &dir,
            SystemTime::now(),
            Some(HOUR * 24),
            None,
        );
        assert_eq!(deleted, std::slice::from_ref(&old));
        assert!(!old.exists() && !dir.join("c/20261203T163000Z.json").exists());
        assert!(active.exists() && young.exists());
        assert_eq!(recordings.metrics().deleted, 1);
        // By size: 200 bytes left (the active file's included), 150 allowed:
        // only the young finished one can go.
        let deleted = sweep(&recordings.shared, &dir, SystemTime::now(), None, Some(150));
        assert_eq!(deleted, std::slice::from_ref(&young));
        assert!(active.exists());
        assert_eq!(recordings.metrics().deleted, 2);
    }

    #[test]
    fn sweep_leaves_what_is_not_ours() {
        let dir = test_dir("retention-foreign");
        fs::create_dir_all(dir.join("c")).unwrap();
        let foreign = dir.join("c/holiday.mp4");
        fs::write(&foreign, vec![0u8; 100]).unwrap();
        let (recordings, _) = test_recordings(Some(dir.clone()));
        sweep(
            &recordings.shared,
            &dir,
            SystemTime::now() + HOUR * 1000,
            Some(HOUR),
            Some(1),
        );
        assert!(foreign.exists());
    }
}
