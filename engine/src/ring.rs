//! PacketRing: one track's recent RTP packets, written by one producer and
//! read lock-free by every worker (DESIGN.md, "The shape").
//!
//! Slots are allocated once. Each is a seqlock: a stamp that says which
//! packet index it holds (or that a write is in progress), the packet's
//! header fields as atomics, and its payload as the raw parts of an
//! `Arc<[u8]>` that the slot owns one reference to. A reader checks the stamp
//! before and after reading the fields, then takes its own reference to the
//! payload. The classic hazard, a reader cloning an `Arc` the writer is
//! dropping, is closed by epoch-based reclamation (`crossbeam-epoch`): the
//! writer never drops a replaced payload itself, it defers the drop until
//! every reader pinned at that moment has unpinned.

use std::sync::Arc;
use std::sync::atomic::{AtomicPtr, AtomicU32, AtomicU64, AtomicUsize, Ordering, fence};
use std::time::{Duration, Instant};

use crossbeam_epoch as epoch;

/// One RTP packet as the ring stores it: parsed once at ingest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RingPacket {
    /// The publisher's RTP sequence number.
    pub sequence: u16,
    /// The publisher's RTP timestamp.
    pub timestamp: u32,
    /// The RTP marker bit.
    pub marker: bool,
    /// Whether the packet starts or carries a keyframe (SPS or IDR start).
    pub keyframe: bool,
    /// When the packet arrived at ingest.
    pub arrival: Instant,
    /// The RTP payload, shared by every viewer.
    pub payload: Arc<[u8]>,
}

/// The outcome of reading one packet index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Read {
    /// The packet at that index.
    Packet(RingPacket),
    /// Not published yet.
    Pending,
    /// Overwritten: the reader fell a whole ring behind.
    Lapped,
}

const FLAG_MARKER: u32 = 1;
const FLAG_KEYFRAME: u32 = 2;
/// The stamp's low bit: a write is in progress.
const WRITING: u64 = 1;

/// One slot. The stamp is `(index + 1) << 1` once packet `index` is published,
/// with the low bit set while it is being written; 0 means never written.
struct Slot {
    stamp: AtomicU64,
    sequence_and_flags: AtomicU32,
    timestamp: AtomicU32,
    arrival_nanos: AtomicU64,
    payload_ptr: AtomicPtr<u8>,
    payload_len: AtomicUsize,
}

impl Slot {
    fn empty() -> Self {
        Self {
            stamp: AtomicU64::new(0),
            sequence_and_flags: AtomicU32::new(0),
            timestamp: AtomicU32::new(0),
            arrival_nanos: AtomicU64::new(0),
            payload_ptr: AtomicPtr::new(std::ptr::null_mut()),
            payload_len: AtomicUsize::new(0),
        }
    }
}

fn published(index: u64) -> u64 {
    (index + 1) << 1
}

/// A fixed-size ring of the newest packets of one track.
pub struct PacketRing {
    slots: Box<[Slot]>,
    /// How many packets were ever published; the next index to write.
    head: AtomicU64,
    /// `index + 1` of the newest keyframe's first packet; 0 if none yet.
    keyframe_start: AtomicU64,
    /// Arrival times are stored as nanoseconds since this instant.
    origin: Instant,
}

impl std::fmt::Debug for PacketRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PacketRing")
            .field("capacity", &self.slots.len())
            .field("head", &self.head())
            .field("keyframe_start", &self.keyframe_start())
            .finish()
    }
}

// SAFETY: every field is an atomic or immutable; the raw payload pointers are
// owned references to `Arc<[u8]>`, which is Send + Sync.
unsafe impl Send for PacketRing {}
// SAFETY: as above; shared access goes through atomics only.
unsafe impl Sync for PacketRing {}

