//! Entry points for the fuzz targets in `../fuzz`, behind the `fuzzing`
//! feature: each runs a helper on arbitrary bytes and checks its contract.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a broken invariant must crash the fuzzer"
)]

use crate::h264::avcc::nal_units;
use crate::h264::depacketizer::Depacketizer;
use crate::h264::packetizer::{Packetizer, ParameterSets};
use crate::h264::{MAX_DIMENSION, Sps, is_keyframe, sps_in_payload};

/// One RTP payload through every H.264 helper: none panics, an SPS found in
/// the payload is part of it, and an accepted SPS has a picture within the
/// limits.
pub fn h264_payload(data: &[u8]) {
    is_keyframe(data);
    if let Some(sps) = sps_in_payload(data) {
        assert!(sps.len() <= data.len());
        if let Ok(sps) = Sps::parse(sps) {
            assert!(sps.width > 0 && sps.width <= MAX_DIMENSION);
            assert!(sps.height > 0 && sps.height <= 2 * MAX_DIMENSION);
        }
    }
    let _ = Sps::parse(data);
}

/// The shipped clip's SPS (320x240 Baseline), offered as the stream's.
const STREAM_SPS: &[u8] = &[
    0x67, 0x42, 0xc0, 0x1e, 0xda, 0x05, 0x07, 0xec, 0x04, 0x40, 0x00, 0x00, 0x03, 0x00, 0x40, 0x00,
    0x00, 0x0f, 0x23, 0xc5, 0x8b, 0xa8,
];
/// The shipped clip's PPS, offered as the stream's.
const STREAM_PPS: &[u8] = &[0x68, 0xce, 0x3c, 0x80];

/// One AVCC access unit through the RTP packetizer and depacketizer. The
/// first byte picks the length size (1, 2, 4, or the unsupported 3), the
/// second the largest payload (six bytes a step, clamped by the
/// packetizer); the rest is the access unit. Checks that `nal_units` yields
/// non-empty units that tile the access unit and stops at its first error;
/// that every payload fits, only the last has the marker, and every NAL
/// unit it accepted and RTP can carry comes back exactly, in order; and
/// that the stream's parameter sets go into an IDR unit that lacks them,
/// at the documented place, and nowhere else.
pub fn h264_access_unit(data: &[u8]) {
    let [size_selector, payload_selector, access_unit @ ..] = data else {
        return;
    };
    let length_size = [1, 2, 4, 3][usize::from(size_selector & 3)];
    let max_payload = usize::from(*payload_selector) * 6;
    let accepted = accepted_nal_units(access_unit, length_size);
    let sent: Vec<&[u8]> = accepted
        .iter()
        .copied()
        .filter(|nal| (1..=23).contains(&(nal[0] & 0x1f)))
        .collect();

    let plain = round_trip(&accepted, max_payload, &ParameterSets::default());
    assert_eq!(plain, sent);

    let stream_sets = ParameterSets {
        sps: vec![STREAM_SPS.to_vec()],
        pps: vec![STREAM_PPS.to_vec()],
    };
    let with_sets = round_trip(&accepted, max_payload, &stream_sets);
    check_parameter_sets_inserted(&sent, &with_sets);
}

/// The NAL units `nal_units` accepts, checked to be non-empty, each right
/// after its length prefix, with nothing after an error and, without one,
/// the whole access unit used.
fn accepted_nal_units(access_unit: &[u8], length_size: u8) -> Vec<&[u8]> {
    let mut accepted = Vec::new();
    let mut consumed = 0;
    let mut failed = false;
    for nal in nal_units(access_unit, length_size) {
        assert!(!failed, "a NAL unit after an error");
        match nal {
            Ok(nal) => {
                assert!(!nal.is_empty());
                let start = consumed + usize::from(length_size);
                consumed = start + nal.len();
                assert!(consumed <= access_unit.len());
                assert!(std::ptr::eq(nal, &access_unit[start..consumed]));
                accepted.push(nal);
            }
            Err(_) => failed = true,
        }
    }
    if !matches!(length_size, 1 | 2 | 4) {
        assert!(failed && accepted.is_empty());
    }
    if !failed {
        assert_eq!(consumed, access_unit.len());
    }
    accepted
}

/// Packetizes one access unit, checking every payload, and returns what a
/// depacketizer makes of the payloads. Sequence numbers cross the wrap.
fn round_trip(
    nal_units: &[&[u8]],
    max_payload: usize,
    parameter_sets: &ParameterSets,
) -> Vec<Vec<u8>> {
    let mut packetizer = Packetizer::new(max_payload);
    let limit = packetizer.max_payload();
    let mut depacketizer = Depacketizer::default();
    let mut sequence = u16::MAX - 2;
    let mut markers = Vec::new();
    let mut rebuilt = Vec::new();
    packetizer.packetize(
        nal_units.iter().copied(),
        parameter_sets,
        |payload, marker| {
            assert!(!payload.is_empty() && payload.len() <= limit);
            markers.push(marker);
            depacketizer
                .push(sequence, payload, |nal| rebuilt.push(nal.to_vec()))
                .unwrap();
            sequence = sequence.wrapping_add(1);
        },
    );
    if let Some((last, earlier)) = markers.split_last() {
        assert!(*last, "the last payload has the marker");
        assert!(
            !earlier.contains(&true),
            "only the last payload has the marker"
        );
    }
    rebuilt
}

/// `with_sets` is `sent` with the stream's missing parameter sets put in
/// one place: first, after opening delimiters, and a PPS after the unit's
/// own SPS; only in a unit with an IDR slice.
fn check_parameter_sets_inserted(sent: &[&[u8]], with_sets: &[Vec<u8>]) {
    let kind = |nal: &[u8]| nal[0] & 0x1f;
    let has = |wanted: u8| sent.iter().any(|nal| kind(nal) == wanted);
    let idr = has(5);
    let mut missing: Vec<&[u8]> = Vec::new();
    if idr && !has(7) {
        missing.push(STREAM_SPS);
    }
    if idr && !has(8) {
        missing.push(STREAM_PPS);
    }
    assert_eq!(with_sets.len(), sent.len() + missing.len());
    let at = sent
        .iter()
        .zip(with_sets)
        .position(|(sent, out)| *sent != &out[..])
        .unwrap_or(sent.len());
    assert_eq!(&with_sets[..at], &sent[..at]);
    assert_eq!(&with_sets[at..at + missing.len()], &missing[..]);
    assert_eq!(&with_sets[at + missing.len()..], &sent[at..]);
    if missing.is_empty() {
        return;
    }
    let delimiters = sent.iter().take_while(|nal| kind(nal) == 9).count();
    let before_slices = sent
        .iter()
        .take_while(|nal| !(1..=5).contains(&kind(nal)))
        .count();
    let after_own_sps = sent[..before_slices]
        .iter()
        .rposition(|nal| kind(nal) == 7)
        .map_or(0, |index| index + 1);
    let expected = if missing[0] == STREAM_SPS {
        delimiters
    } else {
        delimiters.max(after_own_sps)
    };
    assert_eq!(at, expected, "where the parameter sets go");
}
