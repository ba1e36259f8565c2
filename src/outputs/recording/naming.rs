//! Names on disk and in the API: a channel's directory (the name encoded
//! so no channel can leave `dir`), a file's stem (its UTC start time), the
//! RFC 3339 times the API shows, and the opaque ids that name a recording.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// Marks an escaped byte in a channel's directory name (`.` and two
/// uppercase hex digits). A name made only of `[A-Za-z0-9_.-]` that starts
/// with an escape or a plain character can never be `.` or `..`.
const ESCAPE: u8 = b'.';

/// Separates a channel's directory from the file's stem in an id. Never in
/// either, and unreserved in URLs (RFC 3986 §2.3).
const ID_SEPARATOR: char = '~';

/// The most files one channel may start in the same second (the suffix).
pub(super) const MAX_SUFFIX: u32 = 1000;

fn is_plain(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || byte == b'_' || byte == b'-'
}

/// The directory name of `channel`: `[A-Za-z0-9_-]` as is, any other
/// byte as `.XX`. `None` for an empty channel, which has no name.
pub(super) fn channel_dir(channel: &str) -> Option<String> {
    if channel.is_empty() {
        return None;
    }
    let mut name = String::with_capacity(channel.len());
    for &byte in channel.as_bytes() {
        if is_plain(byte) {
            name.push(char::from(byte));
        } else {
            name.push(char::from(ESCAPE));
            name.push_str(&format!("{byte:02X}"));
        }
    }
    Some(name)
}

/// The channel a directory name stands for, if it is exactly what
/// [`channel_dir`] makes of some channel (so each channel has one name).
pub(super) fn channel_from_dir(name: &str) -> Option<String> {
    let bytes = name.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut rest = bytes;
    while let Some((&first, tail)) = rest.split_first() {
        if first == ESCAPE {
            let (hex, after) = tail.split_at_checked(2)?;
            let hex = std::str::from_utf8(hex).ok()?;
            decoded.push(u8::from_str_radix(hex, 16).ok()?);
            rest = after;
        } else if is_plain(first) {
            decoded.push(first);
            rest = tail;
        } else {
            return None;
        }
    }
    let channel = String::from_utf8(decoded).ok()?;
    (channel_dir(&channel).as_deref() == Some(name)).then_some(channel)
}

/// A file's stem: its start, in whole seconds since the Unix epoch, and a
/// suffix telling apart files started in the same second (0: none).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct Stem {
    /// Seconds since the Unix epoch, UTC.
    pub start: u64,
    /// 0 for `20261203T163000Z`, n ≥ 2 for `20261203T163000Z-n`.
    pub suffix: u32,
}

impl Stem {
    /// The stem of a file started at `time`, without a suffix.
    pub fn at(time: SystemTime) -> Self {
        Self {
            start: unix_seconds(time),
            suffix: 0,
        }
    }

    /// The same start with another suffix.
    pub fn with_suffix(self, suffix: u32) -> Self {
        Self { suffix, ..self }
    }

    /// Parses a stem made by [`Stem::to_string`], and nothing else.
    pub fn parse(text: &str) -> Option<Self> {
        let (time, suffix) = match text.split_once('-') {
            None => (text, 0),
            Some((time, suffix)) => {
                // Suffixes start at 2: the first file is the unsuffixed one.
                let value: u32 = suffix.parse().ok().filter(|n| *n >= 2)?;
                (time, value)
            }
        };
        let b = time.as_bytes();
        if b.len() != 16 || b.get(8) != Some(&b'T') || b.get(15) != Some(&b'Z') {
            return None;
        }
        let number = |range: std::ops::Range<usize>| -> Option<u64> {
            let digits = time.get(range)?;
            digits
                .bytes()
                .all(|d| d.is_ascii_digit())
                .then(|| digits.parse().ok())?
        };
        let (year, month, day) = (number(0..4)?, number(4..6)?, number(6..8)?);
        let (hour, minute, second) = (number(9..11)?, number(11..13)?, number(13..15)?);
        if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
            return None;
        }
        if hour > 23 || minute > 59 || second > 59 {
            return None;
        }
        let days = days_from_civil(year, month, day)?;
        let stem = Self {
            start: days * 86_400 + hour * 3600 + minute * 60 + second,
            suffix,
        };
        // One spelling per stem: no 31 February, no `-0`, `-1` or `-007`.
        (stem.to_string() == text).then_some(stem)
    }
}

impl std::fmt::Display for Stem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (year, month, day, hour, minute, second) = civil(self.start);
        write!(
            f,
            "{year:04}{month:02}{day:02}T{hour:02}{minute:02}{second:02}Z"
        )?;
        if self.suffix != 0 {
            write!(f, "-{}", self.suffix)?;
        }
        Ok(())
    }
}

/// Whole seconds since the Unix epoch (0 for a time before it).
pub(super) fn unix_seconds(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map(|since| since.as_secs())
        .unwrap_or(0)
}

/// `2026-12-03T16:30:00Z` (RFC 3339, UTC, whole seconds).
pub(super) fn rfc3339(unix: u64) -> String {
    let (year, month, day, hour, minute, second) = civil(unix);
    format!("{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}Z")
}

/// Year, month, day, hour, minute, second of a Unix time (UTC), after
/// Howard Hinnant's `civil_from_days`.
fn civil(unix: u64) -> (u64, u64, u64, u64, u64, u64) {
    let (days, seconds) = (unix / 86_400, unix % 86_400);
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (
        year,
        month,
        day,
        seconds / 3600,
        seconds % 3600 / 60,
        seconds % 60,
    )
}