impl PacketRing {
    /// A ring of `capacity` slots (at least 1) and its only writer.
    pub fn new(capacity: usize, origin: Instant) -> (RingWriter, Arc<PacketRing>) {
        let capacity = capacity.max(1);
        let ring = Arc::new(PacketRing {
            slots: (0..capacity).map(|_| Slot::empty()).collect(),
            head: AtomicU64::new(0),
            keyframe_start: AtomicU64::new(0),
            origin,
        });
        let writer = RingWriter {
            ring: Arc::clone(&ring),
            keyframe_timestamp: None,
        };
        (writer, ring)
    }

    /// Number of slots.
    pub fn capacity(&self) -> usize {
        self.slots.len()
    }

    /// The index the next packet will get; packets `head - capacity .. head`
    /// may be read.
    pub fn head(&self) -> u64 {
        self.head.load(Ordering::Acquire)
    }

    /// The index of the newest keyframe's first packet, if one was published.
    /// It may already be overwritten; [`read`](Self::read) says so.
    pub fn keyframe_start(&self) -> Option<u64> {
        self.keyframe_start.load(Ordering::Acquire).checked_sub(1)
    }

    /// Reads packet `index`. Lock-free: never waits for the writer.
    pub fn read(&self, index: u64) -> Read {
        self.read_pinned(index, &ReadPin::new())
    }

    /// [`read`](Self::read) under a pin the caller holds across several reads.
    pub fn read_pinned(&self, index: u64, _pin: &ReadPin) -> Read {
        let slot = &self.slots[(index % self.slots.len() as u64) as usize];
        let expected = published(index);
        let before = slot.stamp.load(Ordering::Acquire);
        if before & !WRITING < expected || before == expected | WRITING {
            return Read::Pending;
        }
        if before != expected {
            return Read::Lapped;
        }
        let sequence_and_flags = slot.sequence_and_flags.load(Ordering::Relaxed);
        let timestamp = slot.timestamp.load(Ordering::Relaxed);
        let arrival_nanos = slot.arrival_nanos.load(Ordering::Relaxed);
        let ptr = slot.payload_ptr.load(Ordering::Relaxed);
        let len = slot.payload_len.load(Ordering::Relaxed);
        fence(Ordering::Acquire);
        if slot.stamp.load(Ordering::Relaxed) != expected {
            return Read::Lapped;
        }
        let raw: *const [u8] = std::ptr::slice_from_raw_parts(ptr, len);
        // SAFETY: the stamp was `expected` before and after the loads, so
        // `raw` is the payload the slot owned a reference to at that moment.
        // The writer drops a replaced payload only through the epoch
        // collector, and `_pin` has kept this thread pinned since before the
        // first stamp load, so the allocation is still alive. We take a new strong
        // reference and wrap it; the slot's own reference is untouched.
        let payload = unsafe {
            Arc::increment_strong_count(raw);
            Arc::from_raw(raw)
        };
        Read::Packet(RingPacket {
            sequence: (sequence_and_flags >> 16) as u16,
            timestamp,
            marker: sequence_and_flags & FLAG_MARKER != 0,
            keyframe: sequence_and_flags & FLAG_KEYFRAME != 0,
            arrival: self.origin + Duration::from_nanos(arrival_nanos),
            payload,
        })
    }
}

impl Drop for PacketRing {
    fn drop(&mut self) {
        for slot in self.slots.iter() {
            let ptr = slot.payload_ptr.load(Ordering::Relaxed);
            if !ptr.is_null() {
                let raw: *const [u8] =
                    std::ptr::slice_from_raw_parts(ptr, slot.payload_len.load(Ordering::Relaxed));
                // SAFETY: the slot owns one reference, made by `Arc::into_raw`
                // in `RingWriter::push`; no reader exists once the ring drops.
                drop(unsafe { Arc::from_raw(raw) });
            }
        }
    }
}

/// The single producer of a [`PacketRing`]. Not `Clone`: one writer per ring.
#[derive(Debug)]
pub struct RingWriter {
    ring: Arc<PacketRing>,
    keyframe_timestamp: Option<u32>,
}

impl RingWriter {
    /// The ring this writer fills.
    pub fn ring(&self) -> &Arc<PacketRing> {
        &self.ring
    }

