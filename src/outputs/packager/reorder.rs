//! Reorder: puts a ring's packets back in sequence order. A ring holds
//! packets in arrival order, so a packet the engine recovered with a NACK
//! comes after later ones; held here a little while, it still makes its
//! picture whole. A packet that does not come in time is a gap.

use std::collections::BTreeMap;
use std::time::Duration;

use engine::RingPacket;

/// How long packets after a hole wait for it (measured in arrival time of
/// the packets that keep coming): about a NACK's round trip.
pub const HOLE_WAIT: Duration = Duration::from_millis(200);

/// Most packets held behind a hole, whatever their arrival times.
pub const MAX_HELD: usize = 2048;

/// A sequence number this far from the highest seen (either way) is a new
/// count (the sender restarted it), not a late or early packet.
pub const RESTART_STEP: u16 = 4096;

/// What comes out, in sequence order.
#[derive(Debug, PartialEq, Eq)]
pub enum Ordered {
    /// The next packet.
    Packet(RingPacket),
    /// Packets are missing before the next one and will not be waited for.
    Gap,
}

/// Sequence-ordered release of one track's packets.
#[derive(Debug, Default)]
pub struct Reorder {
    /// The extended sequence number released next.
    next: Option<u64>,
    /// The highest extended sequence number seen.
    highest: Option<u64>,
    held: BTreeMap<u64, RingPacket>,
    /// The count restarted: a gap comes out before the next packet.
    restarted: bool,
}

impl Reorder {
    /// Takes one packet as read from the ring. Duplicates and packets that
    /// come after their place was given up are dropped.
    pub fn push(&mut self, packet: RingPacket) {
        let step = self
            .highest
            .map(|highest| packet.sequence.wrapping_sub(highest as u16) as i16);
        if step.is_some_and(|step| step.unsigned_abs() > RESTART_STEP) {
            // A new count: what is held of the old one (at most a read
            // turn's packets) is given up.
            *self = Self {
                restarted: true,
                ..Self::default()
            };
        }
        let extended = match (self.highest, step) {
            (Some(highest), Some(step)) => highest.saturating_add_signed(i64::from(step)),
            _ => u64::from(packet.sequence) + (1 << 32),
        };
        if self.next.is_some_and(|next| extended < next) {
            return;
        }
        self.next.get_or_insert(extended);
        self.highest = Some(
            self.highest
                .map_or(extended, |highest| highest.max(extended)),
        );
        self.held.entry(extended).or_insert(packet);
    }

    /// The next packet in order, a gap when the hole before the next held
    /// packet has waited long enough, or `None` while waiting.
    pub fn pop(&mut self) -> Option<Ordered> {
        if std::mem::take(&mut self.restarted) {
            return Some(Ordered::Gap);
        }
        let next = self.next?;
        let (&first, oldest) = self.held.first_key_value()?;
        if first != next {
            let newest = self.held.values().map(|packet| packet.arrival).max()?;
            let waited = newest.saturating_duration_since(oldest.arrival);
            if waited < HOLE_WAIT && self.held.len() < MAX_HELD {
                return None;
            }
            self.next = Some(first);
            return Some(Ordered::Gap);
        }
        let packet = self.held.remove(&first)?;
        self.next = Some(first + 1);
        Some(Ordered::Packet(packet))
    }

    /// Gives up on every hole: what is held comes out in order, with gaps.
    pub fn flush(&mut self) -> Vec<Ordered> {
        let mut out = Vec::new();
        if std::mem::take(&mut self.restarted) {
            out.push(Ordered::Gap);
        }
        while let Some((first, packet)) = self.held.pop_first() {
            if self.next.is_some_and(|next| next != first) {
                out.push(Ordered::Gap);
            }
            self.next = Some(first + 1);
            out.push(Ordered::Packet(packet));
        }
        out
    }

    /// Forgets everything (the ring lapped the reader): the next packet
    /// starts a new count.
    pub fn reset(&mut self) {
        *self = Self::default();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Instant;

    use super::*;

    fn packet(origin: Instant, sequence: u16, arrival_ms: u64) -> RingPacket {
        RingPacket {
            sequence,
            timestamp: 0,
            marker: false,
            keyframe: false,
            arrival: origin + Duration::from_millis(arrival_ms),
            payload: Arc::from(vec![sequence as u8]),
        }
    }

    fn sequences(out: impl IntoIterator<Item = Ordered>) -> Vec<Option<u16>> {
        out.into_iter()
            .map(|item| match item {
                Ordered::Packet(packet) => Some(packet.sequence),
                Ordered::Gap => None,
            })
            .collect()
    }

    fn drain(reorder: &mut Reorder) -> Vec<Ordered> {
        std::iter::from_fn(|| reorder.pop()).collect()
    }

    #[test]
    fn a_late_packet_fills_its_hole() {
        let origin = Instant::now();
        let mut reorder = Reorder::default();
        for (sequence, at) in [(65534, 0), (65535, 1), (1, 2), (2, 3)] {
            reorder.push(packet(origin, sequence, at));
        }
        assert_eq!(sequences(drain(&mut reorder)), [Some(65534), Some(65535)]);
        reorder.push(packet(origin, 0, 60));
        assert_eq!(sequences(drain(&mut reorder)), [Some(0), Some(1), Some(2)]);
    }

    #[test]
    fn a_hole_is_given_up_once_later_packets_waited() {
        let origin = Instant::now();
        let mut reorder = Reorder::default();
        reorder.push(packet(origin, 10, 0));
        reorder.push(packet(origin, 12, 1));
        assert_eq!(sequences(drain(&mut reorder)), [Some(10)]);
        reorder.push(packet(origin, 13, 150));
        assert!(drain(&mut reorder).is_empty());
        reorder.push(packet(origin, 14, 201));
        assert_eq!(
            sequences(drain(&mut reorder)),
            [None, Some(12), Some(13), Some(14)]
        );
        // The missing packet, too late: dropped, as is a duplicate.
        reorder.push(packet(origin, 11, 300));
        reorder.push(packet(origin, 14, 300));
        assert!(drain(&mut reorder).is_empty());
    }

    #[test]
    fn a_restarted_count_is_a_gap_not_a_flood_of_late_packets() {
        let origin = Instant::now();
        let mut reorder = Reorder::default();
        reorder.push(packet(origin, 30_000, 0));
        reorder.push(packet(origin, 30_001, 1));
        // The sender starts again from a far lower number.
        reorder.push(packet(origin, 7, 2));
        reorder.push(packet(origin, 8, 3));
        assert_eq!(sequences(drain(&mut reorder)), [None, Some(7), Some(8)]);
    }

    #[test]
    fn flush_releases_everything_with_its_gaps() {
        let origin = Instant::now();
        let mut reorder = Reorder::default();
        for sequence in [5, 7, 8, 10] {
            reorder.push(packet(origin, sequence, 0));
        }
        assert_eq!(
            sequences(reorder.flush()),
            [Some(5), None, Some(7), Some(8), None, Some(10)]
        );
    }
}
