//! Window: one stream's sliding window of CMAF segments and parts, built
//! from the packager's events, and what a request for a playlist, a part
//! or a segment finds in it. Sans-IO: no clock, no locks, no sockets; the
//! rendered playlist is kept here so every client shares its bytes.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;

use super::playlist;
use crate::outputs::packager::{InitSegment, PackagerEvent, Part};

/// Longest a segment may grow before it is cut at the next part even
/// without a keyframe: a publisher that never sends one again cannot make
/// one segment hold all of its stream in memory.
pub const MAX_SEGMENT_DURATION: Duration = Duration::from_secs(60);

/// How a window cuts and lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowSettings {
    /// The configured segment target (the least `EXT-X-TARGETDURATION`).
    pub segment_target: Duration,
    /// The configured part target: `PART-TARGET`, always.
    pub part_target: Duration,
    /// Complete segments listed.
    pub window_segments: usize,
}

/// A segment: whole parts, complete once the next segment starts (or the
/// stream ends).
#[derive(Debug)]
pub(super) struct Segment {
    pub(super) msn: u64,
    /// The number of the initialization segment it uses.
    pub(super) init: u64,
    pub(super) discontinuity: bool,
    pub(super) program_date_time: SystemTime,
    pub(super) parts: Vec<Arc<Part>>,
    pub(super) duration: Duration,
    /// No part joins it any more. Its bytes are its parts' (served back
    /// to back); no second copy is kept.
    pub(super) complete: bool,
}

impl Segment {
    pub(super) fn is_complete(&self) -> bool {
        self.complete
    }
}

/// Where a window picks up from the one before it on the same channel (a
/// reconnected or taken-over stream), so a player polling the channel's
/// playlist never sees `EXT-X-MEDIA-SEQUENCE` go back (RFC 8216 §6.2.1) nor
/// a segment's discontinuity number change (§6.2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Continuation {
    /// The first media sequence number the new window may use: past every
    /// segment (and part) the old one listed.
    pub next_msn: u64,
    /// Discontinuity tags the old window ever listed, which have all left
    /// the playlist once the new window replaces it.
    pub discontinuity_sequence: u64,
    /// The old window's `EXT-X-TARGETDURATION`, once it had one: the same
    /// playlist URI keeps it (RFC 8216 §6.2.1), the new stream's segments
    /// permitting.
    pub target_duration: Option<u64>,
}

/// What a blocking playlist request finds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reload {
    /// The playlist holds what was asked for (or never will: it ended).
    Ready,
    /// Not yet; wait for a change.
    Wait,
    /// Further ahead than a server must hold a request for (RFC 8216bis
    /// §6.2.5.2: `400`).
    TooFar,
}

/// What a request for a part or a segment finds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Media {
    /// Its bytes.
    Ready(Bytes),
    /// A segment: its parts' bytes, to be sent back to back.
    Parts(Vec<Bytes>),
    /// It is the preload hint's part, not yet there: wait for a change.
    Hinted,
    /// It left the window, or never will be.
    Missing,
}

/// One stream's window.
#[derive(Debug)]
pub struct Window {
    settings: WindowSettings,
    /// The path segment its URIs live under (unique per window, so a
    /// cache never mixes two streams' segments of the same number).
    tag: String,
    /// Initialization segments still referenced, numbered from 0.
    inits: VecDeque<(u64, Arc<InitSegment>)>,
    next_init: u64,
    /// Complete segments, then the open one (if any).
    segments: VecDeque<Segment>,
    next_msn: u64,
    /// Discontinuity tags that left the window.
    discontinuity_sequence: u64,
    /// A new initialization segment came, or the window continues an
    /// older one: the next segment starts with a discontinuity, whatever
    /// its first part says.
    init_changed: bool,
    /// `EXT-X-TARGETDURATION`, fixed when the first segment completes (the
    /// first playlist a player can read), never changed after (RFC 8216
    /// §6.2.1).
    target_duration: Option<u64>,
    ended: bool,
    /// Bumped at every change.
    version: u64,
    playlist: Bytes,
}

impl Window {
    /// An empty window whose URIs live under `tag`; `after` the window it
    /// replaces on its channel, if any: its numbers go on from there and
    /// its first segment is a discontinuity.
    pub fn new(settings: WindowSettings, tag: String, after: Option<Continuation>) -> Self {
        let mut window = Self {
            settings,
            tag,
            inits: VecDeque::new(),
            next_init: 0,
            segments: VecDeque::new(),
            next_msn: after.map_or(0, |after| after.next_msn),
            discontinuity_sequence: after.map_or(0, |after| after.discontinuity_sequence),
            init_changed: after.is_some(),
            target_duration: after.and_then(|after| after.target_duration),
            ended: false,
            version: 0,
            playlist: Bytes::new(),
        };
        window.render();
        window
    }