    /// Publishes a packet and returns its index. A keyframe packet whose
    /// timestamp is newer than the previous keyframe's starts a new keyframe:
    /// new viewers begin there.
    pub fn push(&mut self, packet: RingPacket) -> u64 {
        let ring = &*self.ring;
        let index = ring.head.load(Ordering::Relaxed);
        let slot = &ring.slots[(index % ring.slots.len() as u64) as usize];
        let guard = epoch::pin();
        slot.stamp
            .store(published(index) | WRITING, Ordering::Relaxed);
        fence(Ordering::Release);
        let flags =
            (u32::from(packet.marker) * FLAG_MARKER) | (u32::from(packet.keyframe) * FLAG_KEYFRAME);
        slot.sequence_and_flags.store(
            (u32::from(packet.sequence) << 16) | flags,
            Ordering::Relaxed,
        );
        slot.timestamp.store(packet.timestamp, Ordering::Relaxed);
        let arrival = packet
            .arrival
            .saturating_duration_since(ring.origin)
            .as_nanos();
        slot.arrival_nanos.store(
            u64::try_from(arrival).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
        let len = packet.payload.len();
        let new = Arc::into_raw(packet.payload);
        let old_ptr = slot
            .payload_ptr
            .swap(new as *const u8 as *mut u8, Ordering::Relaxed);
        let old_len = slot.payload_len.swap(len, Ordering::Relaxed);
        slot.stamp.store(published(index), Ordering::Release);
        // Only a newer frame moves the start: a late retransmission of an
        // older keyframe's first packet must not send new viewers back to it.
        let newer = self
            .keyframe_timestamp
            .is_none_or(|current| (packet.timestamp.wrapping_sub(current) as i32) > 0);
        if packet.keyframe && newer {
            self.keyframe_timestamp = Some(packet.timestamp);
            ring.keyframe_start.store(index + 1, Ordering::Release);
        }
        ring.head.store(index + 1, Ordering::Release);
        if !old_ptr.is_null() {
            let old = SendPayload(std::ptr::slice_from_raw_parts(old_ptr, old_len));
            // SAFETY: `old` is the reference the slot owned, made by
            // `Arc::into_raw`; nothing else will drop it. Readers that may
            // still be cloning it are pinned, and the collector runs this only
            // after they all unpin.
            unsafe { guard.defer_unchecked(move || drop(Arc::from_raw(old.into_raw()))) };
        }
        index
    }
}

/// A payload reference in transit to the epoch collector.
struct SendPayload(*const [u8]);

impl SendPayload {
    fn into_raw(self) -> *const [u8] {
        self.0
    }
}

// SAFETY: it stands for an `Arc<[u8]>`, which is Send.
unsafe impl Send for SendPayload {}

/// Keeps the reading thread pinned to the current epoch, so payloads it is
/// reading cannot be freed. Pinning costs a thread-local lookup and a fence;
/// a reader that reads a batch pins once for all of it.
pub struct ReadPin {
    _guard: epoch::Guard,
}

impl ReadPin {
    /// Pins the current thread.
    pub fn new() -> Self {
        Self {
            _guard: epoch::pin(),
        }
    }
}

impl Default for ReadPin {
    fn default() -> Self {
        Self::new()
    }
}

/// One reader's position in a ring. A reader that falls a whole ring behind
/// is lapped: it jumps to the newest keyframe still held and counts what it
/// skipped.
#[derive(Debug, Clone)]
pub struct RingCursor {
    next: u64,
    skipped: u64,
}

impl RingCursor {
    /// A cursor for a new viewer: at the newest keyframe the ring still
    /// holds ("instant start"), or at the head if it holds none, where it
    /// waits for the next keyframe.
    pub fn at_keyframe(ring: &PacketRing) -> Self {
        Self {
            next: Self::restart_point(ring),
            skipped: 0,
        }
    }

