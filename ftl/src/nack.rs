//! NackTracker: finds gaps in the video sequence numbers and writes RTCP
//! Generic NACKs for them (RFC 4585 §6.2.1, FTL-SPEC §4.5). Time is passed
//! in; NACK bytes go into the caller's buffer; no allocation after `new`.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// The most outstanding NACKs a tracker can be configured with; it keeps the
/// FCI count of one NACK packet far below the RTCP length field's range.
pub const MAX_OUTSTANDING_LIMIT: usize = 4096;

/// RTCP packet type of transport-layer feedback (RTPFB).
const RTPFB: u8 = 205;

/// Limits of the tracker, defaulting to the reference server's values
/// (janus `SequenceTracker`, FTL-SPEC §4.5).
#[derive(Debug, Clone)]
pub struct NackConfig {
    /// A sequence number counts as missing only once this many later ones arrived.
    pub reorder_allowance: u16,
    /// Most sequence numbers awaiting a retransmission; older ones are given
    /// up. Capped at [`MAX_OUTSTANDING_LIMIT`].
    pub max_outstanding: usize,
    /// A missing packet not recovered within this time is given up.
    pub max_age: Duration,
    /// A forward jump this large or larger is not a gap but a discontinuity
    /// (RFC 3550 A.1 `MAX_DROPOUT`).
    pub max_dropout: u16,
    /// A backward step this large or larger is a discontinuity too
    /// (RFC 3550 A.1 `MAX_MISORDER`).
    pub max_misorder: u16,
}

impl Default for NackConfig {
    fn default() -> Self {
        Self {
            reorder_allowance: 16,
            max_outstanding: 64,
            max_age: Duration::from_secs(2),
            max_dropout: 3000,
            max_misorder: 100,
        }
    }
}

/// How a packet's sequence number relates to those before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arrival {
    /// The first packet seen.
    First,
    /// The next one in order.
    InOrder,
    /// Ahead of the next one expected: `missing` packets are now outstanding.
    Gap {
        /// How many sequence numbers were skipped.
        missing: u16,
    },
    /// A packet that was missing: a retransmission or a late reorder.
    Recovered,
    /// Behind the newest and not missing: a duplicate, or later than given up.
    Stale,
    /// A discontinuity (a jump over `max_dropout` or back over
    /// `max_misorder`). One more in sequence after it restarts tracking.
    Jump,
    /// Two packets in sequence after a jump: tracking restarted from here and
    /// the outstanding NACKs were dropped (RFC 3550 A.1 probation).
    Restarted,
}

/// Counters over the tracker's life.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NackStats {
    /// Sequence numbers requested in NACKs.
    pub nacked: u64,
    /// Missing packets that arrived later.
    pub recovered: u64,
    /// Missing packets given up: too old, too many, or dropped on a restart.
    pub lost: u64,
}

#[derive(Debug, Clone, Copy)]
struct Missing {
    sequence: u64,
    since: Instant,
    nacked: bool,
}

/// Tracks one SSRC's sequence numbers and decides what to NACK.
#[derive(Debug)]
pub struct NackTracker {
    config: NackConfig,
    highest: Option<u64>,
    probation: Option<u16>,
    missing: VecDeque<Missing>,
    stats: NackStats,
}

impl NackTracker {
    /// A tracker with room for `config.max_outstanding` missing packets.
    pub fn new(mut config: NackConfig) -> Self {
        config.max_outstanding = config.max_outstanding.min(MAX_OUTSTANDING_LIMIT);
        Self {
            missing: VecDeque::with_capacity(config.max_outstanding),
            config,
            highest: None,
            probation: None,
            stats: NackStats::default(),
        }
    }

    /// Counters so far.
    pub fn stats(&self) -> NackStats {
        self.stats
    }

    /// Sequence numbers currently missing.
    pub fn outstanding(&self) -> usize {
        self.missing.len()
    }

