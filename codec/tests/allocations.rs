//! The packet path allocates nothing once warm: the shipped clip, AVCC
//! split, packetized and depacketized a second time by the same packetizer
//! and depacketizer, makes no heap allocation, counted by a global
//! allocator on this test's thread.
#![allow(
    clippy::unwrap_used,
    reason = "a failed unwrap in a test is a failed test"
)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use codec::h264::avcc::nal_units;
use codec::h264::depacketizer::Depacketizer;
use codec::h264::packetizer::{Packetizer, ParameterSets};

/// The system allocator, counting the allocations of threads that ask.
struct Counting;

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

fn count_this_thread() {
    if COUNTING.with(Cell::get) {
        ALLOCATIONS.with(|count| count.set(count.get() + 1));
    }
}

// SAFETY: every call is passed on to `System` unchanged; counting touches
// only const-initialised thread-locals, which do not allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count_this_thread();
        // SAFETY: the caller's contract for `alloc` is `System.alloc`'s.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count_this_thread();
        // SAFETY: the caller's contract for `realloc` is `System.realloc`'s.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const CLIP: &[u8] = include_bytes!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../tests/data/testsrc-320x240-30fps-baseline-gop30.h264"
));

/// The clip as one AVCC access unit per NAL unit: enough for the packet
/// path, which does not care where pictures begin.
fn avcc_units() -> Vec<Vec<u8>> {
    let mut units = Vec::new();
    let mut start = None;
    let mut at = 0;
    while at + 3 <= CLIP.len() {
        if CLIP[at..at + 3] == [0, 0, 1] {
            if let Some(begin) = start {
                units.push(trimmed(&CLIP[begin..at]));
            }
            start = Some(at + 3);
            at += 3;
        } else {
            at += 1;
        }
    }
    units.push(trimmed(&CLIP[start.unwrap()..]));
    units
}

fn trimmed(nal: &[u8]) -> Vec<u8> {
    let end = nal
        .iter()
        .rposition(|&byte| byte != 0)
        .map_or(0, |last| last + 1);
    let nal = &nal[..end];
    [&(nal.len() as u32).to_be_bytes()[..], nal].concat()
}

/// One pass of the clip through both; returns the bytes and NAL units that
/// came out, without allocating for them.
fn pass(
    units: &[Vec<u8>],
    packetizer: &mut Packetizer,
    depacketizer: &mut Depacketizer,
    sequence: &mut u16,
    parameter_sets: &ParameterSets,
) -> (usize, usize) {
    let (mut bytes, mut nal_count) = (0, 0);
    for unit in units {
        let split = nal_units(unit, 4).map_while(Result::ok);
        packetizer.packetize(split, parameter_sets, |payload, _| {
            depacketizer
                .push(*sequence, payload, |nal| {
                    bytes += nal.len();
                    nal_count += 1;
                })
                .unwrap();
            *sequence = sequence.wrapping_add(1);
        });
    }
    (bytes, nal_count)
}

#[test]
fn the_packet_path_allocates_nothing_once_warm() {
    let units = avcc_units();
    let parameter_sets = ParameterSets {
        sps: vec![units[0][4..].to_vec()],
        pps: vec![units[1][4..].to_vec()],
    };
    let mut packetizer = Packetizer::new(1200);
    let mut depacketizer = Depacketizer::default();
    let mut sequence = 0;
    let warm = pass(
        &units,
        &mut packetizer,
        &mut depacketizer,
        &mut sequence,
        &parameter_sets,
    );

    COUNTING.with(|counting| counting.set(true));
    let counted = pass(
        &units,
        &mut packetizer,
        &mut depacketizer,
        &mut sequence,
        &parameter_sets,
    );
    COUNTING.with(|counting| counting.set(false));

    assert_eq!(counted, warm);
    assert_eq!(
        warm.1,
        187 + 6 * 2,
        "each IDR slice, alone in its unit, gets the SPS and PPS"
    );
    assert_eq!(ALLOCATIONS.with(Cell::get), 0);
}
