//! Replays the committed H.264 fuzz seeds (`fuzz/seeds/h264_payload/`)
//! through the fuzz entry point, so the test command checks the target's
//! invariants on real payloads from the shipped clip without a fuzzer.
#![cfg(feature = "fuzzing")]
#![allow(
    clippy::unwrap_used,
    reason = "a failed unwrap in a test is a failed test"
)]

use std::path::Path;

#[test]
fn h264_payload_seeds_hold_the_invariants() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/seeds/h264_payload");
    let mut seeds = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        codec::fuzzing::h264_payload(&bytes);
        seeds += 1;
    }
    assert!(seeds > 0, "no seeds in {}", dir.display());
}

#[test]
fn the_clip_seeds_are_what_their_names_say() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/seeds/h264_payload");
    let read = |name: &str| std::fs::read(dir.join(name)).unwrap();
    let sps = read("sps-320x240-baseline.bin");
    let parsed = codec::h264::Sps::parse(&sps).unwrap();
    assert_eq!((parsed.width, parsed.height), (320, 240));
    let stap = read("stap-a-sps-pps.bin");
    assert_eq!(codec::h264::sps_in_payload(&stap), Some(&sps[..]));
    assert!(codec::h264::is_keyframe(&read("fu-a-idr-start.bin")));
}