    /// Records a packet with sequence number `sequence` received at `now`.
    pub fn on_packet(&mut self, now: Instant, sequence: u16) -> Arrival {
        self.expire(now);
        // Extended sequence numbers start one cycle up so stepping back never underflows.
        let Some(highest) = self.highest else {
            self.highest = Some((1 << 16) | u64::from(sequence));
            return Arrival::First;
        };
        let ahead = sequence.wrapping_sub(highest as u16);
        let behind = (highest as u16).wrapping_sub(sequence);
        if ahead == 0 {
            return Arrival::Stale;
        }
        if ahead < self.config.max_dropout {
            self.probation = None;
            let extended = highest + u64::from(ahead);
            self.highest = Some(extended);
            if ahead == 1 {
                return Arrival::InOrder;
            }
            self.record_gap(now, highest + 1, extended);
            return Arrival::Gap { missing: ahead - 1 };
        }
        // A missing packet is recovered however late it comes (within
        // `max_age`); only then does the misorder window apply.
        let candidate = highest - u64::from(behind);
        if let Some(at) = self.missing.iter().position(|m| m.sequence == candidate) {
            self.missing.remove(at);
            self.stats.recovered += 1;
            return Arrival::Recovered;
        }
        if behind < self.config.max_misorder {
            return Arrival::Stale;
        }
        if self.probation == Some(sequence) {
            self.probation = None;
            self.stats.lost += self.missing.len() as u64;
            self.missing.clear();
            self.highest = Some((1 << 16) | u64::from(sequence));
            return Arrival::Restarted;
        }
        self.probation = Some(sequence.wrapping_add(1));
        Arrival::Jump
    }

    /// Writes one RTCP Generic NACK to `out` for every missing packet that is
    /// due and not yet requested, packing up to 17 per FCI. Returns how many
    /// sequence numbers it requested; 0 writes nothing. `media_ssrc` is the
    /// video SSRC; ftl-sdk finds the stream by it and ignores `sender_ssrc`.
    pub fn poll_nack(
        &mut self,
        now: Instant,
        sender_ssrc: u32,
        media_ssrc: u32,
        out: &mut Vec<u8>,
    ) -> usize {
        self.expire(now);
        let Some(highest) = self.highest else {
            return 0;
        };
        let due_until = highest.saturating_sub(u64::from(self.config.reorder_allowance));
        let start = out.len();
        let mut requested = 0;
        let mut fci_count = 0u16;
        let mut current: Option<(u64, u16)> = None;
        out.extend_from_slice(&[0x81, RTPFB, 0, 0]);
        out.extend_from_slice(&sender_ssrc.to_be_bytes());
        out.extend_from_slice(&media_ssrc.to_be_bytes());
        for missing in self
            .missing
            .iter_mut()
            .filter(|m| !m.nacked && m.sequence <= due_until)
        {
            missing.nacked = true;
            requested += 1;
            match &mut current {
                Some((pid, blp)) if missing.sequence - *pid <= 16 => {
                    *blp |= 1 << (missing.sequence - *pid - 1);
                }
                _ => {
                    if let Some((pid, blp)) = current.take() {
                        push_fci(out, pid, blp);
                        fci_count += 1;
                    }
                    current = Some((missing.sequence, 0));
                }
            }
        }
        if let Some((pid, blp)) = current {
            push_fci(out, pid, blp);
            fci_count += 1;
        }
        if requested == 0 {
            out.truncate(start);
            return 0;
        }
        // Length in 32-bit words minus one: header, two SSRCs, the FCIs.
        let length = 2 + fci_count;
        out[start + 2..start + 4].copy_from_slice(&length.to_be_bytes());
        self.stats.nacked += requested as u64;
        requested
    }