/// Days since the Unix epoch of a date from 1970 on (`days_from_civil`).
fn days_from_civil(year: u64, month: u64, day: u64) -> Option<u64> {
    let year = if month <= 2 {
        year.checked_sub(1)?
    } else {
        year
    };
    let era = year / 400;
    let yoe = year % 400;
    let mp = if month > 2 { month - 3 } else { month + 9 };
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    (era * 146_097 + doe).checked_sub(719_468)
}

/// A recording's id in the API: `<channel dir>~<stem>`, opaque to clients.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct RecordingId {
    /// The channel's directory name.
    pub channel_dir: String,
    /// The file's stem.
    pub stem: Stem,
}

impl RecordingId {
    /// Parses an id from a client. Only what [`RecordingId::to_string`]
    /// makes parses, so the path it leads to is always
    /// `dir/<channel dir>/<stem>.mp4`.
    pub fn parse(id: &str) -> Option<Self> {
        let (channel_dir, stem) = id.split_once(ID_SEPARATOR)?;
        channel_from_dir(channel_dir)?;
        Some(Self {
            channel_dir: channel_dir.to_owned(),
            stem: Stem::parse(stem)?,
        })
    }

    /// The recording's file under `dir`.
    pub fn file(&self, dir: &Path) -> PathBuf {
        dir.join(&self.channel_dir)
            .join(format!("{}.mp4", self.stem))
    }

    /// Its sidecar (duration and stream, written when the file finished).
    pub fn sidecar(&self, dir: &Path) -> PathBuf {
        dir.join(&self.channel_dir)
            .join(format!("{}.json", self.stem))
    }
}

impl std::fmt::Display for RecordingId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}{ID_SEPARATOR}{}", self.channel_dir, self.stem)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn plain_channels_keep_their_name() {
        assert_eq!(channel_dir("123").as_deref(), Some("123"));
        assert_eq!(channel_dir("a_B-9").as_deref(), Some("a_B-9"));
        assert_eq!(channel_from_dir("a_B-9").as_deref(), Some("a_B-9"));
    }

    #[test]
    fn hostile_channels_cannot_leave_the_dir() {
        for channel in [
            "..", ".", "../etc", "a/b", "/abs", "a\\b", "x\0y", "é", "~", "a.b",
        ] {
            let name = channel_dir(channel).unwrap();
            assert!(
                name.bytes()
                    .all(|b| is_plain(b) || b == ESCAPE || b.is_ascii_hexdigit()),
                "{name}"
            );
            assert!(!name.contains('/') && name != "." && name != "..", "{name}");
            assert!(!name.contains(ID_SEPARATOR));
            assert_eq!(channel_from_dir(&name).as_deref(), Some(channel));
        }
        assert_eq!(channel_dir("../etc").as_deref(), Some(".2E.2E.2Fetc"));
        assert_eq!(channel_dir(""), None);
    }

    #[test]
    fn only_canonical_dir_names_decode() {
        for name in [
            "", ".", "..", ".2", ".2e", ".41", "a b", "a/b", ".FF", "a~b", ".zz",
        ] {
            assert_eq!(channel_from_dir(name), None, "{name:?}");
        }
    }

    #[test]
    fn stem_is_the_utc_start() {
        // 2026-12-03T16:30:00Z
        let stem = Stem::at(UNIX_EPOCH + Duration::from_secs(1_796_315_400));
        assert_eq!(stem.to_string(), "20261203T163000Z");
        assert_eq!(rfc3339(stem.start), "2026-12-03T16:30:00Z");
        assert_eq!(stem.with_suffix(2).to_string(), "20261203T163000Z-2");
        assert_eq!(Stem::parse("20261203T163000Z"), Some(stem));
        assert_eq!(Stem::parse("20261203T163000Z-2"), Some(stem.with_suffix(2)));
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
    }

    #[test]
    fn stems_round_trip_over_the_years() {
        for unix in (0..4_102_444_800u64).step_by(86_400 * 37 + 3_601) {
            let stem = Stem {
                start: unix,
                suffix: 0,
            };
            assert_eq!(Stem::parse(&stem.to_string()), Some(stem), "{unix}");
        }
    }

    #[test]
    fn malformed_stems_are_refused() {
        for text in [
            "",
            "20261203T163000",
            "20261203T163000Z-0",
            "20261203T163000Z-1",
            "20261203T163000Z-02",
            "20261203T163000Z-",
            "20260231T000000Z",
            "20261303T000000Z",
            "20261203T246000Z",
            "2026120 T163000Z",
            "+0261203T163000Z",
            "20261203T163000Z.mp4",
            "19691231T235959Z",
        ] {
            assert_eq!(Stem::parse(text), None, "{text:?}");
        }
    }

    #[test]
    fn ids_round_trip_and_map_under_dir() {
        let id = RecordingId {
            channel_dir: channel_dir("a/b").unwrap(),
            stem: Stem::parse("20261203T163000Z-3").unwrap(),
        };
        let text = id.to_string();
        assert_eq!(text, "a.2Fb~20261203T163000Z-3");
        assert_eq!(RecordingId::parse(&text), Some(id.clone()));
        assert_eq!(
            id.file(Path::new("/rec")),
            PathBuf::from("/rec/a.2Fb/20261203T163000Z-3.mp4")
        );
    }

    #[test]
    fn traversal_ids_are_refused() {
        for id in [
            "../etc~20261203T163000Z",
            "..~20261203T163000Z",
            ".~20261203T163000Z",
            "~20261203T163000Z",
            "a~../../etc/passwd",
            "a~20261203T163000Z/../../x",
            "a/..~20261203T163000Z",
            "a~b~20261203T163000Z",
            "a~20261203T163000Z.mp4",
            "/etc/passwd",
            "a",
            "",
        ] {
            assert_eq!(RecordingId::parse(id), None, "{id:?}");
        }
    }
}