    /// A cursor at the oldest packet the ring still holds: a reader that
    /// wants all of a stream just started (a recording) misses nothing.
    pub fn at_oldest(ring: &PacketRing) -> Self {
        Self {
            next: ring.head().saturating_sub(ring.capacity() as u64),
            skipped: 0,
        }
    }

    /// A cursor at the head: it reads only packets published from now on.
    #[cfg(any(test, feature = "internals"))]
    pub fn at_head(ring: &PacketRing) -> Self {
        Self {
            next: ring.head(),
            skipped: 0,
        }
    }

    /// The next index this cursor will read.
    pub fn position(&self) -> u64 {
        self.next
    }

    /// Packets skipped because this cursor was lapped.
    pub fn skipped(&self) -> u64 {
        self.skipped
    }

    /// The next packet, or `None` when caught up.
    #[cfg(any(test, feature = "internals"))]
    pub fn next(&mut self, ring: &PacketRing) -> Option<RingPacket> {
        let packet = self.peek(ring)?;
        self.advance();
        Some(packet)
    }

    /// Moves past the packet [`peek_pinned`](Self::peek_pinned) returned.
    pub fn advance(&mut self) {
        self.next += 1;
    }

    /// The next packet without moving past it, or `None` when caught up.
    /// A lapped cursor still jumps to its restart point first.
    #[cfg(any(test, feature = "internals"))]
    pub fn peek(&mut self, ring: &PacketRing) -> Option<RingPacket> {
        self.peek_pinned(ring, &ReadPin::new())
    }

    /// The next packet without moving past it (`None` when caught up), read
    /// under the caller's pin. A lapped cursor still jumps to its restart
    /// point first.
    pub fn peek_pinned(&mut self, ring: &PacketRing, pin: &ReadPin) -> Option<RingPacket> {
        loop {
            match ring.read_pinned(self.next, pin) {
                Read::Packet(packet) => return Some(packet),
                Read::Pending => return None,
                Read::Lapped => {
                    let restart = Self::restart_point(ring).max(self.next + 1);
                    self.skipped += restart - self.next;
                    self.next = restart;
                }
            }
        }
    }

    fn restart_point(ring: &PacketRing) -> u64 {
        let head = ring.head();
        let oldest_held = head.saturating_sub(ring.capacity() as u64);
        match ring.keyframe_start() {
            Some(start) if start >= oldest_held => start,
            _ => head,
        }
    }
}

/// The writers of a stream's video and audio rings, as an input gets them.
pub(crate) type Writers = (Option<RingWriter>, Option<RingWriter>);

#[cfg(test)]
mod tests {
    use super::*;

    fn packet(origin: Instant, sequence: u16, keyframe: bool, timestamp: u32) -> RingPacket {
        RingPacket {
            sequence,
            timestamp,
            marker: sequence.is_multiple_of(3),
            keyframe,
            arrival: origin + Duration::from_micros(u64::from(sequence)),
            payload: Arc::from(sequence.to_be_bytes().repeat(1 + usize::from(sequence % 7))),
        }
    }

    #[test]
    fn reads_back_what_was_written() {
        let origin = Instant::now();
        let (mut writer, ring) = PacketRing::new(8, origin);
        assert_eq!(ring.read(0), Read::Pending);
        let written = packet(origin, 42, true, 9000);
        assert_eq!(writer.push(written.clone()), 0);
        assert_eq!(ring.read(0), Read::Packet(written));
        assert_eq!(ring.read(1), Read::Pending);
        assert_eq!(ring.head(), 1);
    }

    #[test]
    fn overwritten_slots_read_as_lapped() {
        let origin = Instant::now();
        let (mut writer, ring) = PacketRing::new(4, origin);
        for sequence in 0..6 {
            writer.push(packet(origin, sequence, false, 0));
        }
        assert_eq!(ring.read(0), Read::Lapped);
        assert_eq!(ring.read(1), Read::Lapped);
        assert!(matches!(ring.read(2), Read::Packet(p) if p.sequence == 2));
        assert!(matches!(ring.read(5), Read::Packet(p) if p.sequence == 5));
        assert_eq!(ring.read(6), Read::Pending);
    }

