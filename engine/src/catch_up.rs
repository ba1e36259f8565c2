//! CatchUp: paces a viewer's backlog. A viewer that joins at the newest
//! keyframe, or is lapped back to one, may be handed seconds of stream at
//! once; sent in one burst it overflows socket buffers and bottlenecks on
//! the way, and the viewer loses exactly the packets it needs. Packets older
//! than [`BACKLOG_AGE`] go out through a token bucket; live packets never wait.

use std::time::{Duration, Instant};

/// A packet that arrived longer ago than this is backlog.
pub const BACKLOG_AGE: Duration = Duration::from_millis(250);
/// Backlog packets sent back to back before pacing starts.
const BURST: f64 = 32.0;
/// Backlog packets per second once paced (about 25 Mbit/s of 1200-byte packets).
const RATE: f64 = 2500.0;

/// A token bucket for backlog packets.
#[derive(Debug, Clone)]
pub struct CatchUp {
    tokens: f64,
    refilled: Instant,
}

impl CatchUp {
    /// A full bucket.
    pub fn new(now: Instant) -> Self {
        Self {
            tokens: BURST,
            refilled: now,
        }
    }

    /// Whether a packet that arrived at `arrival` may be sent at `now`.
    pub fn admit(&mut self, now: Instant, arrival: Instant) -> bool {
        if now.saturating_duration_since(arrival) < BACKLOG_AGE {
            return true;
        }
        let elapsed = now.saturating_duration_since(self.refilled).as_secs_f64();
        self.tokens = (self.tokens + elapsed * RATE).min(BURST);
        self.refilled = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// When the next backlog packet may go.
    pub fn next_token(&self) -> Instant {
        let missing = (1.0 - self.tokens).max(0.0);
        self.refilled + Duration::from_secs_f64(missing / RATE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn live_packets_pass_and_backlog_is_paced_after_a_burst() {
        let start = Instant::now() + Duration::from_secs(10);
        let old = start - Duration::from_secs(2);
        let mut pacer = CatchUp::new(start);
        for _ in 0..32 {
            assert!(pacer.admit(start, old));
        }
        assert!(!pacer.admit(start, old), "burst spent");
        assert!(pacer.admit(start, start), "live packets never wait");
        let next = pacer.next_token();
        assert!(next > start && next <= start + Duration::from_millis(1));
        assert!(pacer.admit(next, old));
        assert!(!pacer.admit(next, old));
        let later = next + Duration::from_millis(4);
        let admitted = (0..100).filter(|_| pacer.admit(later, old)).count();
        assert_eq!(admitted, 10, "2500 per second");
    }
}
