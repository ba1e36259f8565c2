//! Replays the committed RTMP fuzz seeds (`fuzz/seeds/rtmp_session/`, among
//! them FFmpeg's captured publishes) through the fuzz entry point, so the
//! test command checks the target's invariants on real client bytes
//! without a fuzzer.
#![cfg(feature = "fuzzing")]
#![allow(
    clippy::unwrap_used,
    reason = "a failed unwrap in a test is a failed test"
)]

use std::path::Path;

#[test]
fn rtmp_session_seeds_hold_the_invariants() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/seeds/rtmp_session");
    let mut seeds = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        rtmp::fuzzing::session(&bytes);
        seeds += 1;
    }
    assert!(seeds > 0, "no seeds in {}", dir.display());
}
