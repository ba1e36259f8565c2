//! The shipped clip (Annex B, SPS/PPS before every IDR, two slices per
//! frame) through the RTMP path's steps: AVCC-encoded access units split by
//! `avcc::nal_units`, packetized at 1200 bytes, depacketized back, with
//! the packets checked on the way.
#![allow(
    clippy::unwrap_used,
    reason = "a failed unwrap in a test is a failed test"
)]

use codec::h264::avcc::nal_units;
use codec::h264::depacketizer::Depacketizer;
use codec::h264::packetizer::{Packetizer, ParameterSets};
use codec::h264::{NAL_IDR, NAL_PPS, NAL_SPS};

const CLIP: &[u8] = include_bytes!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../tests/data/testsrc-320x240-30fps-baseline-gop30.h264"
));
const MAX_PAYLOAD: usize = 1200;

fn kind(nal: &[u8]) -> u8 {
    nal[0] & 0x1f
}

/// The NAL units of an Annex B stream: split at `00 00 01` start codes (a
/// four-byte one is the same with a leading zero), trailing zeros dropped.
fn annex_b_nal_units(stream: &[u8]) -> Vec<&[u8]> {
    let starts: Vec<usize> = stream
        .windows(3)
        .enumerate()
        .filter(|(_, window)| *window == [0, 0, 1])
        .map(|(at, _)| at + 3)
        .collect();
    let ends = starts
        .iter()
        .skip(1)
        .map(|next| next - 3)
        .chain([stream.len()]);
    starts
        .iter()
        .zip(ends)
        .map(|(&start, end)| {
            let mut nal = &stream[start..end];
            while let [rest @ .., 0] = nal {
                nal = rest;
            }
            nal
        })
        .collect()
}

/// The clip's access units: a unit opens at a slice whose first_mb_in_slice
/// is 0 (its first header bit is set), with the non-VCL NAL units before it.
fn access_units() -> Vec<Vec<&'static [u8]>> {
    let mut units: Vec<Vec<&[u8]>> = Vec::new();
    let mut opening = Vec::new();
    for nal in annex_b_nal_units(CLIP) {
        let slice = matches!(kind(nal), 1 | NAL_IDR);
        if slice && nal[1] & 0x80 != 0 {
            opening.push(nal);
            units.push(std::mem::take(&mut opening));
        } else if slice {
            units.last_mut().unwrap().push(nal);
        } else {
            opening.push(nal);
        }
    }
    assert!(opening.is_empty(), "NAL units after the last slice");
    units
}

fn avcc(unit: &[&[u8]]) -> Vec<u8> {
    unit.iter()
        .flat_map(|nal| {
            (nal.len() as u32)
                .to_be_bytes()
                .into_iter()
                .chain(nal.iter().copied())
        })
        .collect()
}

/// One RTP packet as the ingest would store it.
struct Packet {
    unit: usize,
    payload: Vec<u8>,
    marker: bool,
}

/// Every unit AVCC-encoded, split, and packetized with `parameter_sets`.
fn packetize(units: &[Vec<&[u8]>], parameter_sets: &ParameterSets) -> Vec<Packet> {
    let mut packetizer = Packetizer::new(MAX_PAYLOAD);
    let mut packets = Vec::new();
    for (index, unit) in units.iter().enumerate() {
        let data = avcc(unit);
        let split: Vec<&[u8]> = nal_units(&data, 4).map(Result::unwrap).collect();
        assert_eq!(&split, unit, "unit {index} splits into its NAL units");
        packetizer.packetize(split.iter().copied(), parameter_sets, |payload, marker| {
            packets.push(Packet {
                unit: index,
                payload: payload.to_vec(),
                marker,
            });
        });
    }
    packets
}

/// The NAL units a depacketizer rebuilds, numbering the packets from just
/// below the wrap; every packet must be accepted.
fn depacketize(packets: &[Packet]) -> Vec<Vec<u8>> {
    let mut depacketizer = Depacketizer::default();
    let mut nal_units = Vec::new();
    let mut sequence = 65_500u16;
    for packet in packets {
        depacketizer
            .push(sequence, &packet.payload, |nal| {
                nal_units.push(nal.to_vec())
            })
            .unwrap();
        sequence = sequence.wrapping_add(1);
    }
    nal_units
}

#[test]
fn the_clip_is_what_the_tests_assume() {
    let units = access_units();
    assert_eq!(units.len(), 90);
    let nal_count: usize = units.iter().map(Vec::len).sum();
    assert_eq!(nal_count, 187);
    let idr_units = units
        .iter()
        .filter(|unit| unit.iter().any(|nal| kind(nal) == NAL_IDR));
    assert_eq!(idr_units.count(), 3);
    assert!(
        units.iter().flatten().any(|nal| nal.len() > MAX_PAYLOAD),
        "some NAL units need FU-A"
    );
}