    /// Takes one packager event; true if the window changed.
    pub fn apply(&mut self, event: &PackagerEvent) -> bool {
        if self.ended {
            return false;
        }
        match event {
            PackagerEvent::Init(init) => {
                if self.inits.back().is_some_and(|(_, last)| last == init) {
                    return false;
                }
                self.inits.push_back((self.next_init, Arc::clone(init)));
                self.next_init += 1;
                self.init_changed |= !self.segments.is_empty();
                // The parts that follow belong to the new init.
                self.close_open_segment();
                self.prune_inits();
            }
            PackagerEvent::Part(part) => {
                if !self.push_part(part) {
                    return false;
                }
            }
            PackagerEvent::Ended => {
                self.close_open_segment();
                self.ended = true;
            }
        }
        self.version += 1;
        self.render();
        true
    }

    fn push_part(&mut self, part: &Arc<Part>) -> bool {
        let Some(&(init, _)) = self.inits.back() else {
            // A part before any initialization segment cannot be played.
            return false;
        };
        let open_too_long = self
            .open()
            .is_some_and(|open| open.duration >= MAX_SEGMENT_DURATION);
        let starts_segment =
            part.starts_segment || self.init_changed || self.open().is_none() || open_too_long;
        if starts_segment {
            if self.open().is_none() && self.segments.is_empty() && !part.independent {
                // A window starts at a keyframe, or a player cannot begin.
                return false;
            }
            self.close_open_segment();
            // A window's first segment has nothing to break from, unless
            // the window continues an older one (then `init_changed`).
            let discontinuity =
                self.init_changed || (!self.segments.is_empty() && part.discontinuity);
            self.init_changed = false;
            self.segments.push_back(Segment {
                msn: self.next_msn,
                init,
                discontinuity,
                program_date_time: part.program_date_time,
                parts: Vec::new(),
                duration: Duration::ZERO,
                complete: false,
            });
            self.next_msn += 1;
        }
        // Just pushed or checked above.
        let Some(open) = self.segments.back_mut() else {
            return false;
        };
        open.parts.push(Arc::clone(part));
        open.duration += part.duration;
        if part.duration > self.settings.part_target {
            // PART-TARGET stays (RFC 8216bis §4.4.3.7: it must not change);
            // the packager keeps parts within it, so this is rare.
            tracing::debug!(
                tag = %self.tag,
                duration = ?part.duration,
                target = ?self.settings.part_target,
                "HLS part longer than PART-TARGET"
            );
        }
        true
    }

    /// Completes the open segment (an empty one is dropped) and slides.
    fn close_open_segment(&mut self) {
        let Some(open) = self.segments.back_mut() else {
            return;
        };
        if open.is_complete() {
            return;
        }
        if open.parts.is_empty() {
            self.segments.pop_back();
            self.next_msn -= 1;
            return;
        }
        open.complete = true;
        let duration = open.duration;
        match self.target_duration {
            None => {
                self.target_duration =
                    Some(ceil_seconds(self.settings.segment_target.max(duration)).max(1));
            }
            // A segment longer than EXT-X-TARGETDURATION breaks RFC 8216
            // §4.4.3.1, but changing the tag breaks §6.2.1 and stalls
            // players; a stream whose GOP grows past the first segment's
            // gets the former.
            Some(target) if ceil_seconds(duration) > target => {
                tracing::debug!(
                    tag = %self.tag,
                    ?duration,
                    target,
                    "HLS segment longer than EXT-X-TARGETDURATION"
                );
            }
            Some(_) => {}
        }
        while self.segments.len() > self.settings.window_segments {
            if let Some(gone) = self.segments.pop_front()
                && gone.discontinuity
            {
                self.discontinuity_sequence += 1;
            }
        }
        self.prune_inits();
    }

    /// Drops the initialization segments no listed segment uses; the
    /// newest stays for the segments to come.
    fn prune_inits(&mut self) {
        let newest = self.next_init.checked_sub(1);
        let segments = &self.segments;
        self.inits.retain(|(number, _)| {
            Some(*number) == newest || segments.iter().any(|segment| segment.init == *number)
        });
    }

    /// The part the playlist's `EXT-X-PRELOAD-HINT` names: the open
    /// segment's next, or the first of the next segment.
    pub(super) fn hint(&self) -> Option<(u64, u64)> {
        if self.ended || self.inits.is_empty() {
            return None;
        }
        Some(match self.open() {
            Some(open) => (open.msn, open.parts.len() as u64),
            None => (self.next_msn, 0),
        })
    }

    fn open(&self) -> Option<&Segment> {
        self.segments
            .back()
            .filter(|segment| !segment.is_complete())
    }

    /// The rendered media playlist.
    pub fn playlist(&self) -> Bytes {
        self.playlist.clone()
    }

    /// Bumped at every change.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// Whether a player can start: a complete segment is listed.
    pub fn is_ready(&self) -> bool {
        self.segments.front().is_some_and(Segment::is_complete)
    }

