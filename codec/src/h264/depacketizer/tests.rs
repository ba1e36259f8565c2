//! The depacketizer's behaviour, payload by payload: what comes out, which
//! error is returned, and what the next packet finds.

use super::*;

const P_SLICE: &[u8] = &[0x41, 0x9a, 0x02];
const SEI: &[u8] = &[0x06, 0x05, 0x01];

/// A depacketizer and everything it emitted.
#[derive(Default)]
struct Receiver {
    depacketizer: Depacketizer,
    nal_units: Vec<Vec<u8>>,
}

impl Receiver {
    fn push(&mut self, sequence: u16, payload: &[u8]) -> Result<(), DepacketizeError> {
        let nal_units = &mut self.nal_units;
        self.depacketizer
            .push(sequence, payload, |nal| nal_units.push(nal.to_vec()))
    }

    /// Pushes payloads numbered from `first`, expecting each to succeed.
    fn push_all(&mut self, first: u16, payloads: &[&[u8]]) {
        for (offset, payload) in (0u16..).zip(payloads) {
            let sequence = first.wrapping_add(offset);
            assert_eq!(self.push(sequence, payload), Ok(()), "packet {sequence}");
        }
    }
}

/// A FU-A fragment of an IDR slice with NRI 3.
fn idr_fragment(start: bool, end: bool, data: &[u8]) -> Vec<u8> {
    let fu_header = (u8::from(start) << 7) | (u8::from(end) << 6) | 5;
    [&[0x7c, fu_header][..], data].concat()
}

#[test]
fn a_single_nal_unit_comes_out_as_it_is() {
    let mut receiver = Receiver::default();
    receiver.push_all(7, &[P_SLICE, SEI]);
    assert_eq!(receiver.nal_units, [P_SLICE, SEI]);
}

#[test]
fn a_stap_a_comes_out_as_its_nal_units() {
    let mut receiver = Receiver::default();
    receiver.push_all(
        0,
        &[&[
            0x78, 0x00, 0x03, 0x41, 0x9a, 0x02, 0x00, 0x03, 0x06, 0x05, 0x01,
        ]],
    );
    assert_eq!(receiver.nal_units, [P_SLICE, SEI]);
}

#[test]
fn fu_a_fragments_rebuild_the_nal_header_from_indicator_and_fu_header() {
    let mut receiver = Receiver::default();
    receiver.push_all(
        0,
        &[&[0xbc, 0x81, 1, 2], &[0xbc, 0x01, 3], &[0xbc, 0x41, 4]],
    );
    assert_eq!(receiver.nal_units, [[0xa1, 1, 2, 3, 4]]);
}

#[test]
fn start_and_end_in_one_fragment_is_a_whole_nal_unit() {
    let mut receiver = Receiver::default();
    receiver.push_all(0, &[&idr_fragment(true, true, &[1, 2])]);
    assert_eq!(receiver.nal_units, [[0x65, 1, 2]]);
}

#[test]
fn empty_fragments_add_nothing() {
    let mut receiver = Receiver::default();
    receiver.push_all(
        0,
        &[
            &idr_fragment(true, false, &[]),
            &idr_fragment(false, false, &[1]),
            &idr_fragment(false, true, &[]),
        ],
    );
    assert_eq!(receiver.nal_units, [[0x65, 1]]);
}

#[test]
fn a_lost_middle_fragment_drops_its_nal_unit_and_the_next_comes_out_whole() {
    let mut receiver = Receiver::default();
    receiver.push_all(100, &[&idr_fragment(true, false, &[1])]);
    assert_eq!(
        receiver.push(102, &idr_fragment(false, false, &[3])),
        Err(DepacketizeError::SequenceGap {
            expected: 101,
            received: 102
        })
    );
    receiver.push_all(103, &[&idr_fragment(false, true, &[4]), P_SLICE]);
    assert_eq!(receiver.nal_units, [P_SLICE]);
}

#[test]
fn a_lost_end_fragment_drops_its_nal_unit_and_a_new_start_is_kept() {
    let mut receiver = Receiver::default();
    receiver.push_all(0, &[&idr_fragment(true, false, &[1])]);
    assert_eq!(
        receiver.push(2, &idr_fragment(true, false, &[7])),
        Err(DepacketizeError::SequenceGap {
            expected: 1,
            received: 2
        })
    );
    receiver.push_all(3, &[&idr_fragment(false, true, &[8])]);
    assert_eq!(receiver.nal_units, [[0x65, 7, 8]]);
}

#[test]
fn a_lost_single_nal_unit_is_a_gap_and_the_packet_after_it_is_read() {
    let mut receiver = Receiver::default();
    receiver.push_all(65_535, &[SEI]);
    assert_eq!(
        receiver.push(1, P_SLICE),
        Err(DepacketizeError::SequenceGap {
            expected: 0,
            received: 1
        })
    );
    assert_eq!(receiver.nal_units, [SEI, P_SLICE]);
}

