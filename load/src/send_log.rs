//! The publisher's side table of send times: each RTP packet is keyed by its
//! timestamp and payload (what the server forwards unchanged), so a viewer
//! can look up when the packet it received left the publisher.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Slots in the table: about four minutes of a 1.5 Mbps stream.
const SLOTS: usize = 1 << 16;

/// Nanoseconds since the Unix epoch: the clock the kernel stamps received
/// datagrams with (`SO_TIMESTAMPNS`).
pub fn realtime_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// The key of a packet: a hash of its RTP timestamp and payload.
pub fn packet_key(timestamp: u32, payload: &[u8]) -> u64 {
    const MULTIPLY: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut hash = u64::from(timestamp) ^ ((payload.len() as u64) << 32);
    let mut words = payload.chunks_exact(8);
    for word in &mut words {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(word);
        hash = (hash ^ u64::from_le_bytes(bytes)).wrapping_mul(MULTIPLY);
        hash ^= hash >> 29;
    }
    for &byte in words.remainder() {
        hash = (hash ^ u64::from(byte)).wrapping_mul(MULTIPLY);
    }
    hash ^ (hash >> 32)
}

struct Slot {
    key: AtomicU64,
    sent_ns: AtomicU64,
}

/// A direct-mapped table of send times, written by the publisher thread and
/// read by the viewer thread without locks. A slot reused by a later packet
/// simply misses.
pub struct SendLog {
    slots: Box<[Slot]>,
}

impl Default for SendLog {
    fn default() -> Self {
        Self::new()
    }
}

impl SendLog {
    /// An empty table.
    pub fn new() -> Self {
        let slots = (0..SLOTS)
            .map(|_| Slot {
                key: AtomicU64::new(0),
                sent_ns: AtomicU64::new(0),
            })
            .collect();
        Self { slots }
    }

    fn slot(&self, key: u64) -> &Slot {
        &self.slots[(key as usize) & (SLOTS - 1)]
    }

    /// Records that the packet with `key` left at `sent_ns`.
    pub fn record(&self, key: u64, sent_ns: u64) {
        let slot = self.slot(key);
        slot.key.store(0, Ordering::Release);
        slot.sent_ns.store(sent_ns, Ordering::Release);
        slot.key.store(key, Ordering::Release);
    }

    /// When the packet with `key` left, if the table still holds it.
    pub fn sent_ns(&self, key: u64) -> Option<u64> {
        let slot = self.slot(key);
        if slot.key.load(Ordering::Acquire) != key {
            return None;
        }
        let sent = slot.sent_ns.load(Ordering::Acquire);
        (slot.key.load(Ordering::Acquire) == key).then_some(sent)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recorded_packets_are_found_and_others_miss() {
        let log = SendLog::new();
        let key = packet_key(3000, b"a packet payload");
        log.record(key, 42);
        assert_eq!(log.sent_ns(key), Some(42));
        assert_eq!(log.sent_ns(packet_key(3001, b"a packet payload")), None);
    }

    #[test]
    fn keys_depend_on_timestamp_and_every_payload_byte() {
        let payload = vec![9u8; 1201];
        let base = packet_key(1, &payload);
        assert_ne!(base, packet_key(2, &payload));
        for at in [0, 600, 1199, 1200] {
            let mut changed = payload.clone();
            changed[at] ^= 1;
            assert_ne!(base, packet_key(1, &changed), "byte {at}");
        }
    }
}
