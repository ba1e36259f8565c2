//! The duration of a fragmented MP4 read from its boxes, for a file whose
//! writer never finished it (a killed server left no sidecar): the track
//! timescales from `moov`, each fragment's start (`tfdt`) and sample
//! durations (`trun`, else `tfhd`'s or `trex`'s default). A fragment counts
//! only when its `mdat` is whole, as a player plays no more.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::Path;
use std::time::Duration;

/// The largest `moov` or `moof` read; a larger one is not ours.
const MAX_HEADER_BOX: u64 = 16 * 1024 * 1024;

/// Reads big-endian fields from a box body; every read fails when short.
struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Self { rest: bytes }
    }

    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (head, tail) = self.rest.split_at_checked(n)?;
        self.rest = tail;
        Some(head)
    }

    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_be_bytes(self.take(4)?.try_into().ok()?))
    }

    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_be_bytes(self.take(8)?.try_into().ok()?))
    }

    /// A full box's version and flags.
    fn version_flags(&mut self) -> Option<(u8, u32)> {
        let word = self.u32()?;
        Some(((word >> 24) as u8, word & 0x00ff_ffff))
    }

    /// The next child box: its type and body.
    fn next_box(&mut self) -> Option<([u8; 4], &'a [u8])> {
        let size = self.u32()?;
        let kind: [u8; 4] = self.take(4)?.try_into().ok()?;
        let body_len = match size {
            0 => self.rest.len(),
            1 => usize::try_from(self.u64()?.checked_sub(16)?).ok()?,
            n => usize::try_from(n.checked_sub(8)?).ok()?,
        };
        Some((kind, self.take(body_len)?))
    }
}

/// The children of a container box's body, until the first malformed one.
fn children(body: &[u8]) -> impl Iterator<Item = ([u8; 4], &[u8])> {
    let mut reader = Reader::new(body);
    std::iter::from_fn(move || reader.next_box())
}

fn child<'a>(body: &'a [u8], kind: &[u8; 4]) -> Option<&'a [u8]> {
    children(body).find(|(k, _)| k == kind).map(|(_, b)| b)
}

/// What `moov` says of each track.
#[derive(Debug, Default, Clone, Copy)]
struct TrackHeader {
    timescale: u32,
    default_duration: u32,
}

fn parse_moov(body: &[u8]) -> HashMap<u32, TrackHeader> {
    let mut tracks: HashMap<u32, TrackHeader> = HashMap::new();
    for (kind, trak) in children(body) {
        if &kind != b"trak" {
            continue;
        }
        let track_id = child(trak, b"tkhd").and_then(|tkhd| {
            let mut r = Reader::new(tkhd);
            let (version, _) = r.version_flags()?;
            // creation and modification times, 4 or 8 bytes each
            r.take(if version == 1 { 16 } else { 8 })?;
            r.u32()
        });
        let timescale = child(trak, b"mdia")
            .and_then(|mdia| child(mdia, b"mdhd"))
            .and_then(|mdhd| {
                let mut r = Reader::new(mdhd);
                let (version, _) = r.version_flags()?;
                r.take(if version == 1 { 16 } else { 8 })?;
                r.u32()
            });
        if let (Some(id), Some(timescale)) = (track_id, timescale) {
            tracks.entry(id).or_default().timescale = timescale;
        }
    }
    if let Some(mvex) = child(body, b"mvex") {
        for (kind, trex) in children(mvex) {
            if &kind != b"trex" {
                continue;
            }
            let mut r = Reader::new(trex);
            let fields = (|| {
                r.version_flags()?;
                let id = r.u32()?;
                let _description_index = r.u32()?;
                Some((id, r.u32()?))
            })();
            if let Some((id, duration)) = fields {
                tracks.entry(id).or_default().default_duration = duration;
            }
        }
    }
    tracks
}

/// Each track's (start, end) in its timescale in one `moof`.
fn parse_moof(body: &[u8], tracks: &HashMap<u32, TrackHeader>) -> Vec<(u32, u64, u64)> {
    let mut spans = Vec::new();
    for (kind, traf) in children(body) {
        if &kind != b"traf" {
            continue;
        }
        let span = (|| {
            let mut tfhd = Reader::new(child(traf, b"tfhd")?);
            let (_, flags) = tfhd.version_flags()?;
            let track_id = tfhd.u32()?;
            if flags & 0x01 != 0 {
                tfhd.u64()?;
            }
            if flags & 0x02 != 0 {
                tfhd.u32()?;
            }
            let mut default_duration = tracks.get(&track_id)?.default_duration;
            if flags & 0x08 != 0 {
                default_duration = tfhd.u32()?;
            }
            let mut tfdt = Reader::new(child(traf, b"tfdt")?);
            let (version, _) = tfdt.version_flags()?;
            let start = if version == 1 {
                tfdt.u64()?
            } else {
                u64::from(tfdt.u32()?)
            };
            let mut total: u64 = 0;
            for (kind, trun) in children(traf) {
                if &kind != b"trun" {
                    continue;
                }
                let mut r = Reader::new(trun);
                let (_, flags) = r.version_flags()?;
                let count = r.u32()?;
                if flags & 0x01 != 0 {
                    r.u32()?;
                }
                if flags & 0x04 != 0 {
                    r.u32()?;
                }
                let per_sample = [0x100, 0x200, 0x400, 0x800]
                    .iter()
                    .filter(|bit| flags & **bit != 0)
                    .count();
                for _ in 0..count {
                    let mut duration = default_duration;
                    if flags & 0x100 != 0 {
                        duration = r.u32()?;
                        r.take(4 * (per_sample - 1))?;
                    } else {
                        r.take(4 * per_sample)?;
                    }
                    total = total.checked_add(u64::from(duration))?;
                }
            }
            Some((track_id, start, start.checked_add(total)?))
        })();
        spans.extend(span);
    }
    spans
}