    #[test]
    fn keyframe_start_is_the_first_packet_of_a_new_keyframe_timestamp() {
        let origin = Instant::now();
        let (mut writer, ring) = PacketRing::new(16, origin);
        assert_eq!(ring.keyframe_start(), None);
        writer.push(packet(origin, 0, false, 0));
        writer.push(packet(origin, 1, true, 3000)); // SPS
        writer.push(packet(origin, 2, false, 3000)); // PPS
        writer.push(packet(origin, 3, true, 3000)); // IDR start, same frame
        assert_eq!(ring.keyframe_start(), Some(1));
        writer.push(packet(origin, 4, true, 6000));
        assert_eq!(ring.keyframe_start(), Some(4));
        writer.push(packet(origin, 1, true, 3000)); // a late retransmission of the old SPS
        assert_eq!(ring.keyframe_start(), Some(4));
    }

    #[test]
    fn new_cursor_starts_at_the_keyframe_or_waits_at_head() {
        let origin = Instant::now();
        let (mut writer, ring) = PacketRing::new(8, origin);
        writer.push(packet(origin, 0, false, 0));
        assert_eq!(
            RingCursor::at_keyframe(&ring).position(),
            1,
            "no keyframe: wait at head"
        );
        writer.push(packet(origin, 1, true, 3000));
        writer.push(packet(origin, 2, false, 3000));
        let mut cursor = RingCursor::at_keyframe(&ring);
        assert_eq!(cursor.next(&ring).map(|p| p.sequence), Some(1));
        assert_eq!(cursor.next(&ring).map(|p| p.sequence), Some(2));
        assert_eq!(cursor.next(&ring), None);
        for sequence in 3..20 {
            writer.push(packet(origin, sequence, false, 0));
        }
        assert_eq!(
            RingCursor::at_keyframe(&ring).position(),
            20,
            "keyframe overwritten: wait at head"
        );
    }

    #[test]
    fn peek_holds_the_cursor_until_advance() {
        let origin = Instant::now();
        let (mut writer, ring) = PacketRing::new(8, origin);
        let mut cursor = RingCursor::at_head(&ring);
        writer.push(packet(origin, 5, true, 0));
        writer.push(packet(origin, 6, false, 0));
        assert_eq!(cursor.peek(&ring).map(|p| p.sequence), Some(5));
        assert_eq!(cursor.peek(&ring).map(|p| p.sequence), Some(5));
        cursor.advance();
        assert_eq!(cursor.next(&ring).map(|p| p.sequence), Some(6));
        assert_eq!(cursor.peek(&ring), None);
    }

    #[test]
    fn lapped_cursor_jumps_to_the_newest_keyframe_and_counts_the_skip() {
        let origin = Instant::now();
        let (mut writer, ring) = PacketRing::new(8, origin);
        let mut cursor = RingCursor::at_head(&ring);
        for sequence in 0..10 {
            writer.push(packet(
                origin,
                sequence,
                sequence == 7,
                100 + u32::from(sequence),
            ));
        }
        assert_eq!(cursor.next(&ring).map(|p| p.sequence), Some(7));
        assert_eq!(cursor.skipped(), 7);
        assert_eq!(cursor.next(&ring).map(|p| p.sequence), Some(8));
    }

    #[test]
    fn lapped_cursor_without_a_held_keyframe_skips_to_head() {
        let origin = Instant::now();
        let (mut writer, ring) = PacketRing::new(4, origin);
        let mut cursor = RingCursor::at_head(&ring);
        for sequence in 0..10 {
            writer.push(packet(origin, sequence, false, 0));
        }
        assert_eq!(cursor.next(&ring), None);
        assert_eq!(cursor.position(), 10);
        assert_eq!(cursor.skipped(), 10);
    }

