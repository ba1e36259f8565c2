//! PacketRing cost: one producer publishing and 1, 2, 4 or 8 cursors reading
//! each packet, in time per packet and heap allocations per packet; on one
//! thread (the main figure) and with the readers on a second thread.

#![allow(missing_docs, reason = "criterion_group! generates undocumented items")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a bench set-up failure is a failed bench"
)]

mod counting;

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use engine::internals::{PacketRing, RingCursor, RingPacket, RingWriter};

/// Slots per ring, as the engine sizes a video ring.
const CAPACITY: usize = 4096;
const CONSUMERS: [usize; 4] = [1, 2, 4, 8];

/// A writer that publishes the same shared payload as consecutive packets.
struct Producer {
    writer: RingWriter,
    payload: Arc<[u8]>,
    sequence: u16,
}

impl Producer {
    fn new() -> (Self, Arc<PacketRing>) {
        let (writer, ring) = PacketRing::new(CAPACITY, Instant::now());
        let producer = Self {
            writer,
            payload: Arc::from(vec![0x5c; 1200]),
            sequence: 0,
        };
        (producer, ring)
    }

    fn publish(&mut self) -> u64 {
        self.sequence = self.sequence.wrapping_add(1);
        self.writer.push(RingPacket {
            sequence: self.sequence,
            timestamp: u32::from(self.sequence) * 3000,
            marker: true,
            keyframe: false,
            arrival: Instant::now(),
            payload: Arc::clone(&self.payload),
        })
    }
}

fn report(name: &str, consumers: usize, packets: u64, reads: u64, allocations: u64) {
    assert_eq!(
        reads,
        packets * consumers as u64,
        "{name}: a cursor missed packets"
    );
    eprintln!(
        "ring/{name}/{consumers}: {:.4} allocations per packet ({packets} packets, {reads} reads)",
        allocations as f64 / packets as f64,
    );
}

/// Publish one packet, then every cursor reads it, all on this thread.
fn single_thread(c: &mut Criterion) {
    let mut group = c.benchmark_group("ring/publish_consume");
    group.throughput(Throughput::Elements(1));
    for consumers in CONSUMERS {
        let (mut producer, ring) = Producer::new();
        let mut cursors = vec![RingCursor::at_head(&ring); consumers];
        let (mut packets, mut reads, mut allocations) = (0u64, 0u64, 0u64);
        group.bench_function(BenchmarkId::from_parameter(consumers), |b| {
            b.iter_custom(|iterations| {
                let before = counting::allocations();
                let started = Instant::now();
                for _ in 0..iterations {
                    producer.publish();
                    for cursor in &mut cursors {
                        while let Some(packet) = cursor.next(&ring) {
                            black_box(&packet);
                            reads += 1;
                        }
                    }
                }
                let elapsed = started.elapsed();
                allocations += counting::allocations() - before;
                packets += iterations;
                elapsed
            })
        });
        report("publish_consume", consumers, packets, reads, allocations);
    }
    group.finish();
}

/// The producer publishes on this thread while one other thread drains
/// every cursor; time runs until the last cursor has read the last packet.
/// The producer stays within half a ring of the slowest cursor so that no
/// cursor is lapped. Both sides yield while they wait: on a busy machine a
/// spinning waiter can hold the core the other side needs.
fn two_threads(c: &mut Criterion) {
    let mut group = c.benchmark_group("ring/threaded");
    group.throughput(Throughput::Elements(1));
    for consumers in CONSUMERS {
        let (mut producer, ring) = Producer::new();
        let (mut packets, mut reads, mut allocations) = (0u64, 0u64, 0u64);
        group.bench_function(BenchmarkId::from_parameter(consumers), |b| {
            b.iter_custom(|iterations| {
                let start = ring.head();
                let target = start + iterations;
                let mut cursors = vec![RingCursor::at_head(&ring); consumers];
                let slowest = AtomicU64::new(start);
                let ready = Barrier::new(2);
                let (elapsed, read, allocated) = thread::scope(|scope| {
                    let reader = scope.spawn(|| {
                        let mut read = 0u64;
                        ready.wait();
                        loop {
                            let mut lowest = u64::MAX;
                            for cursor in &mut cursors {
                                while let Some(packet) = cursor.next(&ring) {
                                    black_box(&packet);
                                    read += 1;
                                }
                                lowest = lowest.min(cursor.position());
                            }
                            slowest.store(lowest, Ordering::Release);
                            if lowest >= target {
                                break;
                            }
                            thread::yield_now();
                        }
                        assert!(
                            cursors.iter().all(|c| c.skipped() == 0),
                            "a cursor was lapped"
                        );
                        read
                    });
                    ready.wait();
                    let before = counting::allocations();
                    let started = Instant::now();
                    for _ in 0..iterations {
                        let index = producer.publish();
                        while index >= slowest.load(Ordering::Acquire) + CAPACITY as u64 / 2 {
                            thread::yield_now();
                        }
                    }
                    let read = reader.join().unwrap();
                    let elapsed = started.elapsed();
                    (elapsed, read, counting::allocations() - before)
                });
                allocations += allocated;
                packets += iterations;
                reads += read;
                elapsed
            })
        });
        report("threaded", consumers, packets, reads, allocations);
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = single_thread, two_threads
}
criterion_main!(benches);