/// The media duration of the fragmented MP4 at `path`: the longest track's
/// span over its whole fragments. `None` when it has no `moov` or no whole
/// fragment.
pub(super) fn duration_of(path: &Path) -> io::Result<Option<Duration>> {
    let mut file = File::open(path)?;
    let len = file.metadata()?.len();
    let mut tracks = HashMap::new();
    // Per track: the first start and the last end, in its timescale.
    let mut spans: HashMap<u32, (u64, u64)> = HashMap::new();
    let mut pending: Vec<(u32, u64, u64)> = Vec::new();
    let mut at: u64 = 0;
    while let Some(header_end) = at.checked_add(8).filter(|end| *end <= len) {
        let mut header = [0u8; 8];
        file.seek(SeekFrom::Start(at))?;
        file.read_exact(&mut header)?;
        let [s0, s1, s2, s3, k0, k1, k2, k3] = header;
        let kind = [k0, k1, k2, k3];
        let (body_start, box_end) = match u32::from_be_bytes([s0, s1, s2, s3]) {
            0 => (header_end, len),
            1 => {
                let mut large = [0u8; 8];
                if header_end.saturating_add(8) > len {
                    break;
                }
                file.read_exact(&mut large)?;
                let size = u64::from_be_bytes(large);
                match at.checked_add(size) {
                    Some(end) if size >= 16 => (header_end + 8, end),
                    _ => break,
                }
            }
            size if size >= 8 => (header_end, at.saturating_add(u64::from(size))),
            _ => break,
        };
        if box_end > len {
            // Cut short by a kill: a player stops here too.
            break;
        }
        let body_len = box_end - body_start;
        match &kind {
            b"moov" | b"moof" if body_len <= MAX_HEADER_BOX => {
                let mut body = vec![0u8; usize::try_from(body_len).unwrap_or(0)];
                file.read_exact(&mut body)?;
                if &kind == b"moov" {
                    tracks = parse_moov(&body);
                } else {
                    pending = parse_moof(&body, &tracks);
                }
            }
            b"mdat" => {
                for (track, start, end) in pending.drain(..) {
                    let span = spans.entry(track).or_insert((start, end));
                    span.0 = span.0.min(start);
                    span.1 = span.1.max(end);
                }
            }
            _ => {}
        }
        at = box_end;
    }
    let longest = spans
        .iter()
        .filter_map(|(track, (start, end))| {
            let timescale = tracks.get(track)?.timescale;
            (timescale > 0)
                .then(|| Duration::from_secs_f64((end - start) as f64 / f64::from(timescale)))
        })
        .max();
    Ok(longest)
}

/// Builds boxes for tests (here and in the writer's tests).
#[cfg(test)]
pub(super) mod build {
    /// A box of `kind` around `body`.
    pub fn mp4_box(kind: &[u8; 4], body: &[u8]) -> Vec<u8> {
        let mut out = ((body.len() + 8) as u32).to_be_bytes().to_vec();
        out.extend_from_slice(kind);
        out.extend_from_slice(body);
        out
    }

    fn full(kind: &[u8; 4], version: u8, flags: u32, fields: &[u8]) -> Vec<u8> {
        let mut body = (u32::from(version) << 24 | flags).to_be_bytes().to_vec();
        body.extend_from_slice(fields);
        mp4_box(kind, &body)
    }

    fn words(values: &[u32]) -> Vec<u8> {
        values.iter().flat_map(|v| v.to_be_bytes()).collect()
    }