    #[test]
    fn payloads_are_freed_once_overwritten_and_unread() {
        let origin = Instant::now();
        let (mut writer, ring) = PacketRing::new(2, origin);
        let payload: Arc<[u8]> = Arc::from(&b"watched"[..]);
        let weak = Arc::downgrade(&payload);
        writer.push(RingPacket {
            payload,
            ..packet(origin, 0, false, 0)
        });
        let held = match ring.read(0) {
            Read::Packet(p) => p.payload,
            other => panic!("{other:?}"),
        };
        for sequence in 1..200 {
            writer.push(packet(origin, sequence, false, 0));
            epoch::pin().flush();
        }
        assert!(weak.upgrade().is_some(), "a reader's clone keeps it alive");
        drop(held);
        // Reclamation waits for every pinned thread, and other tests pin
        // concurrently: flush until freed, with a deadline.
        let deadline = Instant::now() + Duration::from_secs(10);
        while weak.upgrade().is_some() && Instant::now() < deadline {
            epoch::pin().flush();
            std::thread::yield_now();
        }
        assert!(weak.upgrade().is_none(), "freed once nobody holds it");
    }

    /// One writer and four readers race over a small ring, so readers are
    /// lapped often. Every packet read must be whole (its fields and payload
    /// all from the same write), and each reader's packets strictly ordered.
    #[test]
    fn concurrent_readers_never_see_a_torn_packet() {
        const PACKETS: u32 = 200_000;
        let origin = Instant::now();
        let (mut writer, ring) = PacketRing::new(64, origin);
        // Every reader takes its cursor before the first write, and gives up
        // at a deadline instead of hanging if a packet never shows.
        let ready = Arc::new(std::sync::Barrier::new(5));
        let deadline = Instant::now() + Duration::from_secs(60);
        let readers: Vec<_> = (0..4)
            .map(|_| {
                let ring = Arc::clone(&ring);
                let ready = Arc::clone(&ready);
                std::thread::spawn(move || {
                    let mut cursor = RingCursor::at_head(&ring);
                    let start = cursor.position();
                    ready.wait();
                    let (mut read, mut last) = (0u64, None::<u32>);
                    while last != Some(PACKETS - 1) {
                        assert!(Instant::now() < deadline, "reader stuck at {last:?}");
                        let Some(packet) = cursor.next(&ring) else {
                            std::hint::spin_loop();
                            continue;
                        };
                        let index = packet.timestamp;
                        assert!(last.is_none_or(|last| index > last), "out of order");
                        assert_eq!(packet.sequence, index as u16);
                        assert_eq!(packet.keyframe, index.is_multiple_of(50));
                        assert_eq!(packet.payload.len(), 4 * (1 + index as usize % 5));
                        assert!(
                            packet.payload.chunks(4).all(|c| c == index.to_be_bytes()),
                            "torn payload"
                        );
                        last = Some(index);
                        read += 1;
                    }
                    (start, read, cursor.skipped())
                })
            })
            .collect();
        ready.wait();
        for index in 0..PACKETS {
            writer.push(RingPacket {
                sequence: index as u16,
                timestamp: index,
                marker: false,
                keyframe: index.is_multiple_of(50),
                arrival: origin,
                payload: Arc::from(index.to_be_bytes().repeat(1 + index as usize % 5)),
            });
        }
        for reader in readers {
            let (start, read, skipped) = reader.join().unwrap();
            assert!(read > 0);
            assert_eq!(
                start + read + skipped,
                u64::from(PACKETS),
                "every index read or skipped"
            );
        }
    }

    #[test]
    fn dropping_the_ring_frees_every_payload() {
        let origin = Instant::now();
        let payload: Arc<[u8]> = Arc::from(&b"x"[..]);
        let weak = Arc::downgrade(&payload);
        let (mut writer, ring) = PacketRing::new(4, origin);
        writer.push(RingPacket {
            payload,
            ..packet(origin, 0, false, 0)
        });
        drop(writer);
        drop(ring);
        assert!(weak.upgrade().is_none());
    }
}