    /// When the oldest missing packet will be given up, if any is missing.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.missing.front().map(|m| m.since + self.config.max_age)
    }

    /// Gives up missing packets older than `max_age`.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.expire(now);
    }

    fn expire(&mut self, now: Instant) {
        while let Some(oldest) = self.missing.front() {
            if now.saturating_duration_since(oldest.since) < self.config.max_age {
                break;
            }
            self.missing.pop_front();
            self.stats.lost += 1;
        }
    }

    /// Records `from..to` as missing, keeping only the newest `max_outstanding`.
    fn record_gap(&mut self, now: Instant, from: u64, to: u64) {
        let cap = self.config.max_outstanding as u64;
        let first_kept = from.max(to.saturating_sub(cap));
        self.stats.lost += first_kept - from;
        for sequence in first_kept..to {
            if self.missing.len() >= self.config.max_outstanding {
                if self.missing.pop_front().is_none() {
                    return;
                }
                self.stats.lost += 1;
            }
            self.missing.push_back(Missing {
                sequence,
                since: now,
                nacked: false,
            });
        }
    }
}

fn push_fci(out: &mut Vec<u8>, pid: u64, blp: u16) {
    out.extend_from_slice(&(pid as u16).to_be_bytes());
    out.extend_from_slice(&blp.to_be_bytes());
}

#[cfg(test)]
#[allow(
    clippy::disallowed_methods,
    reason = "a test takes one Instant and adds to it"
)]
mod tests {
    use super::*;

    fn tracker() -> (NackTracker, Instant) {
        (NackTracker::new(NackConfig::default()), Instant::now())
    }

    fn feed(tracker: &mut NackTracker, now: Instant, sequences: impl IntoIterator<Item = u16>) {
        for sequence in sequences {
            tracker.on_packet(now, sequence);
        }
    }

    fn nack(tracker: &mut NackTracker, now: Instant) -> Vec<u8> {
        let mut out = Vec::new();
        tracker.poll_nack(now, 124, 124, &mut out);
        out
    }

    #[test]
    fn single_loss_is_nacked_after_reorder_allowance() {
        let (mut t, now) = tracker();
        feed(&mut t, now, 70..79);
        assert_eq!(t.on_packet(now, 80), Arrival::Gap { missing: 1 });
        feed(&mut t, now, 81..95);
        assert!(
            nack(&mut t, now).is_empty(),
            "95 < 79 + 16: still within reorder allowance"
        );
        t.on_packet(now, 95);
        assert_eq!(
            nack(&mut t, now),
            [
                0x81, 0xcd, 0x00, 0x03, 0, 0, 0, 124, 0, 0, 0, 124, 0x00, 79, 0x00, 0x00
            ]
        );
        assert!(nack(&mut t, now).is_empty(), "each loss is NACKed once");
        assert_eq!(t.on_packet(now, 79), Arrival::Recovered);
        assert_eq!(
            t.stats(),
            NackStats {
                nacked: 1,
                recovered: 1,
                lost: 0
            }
        );
    }

    #[test]
    fn neighbouring_losses_share_one_fci() {
        let (mut t, now) = tracker();
        t.on_packet(now, 158);
        t.on_packet(now, 163);
        feed(&mut t, now, 164..200);
        assert_eq!(
            nack(&mut t, now),
            [
                0x81, 0xcd, 0x00, 0x03, 0, 0, 0, 124, 0, 0, 0, 124, 0x00, 159, 0x00, 0x07
            ]
        );
    }

    #[test]
    fn gaps_far_apart_get_separate_fcis() {
        let (mut t, now) = tracker();
        t.on_packet(now, 0);
        t.on_packet(now, 2);
        feed(&mut t, now, 3..30);
        t.on_packet(now, 31);
        feed(&mut t, now, 32..60);
        let out = nack(&mut t, now);
        assert_eq!(&out[..4], [0x81, 0xcd, 0x00, 0x04]);
        assert_eq!(&out[12..], [0, 1, 0, 0, 0, 30, 0, 0]);
    }

    #[test]
    fn sequence_wrap_is_not_a_gap() {
        let (mut t, now) = tracker();
        feed(&mut t, now, 65530..=65535);
        assert_eq!(t.on_packet(now, 0), Arrival::InOrder);
        assert_eq!(t.on_packet(now, 2), Arrival::Gap { missing: 1 });
        feed(&mut t, now, 3..40);
        let out = nack(&mut t, now);
        assert_eq!(&out[12..], [0, 1, 0, 0]);
    }