    /// `ftyp` + `moov` with one track per (id, timescale, trex default).
    pub fn init(tracks: &[(u32, u32, u32)]) -> Vec<u8> {
        let mut moov = Vec::new();
        let mut mvex = Vec::new();
        for &(id, timescale, default) in tracks {
            let tkhd = full(b"tkhd", 0, 3, &words(&[0, 0, id, 0, 0]));
            let mdhd = full(b"mdhd", 0, 0, &words(&[0, 0, timescale, 0, 0]));
            let mdia = mp4_box(b"mdia", &mdhd);
            moov.extend(mp4_box(b"trak", &[tkhd, mdia].concat()));
            mvex.extend(full(b"trex", 0, 0, &words(&[id, 1, default, 0, 0])));
        }
        moov.extend(mp4_box(b"mvex", &mvex));
        [mp4_box(b"ftyp", b"iso6\0\0\0\0"), mp4_box(b"moov", &moov)].concat()
    }

    /// `moof` + `mdat`: per track (id, tfdt, sample durations); `per_sample`
    /// writes durations in `trun`, else one default in `tfhd`.
    pub fn fragment(tracks: &[(u32, u64, &[u32])], per_sample: bool) -> Vec<u8> {
        let mut moof = full(b"mfhd", 0, 0, &words(&[1]));
        for &(id, tfdt, durations) in tracks {
            let tfhd = if per_sample {
                full(b"tfhd", 0, 0x02_0000, &words(&[id]))
            } else {
                full(b"tfhd", 0, 0x02_0008, &words(&[id, durations[0]]))
            };
            let tfdt = full(b"tfdt", 1, 0, &tfdt.to_be_bytes());
            let trun = if per_sample {
                let mut fields = vec![durations.len() as u32, 0];
                for &d in durations {
                    fields.extend([d, 100]);
                }
                full(b"trun", 0, 0x301, &words(&fields))
            } else {
                let mut fields = vec![durations.len() as u32, 0];
                fields.extend(durations.iter().map(|_| 100));
                full(b"trun", 0, 0x201, &words(&fields))
            };
            moof.extend(mp4_box(b"traf", &[tfhd, tfdt, trun].concat()));
        }
        [mp4_box(b"moof", &moof), mp4_box(b"mdat", &[0u8; 64])].concat()
    }
}

#[cfg(test)]
mod tests {
    use super::build::{fragment, init};
    use super::*;

    fn write(name: &str, bytes: &[u8]) -> std::path::PathBuf {
        let dir = crate::outputs::recording::test_dir(name);
        let path = dir.join("f.mp4");
        std::fs::write(&path, bytes).unwrap();
        path
    }

    #[test]
    fn duration_is_the_longest_track_span() {
        // Video at 90 kHz, 3000 per frame; audio at 48 kHz, 960 per frame.
        let mut bytes = init(&[(1, 90_000, 0), (2, 48_000, 960)]);
        bytes.extend(fragment(&[(1, 0, &[3000; 30]), (2, 0, &[960; 50])], true));
        bytes.extend(fragment(
            &[(1, 90_000, &[3000; 30]), (2, 48_000, &[960; 50])],
            false,
        ));
        let path = write("fragments-longest", &bytes);
        assert_eq!(duration_of(&path).unwrap(), Some(Duration::from_secs(2)));
    }

    #[test]
    fn a_late_start_does_not_count() {
        let mut bytes = init(&[(1, 1000, 0)]);
        bytes.extend(fragment(&[(1, 5000, &[250; 4])], true));
        bytes.extend(fragment(&[(1, 6000, &[500; 2])], true));
        let path = write("fragments-late", &bytes);
        assert_eq!(duration_of(&path).unwrap(), Some(Duration::from_secs(2)));
    }

    #[test]
    fn a_fragment_cut_short_is_not_counted() {
        let mut bytes = init(&[(1, 1000, 0)]);
        bytes.extend(fragment(&[(1, 0, &[500; 2])], true));
        let whole = bytes.len();
        bytes.extend(fragment(&[(1, 1000, &[500; 2])], true));
        let path = write("fragments-cut", &bytes[..bytes.len() - 10]);
        assert_eq!(duration_of(&path).unwrap(), Some(Duration::from_secs(1)));
        // Cut inside the moof.
        let path = write("fragments-cut-moof", &bytes[..whole + 20]);
        assert_eq!(duration_of(&path).unwrap(), Some(Duration::from_secs(1)));
    }

    #[test]
    fn no_fragment_no_duration() {
        let path = write("fragments-none", &init(&[(1, 1000, 0)]));
        assert_eq!(duration_of(&path).unwrap(), None);
        let path = write("fragments-junk", b"not an mp4 at all, just some bytes");
        assert_eq!(duration_of(&path).unwrap(), None);
        let path = write("fragments-empty", b"");
        assert_eq!(duration_of(&path).unwrap(), None);
    }

    #[test]
    fn malformed_boxes_never_panic() {
        let mut bytes = init(&[(1, 1000, 0)]);
        bytes.extend(fragment(&[(1, 0, &[500; 2])], true));
        for cut in 0..bytes.len() {
            let mut broken = bytes.clone();
            broken[cut] ^= 0xff;
            let path = write("fragments-flip", &broken);
            let _ = duration_of(&path);
        }
    }
}
