//! TrackClock: one track's RTP timestamps, unwrapped, on the packager's
//! media timeline. Each track's first sample is placed by its arrival time
//! (relative to the packager's epoch), so audio and video line up; after
//! that, RTP time alone advances the track.

use std::time::{Duration, Instant};

/// A jump in RTP time this large (either way) is a new source, not media:
/// the track is placed again by arrival, and the timeline breaks.
const MAX_STEP: Duration = Duration::from_secs(10);

/// One track's clock.
#[derive(Debug)]
pub struct TrackClock {
    rate: u32,
    last: Option<u32>,
    extended: i64,
    /// Media time minus extended RTP time.
    offset: i64,
}

impl TrackClock {
    /// A clock of `rate` ticks per second.
    pub fn new(rate: u32) -> Self {
        Self {
            rate,
            last: None,
            extended: 0,
            offset: 0,
        }
    }

    /// The media time (in this track's ticks, from `epoch`) of a sample with
    /// RTP `timestamp` that arrived at `arrival`, and whether the track was
    /// placed again because its RTP time jumped.
    pub fn media_time(&mut self, timestamp: u32, arrival: Instant, epoch: Instant) -> (i64, bool) {
        let Some(last) = self.last else {
            self.last = Some(timestamp);
            self.extended = i64::from(timestamp);
            self.offset = self.ticks_since(epoch, arrival) - self.extended;
            return (self.extended + self.offset, false);
        };
        let step = i64::from(timestamp.wrapping_sub(last) as i32);
        self.last = Some(timestamp);
        self.extended += step;
        let limit = MAX_STEP.as_secs() as i64 * i64::from(self.rate);
        if step.abs() > limit {
            self.offset = self.ticks_since(epoch, arrival) - self.extended;
            return (self.extended + self.offset, true);
        }
        (self.extended + self.offset, false)
    }

    /// `arrival - epoch` in ticks, negative when it came first.
    fn ticks_since(&self, epoch: Instant, arrival: Instant) -> i64 {
        let ticks = |duration: Duration| {
            (duration.as_nanos() * u128::from(self.rate) / 1_000_000_000) as i64
        };
        match arrival.checked_duration_since(epoch) {
            Some(after) => ticks(after),
            None => -ticks(epoch.duration_since(arrival)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn places_the_first_sample_by_arrival_then_follows_rtp_time_across_the_wrap() {
        let epoch = Instant::now();
        let mut clock = TrackClock::new(90_000);
        let first = clock.media_time(u32::MAX - 1499, epoch + Duration::from_millis(100), epoch);
        assert_eq!(first, (9000, false));
        // 3000 ticks later in RTP time, across the 2^32 wrap; arrival jitter
        // does not move it.
        let next = clock.media_time(1500, epoch + Duration::from_millis(150), epoch);
        assert_eq!(next, (12_000, false));
    }

    #[test]
    fn a_sample_that_arrived_before_the_epoch_is_negative() {
        let epoch = Instant::now() + Duration::from_secs(1);
        let mut clock = TrackClock::new(48_000);
        assert_eq!(
            clock
                .media_time(0, epoch - Duration::from_millis(500), epoch)
                .0,
            -24_000
        );
    }

    #[test]
    fn a_jump_places_the_track_again() {
        let epoch = Instant::now();
        let mut clock = TrackClock::new(48_000);
        clock.media_time(1000, epoch, epoch);
        let (time, jumped) =
            clock.media_time(1000 + 48_000 * 60, epoch + Duration::from_millis(20), epoch);
        assert!(jumped);
        assert_eq!(time, 960);
    }
}