#[test]
fn the_clip_comes_back_exactly_through_avcc_and_rtp() {
    let units = access_units();
    let packets = packetize(&units, &ParameterSets::default());
    assert_eq!(packets.len(), 200, "187 NAL units, 13 more fragments");
    let expected: Vec<&[u8]> = units.iter().flatten().copied().collect();
    assert_eq!(depacketize(&packets), expected);

    assert!(
        packets
            .iter()
            .all(|packet| packet.payload.len() <= MAX_PAYLOAD)
    );
    assert!(packets.iter().any(|packet| kind(&packet.payload) == 28));
    for (index, unit_packets) in packets.chunk_by(|a, b| a.unit == b.unit).enumerate() {
        assert_eq!(unit_packets[0].unit, index, "every unit has packets");
        let markers: Vec<bool> = unit_packets.iter().map(|packet| packet.marker).collect();
        let mut expected_markers = vec![false; markers.len()];
        expected_markers[markers.len() - 1] = true;
        assert_eq!(markers, expected_markers, "unit {index}");
        if units[index].iter().any(|nal| kind(nal) == NAL_IDR) {
            assert_eq!(unit_packets[0].payload, units[index][0], "unit {index}");
            assert_eq!(kind(&unit_packets[0].payload), NAL_SPS);
        }
    }
}

#[test]
fn stripped_parameter_sets_come_back_from_the_sequence_header() {
    let units = access_units();
    let is_parameter_set = |nal: &&[u8]| matches!(kind(nal), NAL_SPS | NAL_PPS);
    let parameter_sets: Vec<&[u8]> = units
        .iter()
        .flatten()
        .copied()
        .filter(is_parameter_set)
        .collect();
    assert_eq!(parameter_sets.len(), 6);
    assert!(
        parameter_sets
            .chunks(2)
            .all(|pair| pair == &parameter_sets[..2]),
        "the clip repeats one SPS and one PPS"
    );
    let sequence_header = ParameterSets {
        sps: vec![parameter_sets[0].to_vec()],
        pps: vec![parameter_sets[1].to_vec()],
    };
    let stripped: Vec<Vec<&[u8]>> = units
        .iter()
        .map(|unit| {
            unit.iter()
                .copied()
                .filter(|nal| !is_parameter_set(nal))
                .collect()
        })
        .collect();

    let packets = packetize(&stripped, &sequence_header);
    let expected: Vec<&[u8]> = units.iter().flatten().copied().collect();
    assert_eq!(
        depacketize(&packets),
        expected,
        "SPS and PPS first in each IDR unit, as the clip has them, and nowhere else"
    );
    for unit_packets in packets.chunk_by(|a, b| a.unit == b.unit) {
        let idr = unit_packets.iter().any(|packet| {
            kind(&packet.payload) == NAL_IDR
                || (kind(&packet.payload) == 28 && packet.payload[1] & 0x1f == NAL_IDR)
        });
        let kinds: Vec<u8> = unit_packets
            .iter()
            .take(2)
            .map(|p| kind(&p.payload))
            .collect();
        assert_eq!(
            idr,
            kinds == [NAL_SPS, NAL_PPS],
            "unit {}",
            unit_packets[0].unit
        );
    }
}

#[test]
fn a_keyframe_unit_decodes_from_its_own_packets() {
    let units = access_units();
    let stripped: Vec<Vec<&[u8]>> = units
        .iter()
        .map(|unit| {
            unit.iter()
                .copied()
                .filter(|nal| !matches!(kind(nal), NAL_SPS | NAL_PPS))
                .collect()
        })
        .collect();
    let sequence_header = ParameterSets {
        sps: vec![units[0][0].to_vec()],
        pps: vec![units[0][1].to_vec()],
    };
    let packets = packetize(&stripped, &sequence_header);
    // A viewer joining at the second keyframe: a fresh depacketizer from there.
    let joined: Vec<&Packet> = packets.iter().filter(|packet| packet.unit >= 30).collect();
    let mut depacketizer = Depacketizer::default();
    let mut rebuilt = Vec::new();
    for (sequence, packet) in (0u16..).zip(&joined) {
        depacketizer
            .push(sequence, &packet.payload, |nal| rebuilt.push(nal.to_vec()))
            .unwrap();
    }
    let kinds: Vec<u8> = rebuilt.iter().take(4).map(|nal| kind(nal)).collect();
    assert_eq!(kinds, [NAL_SPS, NAL_PPS, NAL_IDR, NAL_IDR]);
    assert_eq!(rebuilt[0], units[30][0]);
}
