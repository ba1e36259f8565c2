//! A hostile viewer of another kind: one whose socket closes (a black hole)
//! and one that freezes are dropped within the ICE consent timeout while
//! the witness loses nothing.

use std::time::{Duration, Instant};

use crate::common;
use crate::common::clients::{self, RecordingViewer};
use crate::common::witness::Witness;

#[test]
fn dead_and_silent_viewers_are_dropped_within_the_consent_timeout() {
    let node = common::start_node_with(1, |config| {
        config.engine.ftl_media_timeout = Duration::from_secs(60);
    });
    let witness = Witness::start(&node);
    // Two more viewers connect, then one's socket closes (a black hole) and
    // the other stops reading and sending (a frozen player).
    let mut doomed: Vec<RecordingViewer> = (0..2)
        .map(|_| {
            let (mut viewer, offer) = clients::viewer();
            let response = common::http::whep_offer(node.http_addr(), "1", &offer);
            assert_eq!(response.status, 201, "{}", response.body);
            viewer.accept_answer(&response.body).unwrap();
            viewer.run(Duration::from_secs(10), |v| !v.video().is_empty());
            assert!(!viewer.video().is_empty(), "the viewer never got media");
            viewer
        })
        .collect();
    let stream = node.engine().stream("1").unwrap();
    assert_eq!(stream.viewers(), 4);
    let frozen = doomed.pop();
    drop(doomed);
    let gone_at = Instant::now();
    while stream.viewers() > 2 {
        assert!(
            gone_at.elapsed() < Duration::from_secs(25),
            "dead viewers still open after 25 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    println!(
        "dead and frozen viewers dropped after {:.1} s (ICE consent: 15 s without a binding request)",
        gone_at.elapsed().as_secs_f64()
    );
    assert!(
        gone_at.elapsed() >= Duration::from_secs(10),
        "dropped too early"
    );
    drop(frozen);
    witness.finish();
}