    #[test]
    fn forward_jump_of_3000_or_more_is_a_discontinuity() {
        for (jump, expected) in [
            (2999, Arrival::Gap { missing: 2998 }),
            (3000, Arrival::Jump),
            (3001, Arrival::Jump),
        ] {
            let (mut t, now) = tracker();
            t.on_packet(now, 0);
            assert_eq!(t.on_packet(now, jump), expected, "+{jump}");
            let expected_outstanding = if jump == 2999 { 64 } else { 0 };
            assert_eq!(
                t.outstanding(),
                expected_outstanding,
                "+{jump}: capped, or no NACKs for a jump"
            );
        }
    }

    #[test]
    fn backward_step_of_100_or_more_is_a_discontinuity() {
        for (back, expected) in [
            (99, Arrival::Stale),
            (100, Arrival::Jump),
            (101, Arrival::Jump),
        ] {
            let (mut t, now) = tracker();
            t.on_packet(now, 1000);
            assert_eq!(t.on_packet(now, 1000 - back), expected, "-{back}");
        }
    }

    #[test]
    fn late_retransmissions_are_recovered_not_jumps() {
        let (mut t, now) = tracker();
        feed(&mut t, now, 0..=49);
        feed(&mut t, now, 54..=200);
        assert_eq!(nack(&mut t, now)[12..], [0, 50, 0, 0b111]);
        for sequence in 50..=53 {
            assert_eq!(t.on_packet(now, sequence), Arrival::Recovered, "{sequence}");
        }
        assert_eq!(t.on_packet(now, 201), Arrival::InOrder);
        feed(&mut t, now, 202..230);
        assert!(nack(&mut t, now).is_empty());
        assert_eq!(
            t.stats(),
            NackStats {
                nacked: 4,
                recovered: 4,
                lost: 0
            }
        );
    }

    #[test]
    fn restart_needs_two_in_sequence() {
        let (mut t, now) = tracker();
        feed(&mut t, now, [5000, 5002]);
        assert_eq!(t.outstanding(), 1);
        assert_eq!(t.on_packet(now, 0), Arrival::Jump);
        assert_eq!(t.on_packet(now, 1), Arrival::Restarted);
        assert_eq!(t.outstanding(), 0);
        assert_eq!(t.on_packet(now, 2), Arrival::InOrder);
        assert_eq!(t.stats().lost, 1);
    }

    #[test]
    fn duplicates_are_stale() {
        let (mut t, now) = tracker();
        feed(&mut t, now, [1, 2]);
        assert_eq!(t.on_packet(now, 2), Arrival::Stale);
        assert_eq!(t.on_packet(now, 1), Arrival::Stale);
    }

    #[test]
    fn missing_expires_after_max_age() {
        let (mut t, now) = tracker();
        feed(&mut t, now, [1, 3]);
        assert_eq!(t.poll_timeout(), Some(now + Duration::from_secs(2)));
        t.handle_timeout(now + Duration::from_millis(1999));
        assert_eq!(t.outstanding(), 1);
        t.handle_timeout(now + Duration::from_secs(2));
        assert_eq!(t.outstanding(), 0);
        assert_eq!(t.stats().lost, 1);
        assert_eq!(t.on_packet(now + Duration::from_secs(3), 2), Arrival::Stale);
    }

    #[test]
    fn nack_never_exceeds_max_outstanding() {
        let (mut t, now) = tracker();
        for round in 0..50u16 {
            let base = round * 200;
            t.on_packet(now, base);
            t.on_packet(now, base + 150);
        }
        let mut out = Vec::new();
        let requested = t.poll_nack(now, 1, 2, &mut out);
        assert!(requested <= 64);
        let words = u16::from_be_bytes([out[2], out[3]]) as usize + 1;
        assert_eq!(words * 4, out.len());
    }
}
