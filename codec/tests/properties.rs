//! Properties over arbitrary input: the H.264 helpers are total, an SPS they
//! accept describes a picture within the limits, the AVCC splitter never
//! reads outside its access unit, and any NAL units survive packetizing and
//! depacketizing exactly. Seeds are fixed, so every run checks the same
//! cases.

use codec::h264::avcc::nal_units;
use codec::h264::depacketizer::Depacketizer;
use codec::h264::packetizer::{Packetizer, ParameterSets};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::test_runner::RngSeed;

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: None,
        rng_seed: RngSeed::Fixed(0x5eed_2640),
        ..ProptestConfig::default()
    }
}

/// A NAL unit: any header, and a body that is mostly small but sometimes
/// up to 20 KB, so that many need several fragments.
fn nal_unit() -> impl Strategy<Value = Vec<u8>> {
    (
        any::<u8>(),
        prop_oneof![3 => vec(any::<u8>(), 0..64), 1 => vec(any::<u8>(), 0..20_000)],
    )
        .prop_map(|(header, body)| [vec![header], body].concat())
}

/// Whether RTP carries a NAL unit of this header's type (1 to 23).
fn carried(nal: &[u8]) -> bool {
    (1..=23).contains(&(nal[0] & 0x1f))
}

proptest! {
    #![proptest_config(config(512))]

    #[test]
    fn h264_helpers_never_panic(payload in vec(any::<u8>(), 0..200)) {
        codec::h264::is_keyframe(&payload);
        if let Some(sps) = codec::h264::sps_in_payload(&payload)
            && let Ok(sps) = codec::h264::Sps::parse(sps)
        {
            prop_assert!(sps.width > 0 && sps.width <= codec::h264::MAX_DIMENSION);
        }
        let _ = codec::h264::Sps::parse(&payload);
    }

    #[test]
    fn nal_units_stay_inside_the_access_unit(
        data in vec(any::<u8>(), 0..300),
        length_size in 0u8..6,
    ) {
        let range = data.as_ptr_range();
        let mut used = 0;
        let mut items = nal_units(&data, length_size);
        for nal in items.by_ref() {
            let Ok(nal) = nal else { break };
            prop_assert!(!nal.is_empty());
            let inside = nal.as_ptr_range();
            prop_assert!(range.start <= inside.start && inside.end <= range.end);
            used += usize::from(length_size) + nal.len();
            prop_assert_eq!(inside.end, data[..used].as_ptr_range().end);
        }
        prop_assert_eq!(items.next(), None, "nothing after an error or the end");
        prop_assert!(used <= data.len());
    }
}

proptest! {
    #![proptest_config(config(128))]

    #[test]
    fn any_nal_units_survive_packetizing_and_depacketizing(
        units in vec(vec(nal_unit(), 0..6), 1..4),
        max_payload in 0usize..3000,
        first_sequence in any::<u16>(),
    ) {
        let mut packetizer = Packetizer::new(max_payload);
        let limit = packetizer.max_payload();
        let mut depacketizer = Depacketizer::default();
        let mut sequence = first_sequence;
        let mut rebuilt = Vec::new();
        let mut errors = Vec::new();
        for unit in &units {
            let mut markers = Vec::new();
            packetizer.packetize(unit.iter().map(Vec::as_slice), &ParameterSets::default(), |payload, marker| {
                markers.push((payload.len(), marker));
                if let Err(error) = depacketizer.push(sequence, payload, |nal| rebuilt.push(nal.to_vec())) {
                    errors.push(error);
                }
                sequence = sequence.wrapping_add(1);
            });
            prop_assert!(markers.iter().all(|&(size, _)| size > 0 && size <= limit));
            let marked: Vec<bool> = markers.iter().map(|&(_, marker)| marker).collect();
            let mut expected_marks = vec![false; marked.len()];
            if let Some(last) = expected_marks.last_mut() {
                *last = true;
            }
            prop_assert_eq!(marked, expected_marks);
        }
        prop_assert_eq!(errors, []);
        let sent: Vec<&Vec<u8>> = units.iter().flatten().filter(|nal| carried(nal)).collect();
        prop_assert_eq!(rebuilt.iter().collect::<Vec<_>>(), sent);
    }
}

/// An AVCC access unit of NAL units whose types lean towards those that
/// matter for parameter sets (AUD, SPS, PPS, SEI, IDR and other slices),
/// with the fuzz entry's two selector bytes in front.
#[cfg(feature = "fuzzing")]
fn fuzz_input() -> impl Strategy<Value = Vec<u8>> {
    let header = prop_oneof![
        Just(0x09u8),
        Just(0x67),
        Just(0x68),
        Just(0x06),
        Just(0x65),
        Just(0x41),
        any::<u8>()
    ];
    let nal = (header, vec(any::<u8>(), 0..400)).prop_map(|(h, body)| [vec![h], body].concat());
    (0u8..3, any::<u8>(), vec(nal, 0..8), any::<bool>()).prop_map(
        |(size_selector, payload_selector, nal_units, cut)| {
            let length_size = [1usize, 2, 4][usize::from(size_selector)];
            let mut data = vec![size_selector, payload_selector];
            for nal in nal_units {
                let length = nal.len().min(256usize.pow(length_size as u32) - 1);
                data.extend_from_slice(&length.to_be_bytes()[8 - length_size..]);
                data.extend_from_slice(&nal[..length]);
            }
            if cut {
                data.pop();
            }
            data
        },
    )
}

#[cfg(feature = "fuzzing")]
proptest! {
    #![proptest_config(config(512))]

    #[test]
    fn fuzz_entries_hold_their_invariants(payload in vec(any::<u8>(), 0..200)) {
        codec::fuzzing::h264_payload(&payload);
        codec::fuzzing::h264_access_unit(&payload);
    }

    #[test]
    fn access_units_hold_the_round_trip_invariants(data in fuzz_input()) {
        codec::fuzzing::h264_access_unit(&data);
    }
}