    /// Whether the stream ended (the playlist has `EXT-X-ENDLIST`).
    pub fn is_ended(&self) -> bool {
        self.ended
    }

    /// `EXT-X-TARGETDURATION`: whole seconds, set when the first segment
    /// completes to the segment target or that segment's duration,
    /// whichever is longer, and kept for the window's life (RFC 8216
    /// §6.2.1); the segment target's until then.
    pub fn target_duration(&self) -> u64 {
        self.target_duration
            .unwrap_or_else(|| ceil_seconds(self.settings.segment_target).max(1))
    }

    /// `PART-TARGET`: the configured target, for the window's life.
    pub fn part_target(&self) -> Duration {
        self.settings.part_target
    }

    /// Where the window that replaces this one on its channel goes on.
    pub fn continuation(&self) -> Continuation {
        let listed = self
            .segments
            .iter()
            .filter(|segment| segment.discontinuity)
            .count() as u64;
        Continuation {
            next_msn: self.next_msn,
            discontinuity_sequence: self.discontinuity_sequence + listed,
            target_duration: self.target_duration,
        }
    }

    /// RFC 8216bis §6.2.5.2: how many parts past the newest a request may
    /// ask for: 3 / PART-TARGET under a second, else 3.
    fn advance_part_limit(&self) -> u64 {
        let target = self.part_target();
        if target < Duration::from_secs(1) && !target.is_zero() {
            (3_000_000 / target.as_micros().max(1)).max(3) as u64
        } else {
            3
        }
    }

    /// What `_HLS_msn=msn` (and `_HLS_part=part`) finds now.
    pub fn reload(&self, msn: u64, part: Option<u64>) -> Reload {
        if self.ended {
            return Reload::Ready;
        }
        // Segments are complete below `open_msn`; `open_parts` are listed
        // in it.
        let (open_msn, open_parts) = match self.open() {
            Some(open) => (open.msn, open.parts.len() as u64),
            None => (self.next_msn, 0),
        };
        if msn > open_msn.saturating_add(1) {
            return Reload::TooFar;
        }
        match part {
            None if msn < open_msn => Reload::Ready,
            None => Reload::Wait,
            Some(_) if msn < open_msn => Reload::Ready,
            Some(part) if msn == open_msn => {
                if part < open_parts {
                    Reload::Ready
                } else if part >= open_parts.saturating_add(self.advance_part_limit()) {
                    Reload::TooFar
                } else {
                    Reload::Wait
                }
            }
            Some(part) if part >= self.advance_part_limit() => Reload::TooFar,
            Some(_) => Reload::Wait,
        }
    }

    /// `seg-<msn>.m4s`: complete segments only, as their parts' bytes.
    pub fn segment(&self, msn: u64) -> Media {
        match self.find(msn).filter(|segment| segment.is_complete()) {
            Some(segment) => Media::Parts(
                segment
                    .parts
                    .iter()
                    .map(|part| part.bytes.clone())
                    .collect(),
            ),
            None => Media::Missing,
        }
    }

    /// `part-<msn>-<index>.m4s`: a listed part, or the preload hint's.
    pub fn part(&self, msn: u64, index: u64) -> Media {
        let found = self.find(msn);
        if let Some(part) = found.and_then(|segment| segment.parts.get(index as usize)) {
            return Media::Ready(part.bytes.clone());
        }
        let Some((hint_msn, hint_index)) = self.hint() else {
            return Media::Missing;
        };
        // The hint names the open segment's next part; it may come as the
        // first part of the next segment instead.
        let next_segment = (hint_msn.saturating_add(1), 0);
        if (msn, index) == (hint_msn, hint_index)
            || (hint_index > 0 && (msn, index) == next_segment)
        {
            Media::Hinted
        } else {
            Media::Missing
        }
    }

    /// `init-<number>.mp4`.
    pub fn init(&self, number: u64) -> Media {
        match self.inits.iter().find(|(n, _)| *n == number) {
            Some((_, init)) => Media::Ready(init.bytes.clone()),
            None => Media::Missing,
        }
    }

    fn find(&self, msn: u64) -> Option<&Segment> {
        let first = self.segments.front()?.msn;
        self.segments
            .get(usize::try_from(msn.checked_sub(first)?).ok()?)
    }

    fn render(&mut self) {
        self.playlist = playlist::render(&playlist::View {
            tag: &self.tag,
            target_duration: self.target_duration(),
            part_target: self.part_target(),
            discontinuity_sequence: self.discontinuity_sequence,
            segments: &self.segments,
            hint: self.hint(),
            ended: self.ended,
        });
    }
}

/// `duration` in whole seconds, rounded up.
fn ceil_seconds(duration: Duration) -> u64 {
    duration.as_secs() + u64::from(duration.subsec_nanos() > 0)
}

#[cfg(test)]
mod tests;