#[test]
fn sequence_numbers_wrap() {
    let mut receiver = Receiver::default();
    receiver.push_all(
        65_534,
        &[
            &idr_fragment(true, false, &[1]),
            &idr_fragment(false, false, &[2]),
            &idr_fragment(false, true, &[3]),
        ],
    );
    assert_eq!(receiver.nal_units, [[0x65, 1, 2, 3]]);
}

#[test]
fn a_middle_fragment_without_its_start_is_reported_once() {
    let mut receiver = Receiver::default();
    assert_eq!(
        receiver.push(0, &idr_fragment(false, false, &[2])),
        Err(DepacketizeError::FragmentWithoutStart)
    );
    receiver.push_all(
        1,
        &[
            &idr_fragment(false, false, &[3]),
            &idr_fragment(false, true, &[4]),
        ],
    );
    assert_eq!(
        receiver.push(3, &idr_fragment(false, true, &[5])),
        Err(DepacketizeError::FragmentWithoutStart),
        "after the end, a fragment needs a start again"
    );
    receiver.push_all(4, &[P_SLICE]);
    assert_eq!(receiver.nal_units, [P_SLICE]);
}

#[test]
fn a_start_while_one_is_open_drops_the_open_one() {
    let mut receiver = Receiver::default();
    receiver.push_all(0, &[&idr_fragment(true, false, &[1])]);
    assert_eq!(
        receiver.push(1, &idr_fragment(true, false, &[7])),
        Err(DepacketizeError::FragmentUnfinished)
    );
    receiver.push_all(2, &[&idr_fragment(false, true, &[8])]);
    assert_eq!(receiver.nal_units, [[0x65, 7, 8]]);
}

#[test]
fn a_whole_nal_unit_while_one_is_open_drops_the_open_one() {
    let mut receiver = Receiver::default();
    receiver.push_all(0, &[&idr_fragment(true, false, &[1])]);
    assert_eq!(
        receiver.push(1, P_SLICE),
        Err(DepacketizeError::FragmentUnfinished)
    );
    receiver.push_all(2, &[&idr_fragment(true, false, &[1])]);
    assert_eq!(
        receiver.push(3, &[0x78, 0x00, 0x03, 0x06, 0x05, 0x01]),
        Err(DepacketizeError::FragmentUnfinished)
    );
    assert_eq!(receiver.nal_units, [P_SLICE, SEI]);
}

#[test]
fn a_fragment_of_another_type_drops_both() {
    let mut receiver = Receiver::default();
    receiver.push_all(0, &[&idr_fragment(true, false, &[1])]);
    assert_eq!(
        receiver.push(1, &[0x7c, 0x01, 2]),
        Err(DepacketizeError::FragmentTypeChanged {
            open: 5,
            received: 1
        })
    );
    receiver.push_all(2, &[&idr_fragment(false, true, &[3]), P_SLICE]);
    assert_eq!(receiver.nal_units, [P_SLICE]);
}

#[test]
fn a_stap_a_with_a_truncated_size_is_dropped_whole() {
    let mut receiver = Receiver::default();
    assert_eq!(
        receiver.push(0, &[0x78, 0x00, 0x01, 0x41, 0x00, 0x05, 0x06, 0x05]),
        Err(DepacketizeError::AggregateTruncated { offset: 4 })
    );
    assert_eq!(
        receiver.push(1, &[0x78, 0x00, 0x01, 0x41, 0x00]),
        Err(DepacketizeError::AggregateTruncated { offset: 4 })
    );
    assert!(receiver.nal_units.is_empty());
}

#[test]
fn malformed_stap_as_are_errors() {
    let mut receiver = Receiver::default();
    assert_eq!(
        receiver.push(0, &[0x78]),
        Err(DepacketizeError::AggregateEmpty)
    );
    assert_eq!(
        receiver.push(1, &[0x78, 0x00, 0x00, 0x00, 0x01, 0x41]),
        Err(DepacketizeError::AggregateEmptyNalUnit { offset: 1 })
    );
    assert_eq!(
        receiver.push(2, &[0x78, 0x00, 0x01, 0x41, 0x00, 0x02, 0x7c, 0x85]),
        Err(DepacketizeError::NalTypeNotAllowed(28)),
        "a fragment inside an aggregate"
    );
    assert!(receiver.nal_units.is_empty());
}

#[test]
fn malformed_fragments_are_errors() {
    let mut receiver = Receiver::default();
    assert_eq!(
        receiver.push(0, &[0x7c]),
        Err(DepacketizeError::FragmentTruncated)
    );
    for (sequence, inner) in (1u16..).zip([0x80, 0x98, 0x9c, 0x9f]) {
        assert_eq!(
            receiver.push(sequence, &[0x7c, inner, 1]),
            Err(DepacketizeError::NalTypeNotAllowed(inner & 0x1f))
        );
    }
    assert_eq!(receiver.push(5, &[]), Err(DepacketizeError::EmptyPayload));
    assert!(receiver.nal_units.is_empty());
}

