//! Viewer churn: a viewer joins and leaves every 100 ms for a minute while a
//! witness stream plays; afterwards the process's file descriptors and
//! memory are back at their baseline and the witness lost nothing.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a failed unwrap in a test is a failed test"
)]

mod common;

use std::time::{Duration, Instant};

use common::clients;
use common::http::{request, whep_offer};
use common::witness::Witness;
use waveguide_load::report::ProcSample;

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

/// One viewer's life: offer, connect, first video packet, DELETE.
fn churn_once(node: &waveguide::Node) {
    let (mut viewer, offer) = clients::viewer();
    let response = whep_offer(node.http_addr(), "1", &offer);
    assert_eq!(response.status, 201, "{}", response.body);
    viewer.accept_answer(&response.body).unwrap();
    viewer.run(Duration::from_secs(5), |v| !v.video().is_empty());
    assert!(!viewer.video().is_empty(), "a churned viewer got no media");
    let location = response.header("location").unwrap().to_string();
    assert_eq!(
        request(node.http_addr(), "DELETE", &location, &[], b"").status,
        200
    );
}

/// Churns one viewer per 100 ms for `length`; returns how many.
fn churn_for(node: &waveguide::Node, length: Duration) -> u32 {
    let started = Instant::now();
    let mut cycles = 0u32;
    while started.elapsed() < length {
        let due = started + Duration::from_millis(100) * cycles;
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        churn_once(node);
        cycles += 1;
    }
    cycles
}

#[test]
fn a_minute_of_viewer_churn_leaves_no_fds_or_memory_behind() {
    let node = common::start_node_with(1, |config| {
        config.engine.ftl_media_timeout = Duration::from_secs(120);
    });
    let witness = Witness::start(&node);
    let stream = node.engine().stream("1").unwrap();
    // Warm up the allocator and the runtime before the baseline.
    for _ in 0..20 {
        churn_once(&node);
    }
    std::thread::sleep(Duration::from_secs(1));
    let (fds_before, memory_before) = (open_fds(), ProcSample::read("self").unwrap());
    // Two halves: the first may still grow allocator pools; a leak grows both.
    let first = churn_for(&node, Duration::from_secs(30));
    let memory_half = ProcSample::read("self").unwrap();
    let second = churn_for(&node, Duration::from_secs(30));
    let settled = Instant::now();
    while stream.viewers() > 2 {
        assert!(
            settled.elapsed() < Duration::from_secs(5),
            "churned viewers still open"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_secs(1));
    let (fds_after, memory_after) = (open_fds(), ProcSample::read("self").unwrap());
    println!(
        "{} viewers joined and left in 60 s; fds {fds_before} -> {fds_after}; RSS {} -> {} (half way) -> {} KiB",
        first + second,
        memory_before.rss_kib,
        memory_half.rss_kib,
        memory_after.rss_kib
    );
    assert!(
        first + second >= 450,
        "only {} cycles in a minute",
        first + second
    );
    assert!(
        fds_after <= fds_before,
        "fds grew from {fds_before} to {fds_after}"
    );
    assert!(
        memory_after.rss_kib <= memory_before.rss_kib + 8 * 1024,
        "RSS grew by {} KiB",
        memory_after.rss_kib.saturating_sub(memory_before.rss_kib)
    );
    assert!(
        memory_after.rss_kib <= memory_half.rss_kib + 2048,
        "RSS kept growing in the second half: {} KiB",
        memory_after.rss_kib.saturating_sub(memory_half.rss_kib)
    );
    witness.finish();
}
