//! Replays the committed H.264 fuzz seeds (`fuzz/seeds/h264_payload/`,
//! `fuzz/seeds/h264_access_unit/`) through the fuzz entry points, so the
//! test command checks the targets' invariants on real bytes from the
//! shipped clip without a fuzzer.
#![cfg(feature = "fuzzing")]
#![allow(
    clippy::unwrap_used,
    reason = "a failed unwrap in a test is a failed test"
)]

use std::path::{Path, PathBuf};

use codec::h264::avcc::{AvccError, nal_units};

fn seed_dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/seeds")
        .join(target)
}

/// Runs every seed of a target through its entry point; returns how many.
fn replay(target: &str, entry: fn(&[u8])) -> usize {
    let dir = seed_dir(target);
    let mut seeds = 0;
    for entry_path in std::fs::read_dir(&dir).unwrap() {
        let bytes = std::fs::read(entry_path.unwrap().path()).unwrap();
        entry(&bytes);
        seeds += 1;
    }
    assert!(seeds > 0, "no seeds in {}", dir.display());
    seeds
}

#[test]
fn h264_payload_seeds_hold_the_invariants() {
    replay("h264_payload", codec::fuzzing::h264_payload);
}

#[test]
fn the_clip_seeds_are_what_their_names_say() {
    let dir = seed_dir("h264_payload");
    let read = |name: &str| std::fs::read(dir.join(name)).unwrap();
    let sps = read("sps-320x240-baseline.bin");
    let parsed = codec::h264::Sps::parse(&sps).unwrap();
    assert_eq!((parsed.width, parsed.height), (320, 240));
    let stap = read("stap-a-sps-pps.bin");
    assert_eq!(codec::h264::sps_in_payload(&stap), Some(&sps[..]));
    assert!(codec::h264::is_keyframe(&read("fu-a-idr-start.bin")));
}

#[test]
fn h264_access_unit_seeds_hold_the_invariants() {
    assert_eq!(
        replay("h264_access_unit", codec::fuzzing::h264_access_unit),
        5
    );
}

/// A seed's length size, payload step and NAL units, as the fuzz entry
/// reads them.
fn access_unit_seed(name: &str) -> (u8, u8, Vec<Result<Vec<u8>, AvccError>>) {
    let bytes = std::fs::read(seed_dir("h264_access_unit").join(name)).unwrap();
    let length_size = [1, 2, 4, 3][usize::from(bytes[0] & 3)];
    let units = nal_units(&bytes[2..], length_size)
        .map(|nal| nal.map(<[u8]>::to_vec))
        .collect();
    (length_size, bytes[1], units)
}

fn types(units: &[Result<Vec<u8>, AvccError>]) -> Vec<u8> {
    units
        .iter()
        .map(|nal| nal.as_ref().unwrap()[0] & 0x1f)
        .collect()
}

#[test]
fn the_access_unit_seeds_are_what_their_names_say() {
    let (length_size, step, units) =
        access_unit_seed("idr-unit-sps-pps-sei-length4-payload1200.bin");
    assert_eq!((length_size, usize::from(step) * 6), (4, 1200));
    assert_eq!(types(&units), [7, 8, 6, 5, 5]);
    let sps = units[0].as_ref().unwrap();
    assert_eq!(codec::h264::Sps::parse(sps).unwrap().width, 320);

    let (length_size, step, units) = access_unit_seed("p-unit-length2-payload1200.bin");
    assert_eq!((length_size, usize::from(step) * 6), (2, 1200));
    assert_eq!(types(&units), [1, 1]);

    let (length_size, step, units) = access_unit_seed("p-unit-small-slices-length1-payload60.bin");
    assert_eq!((length_size, usize::from(step) * 6), (1, 60));
    assert_eq!(types(&units), [1, 1]);
    assert!(units.iter().any(|nal| nal.as_ref().unwrap().len() > 60));

    let (length_size, step, units) =
        access_unit_seed("idr-unit-without-parameter-sets-length4-payload300.bin");
    assert_eq!((length_size, usize::from(step) * 6), (4, 300));
    assert_eq!(types(&units), [5, 5]);

    let (length_size, _, units) = access_unit_seed("idr-unit-length4-length-past-end.bin");
    assert_eq!(length_size, 4);
    assert!(matches!(
        units.last(),
        Some(Err(AvccError::LengthPastEnd { .. }))
    ));
    assert!(units.len() > 1, "whole NAL units come before the cut");
}
