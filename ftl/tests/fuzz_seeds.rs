//! Replays the committed fuzz seeds (`fuzz/seeds/`) through the fuzz entry
//! points, so the README's test command checks the targets' invariants on
//! the spec's transcripts and sample datagrams without a fuzzer.
#![cfg(feature = "fuzzing")]
#![allow(
    clippy::disallowed_methods,
    reason = "a test takes one Instant and adds to it"
)]
#![allow(
    clippy::unwrap_used,
    reason = "a failed unwrap in a test is a failed test"
)]

use std::path::Path;
use std::time::Instant;

fn seeds(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/seeds")
        .join(target);
    let mut seeds: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| {
            let path = entry.unwrap().path();
            (path.display().to_string(), std::fs::read(&path).unwrap())
        })
        .collect();
    seeds.sort();
    assert!(!seeds.is_empty(), "no seeds in {}", dir.display());
    seeds
}

#[test]
fn ftl_control_seeds_hold_the_invariants() {
    for (name, bytes) in seeds("ftl_control") {
        eprintln!("{name}");
        ftl::fuzzing::server_session(Instant::now(), &bytes);
    }
}

#[test]
fn ftl_datagram_seeds_hold_the_invariants() {
    for (name, bytes) in seeds("ftl_datagram") {
        eprintln!("{name}");
        ftl::fuzzing::datagrams(Instant::now(), &bytes);
    }
}