#[test]
fn unsupported_packet_types_are_errors() {
    let mut receiver = Receiver::default();
    for (sequence, header) in (0u16..).zip([0x00, 0x19, 0x1a, 0x1b, 0x1d, 0x1e, 0x1f]) {
        assert_eq!(
            receiver.push(sequence, &[header, 0x85, 9]),
            Err(DepacketizeError::UnsupportedPacketType(header))
        );
    }
    receiver.push_all(7, &[P_SLICE]);
    assert_eq!(receiver.nal_units, [P_SLICE]);
}

#[test]
fn a_payload_that_cannot_be_read_drops_an_open_nal_unit() {
    let unreadable: [&[u8]; 5] = [&[], &[0x7c], &[0x7c, 0x00, 1], &[0x78], &[0x19, 0x00]];
    for payload in unreadable {
        let mut receiver = Receiver::default();
        receiver.push_all(0, &[&idr_fragment(true, false, &[1])]);
        assert!(receiver.push(1, payload).is_err(), "{payload:02x?}");
        receiver.push_all(2, &[&idr_fragment(false, true, &[2]), P_SLICE]);
        assert_eq!(receiver.nal_units, [P_SLICE], "{payload:02x?}");
    }
}

#[test]
fn a_duplicate_is_stale_and_changes_nothing() {
    let mut receiver = Receiver::default();
    receiver.push_all(10, &[P_SLICE]);
    assert_eq!(
        receiver.push(10, P_SLICE),
        Err(DepacketizeError::Stale {
            expected: 11,
            received: 10
        })
    );
    receiver.push_all(11, &[SEI]);
    assert_eq!(receiver.nal_units, [P_SLICE, SEI]);
}

#[test]
fn a_late_packet_is_a_gap_where_it_was_missed_and_stale_when_it_comes() {
    let mut receiver = Receiver::default();
    receiver.push_all(0, &[SEI]);
    assert_eq!(
        receiver.push(2, SEI),
        Err(DepacketizeError::SequenceGap {
            expected: 1,
            received: 2
        })
    );
    assert_eq!(
        receiver.push(1, P_SLICE),
        Err(DepacketizeError::Stale {
            expected: 3,
            received: 1
        })
    );
    receiver.push_all(3, &[SEI]);
    assert_eq!(receiver.nal_units, [SEI, SEI, SEI]);
}

#[test]
fn the_stale_window_ends_where_a_restart_begins() {
    for (behind, stale) in [
        (STALE_WINDOW - 1, true),
        (STALE_WINDOW, true),
        (STALE_WINDOW + 1, false),
    ] {
        let mut receiver = Receiver::default();
        receiver.push_all(1000, &[SEI]);
        let sequence = 1001 - behind;
        let result = receiver.push(sequence, P_SLICE);
        if stale {
            assert_eq!(
                result,
                Err(DepacketizeError::Stale {
                    expected: 1001,
                    received: sequence
                })
            );
            assert_eq!(receiver.nal_units, [SEI], "{behind} behind");
        } else {
            assert_eq!(
                result,
                Err(DepacketizeError::SequenceGap {
                    expected: 1001,
                    received: sequence
                })
            );
            receiver.push_all(sequence + 1, &[SEI]);
            assert_eq!(receiver.nal_units, [SEI, P_SLICE, SEI], "{behind} behind");
        }
    }
}

/// Pushes a NAL unit of `size` bytes as FU-A fragments of up to 60,000
/// bytes from sequence 0, then a P slice, and returns the last error.
fn push_large(receiver: &mut Receiver, size: usize) -> Result<(), DepacketizeError> {
    let body = vec![0xab; size - 1];
    let pieces: Vec<&[u8]> = body.chunks(60_000).collect();
    let mut result = Ok(());
    let mut sequence = 0u16;
    for (index, piece) in pieces.iter().enumerate() {
        let fragment = idr_fragment(index == 0, index + 1 == pieces.len(), piece);
        if let Err(error) = receiver.push(sequence, &fragment) {
            result = Err(error);
        }
        sequence += 1;
    }
    receiver.push(sequence, P_SLICE).and(result)
}

#[test]
fn a_nal_unit_up_to_the_limit_is_reassembled() {
    for size in [MAX_NAL_UNIT_SIZE - 1, MAX_NAL_UNIT_SIZE] {
        let mut receiver = Receiver::default();
        assert_eq!(push_large(&mut receiver, size), Ok(()));
        let lengths: Vec<usize> = receiver.nal_units.iter().map(Vec::len).collect();
        assert_eq!(lengths, [size, P_SLICE.len()]);
    }
}

#[test]
fn a_nal_unit_past_the_limit_is_dropped_and_the_next_comes_out() {
    let mut receiver = Receiver::default();
    assert_eq!(
        push_large(&mut receiver, MAX_NAL_UNIT_SIZE + 1),
        Err(DepacketizeError::NalUnitTooLarge)
    );
    assert_eq!(receiver.nal_units, [P_SLICE]);
    assert!(receiver.depacketizer.nal.capacity() <= MAX_NAL_UNIT_SIZE);
}
