//! The flood part of the hostile matrix: garbage datagrams at a live
//! stream's FTL media port and at every WebRTC port, which must be counted
//! and must not end the stream.

use std::time::Duration;

use waveguide::Node;

use crate::answers::Answers;
use crate::ftl_media::SecondStream;

/// Floods from `stream`'s stranger socket and checks the stream lives on.
pub fn check(node: &Node, stream: &SecondStream, answers: &mut Answers) {
    let stranger = &stream.stranger;
    let media_addr = stream.publisher.media_addr();
    let garbage = vec![0x42u8; 1200];
    for _ in 0..20_000 {
        let _ = stranger.send_to(&garbage, media_addr);
    }
    for worker in node.engine().worker_addresses() {
        for _ in 0..20_000 {
            let _ = stranger.send_to(&garbage, worker);
        }
    }
    let unroutable: u64 = node
        .engine()
        .stats(Duration::from_secs(2))
        .iter()
        .map(|w| w.unroutable)
        .sum();
    answers.check(
        "UDP floods: 20 000 garbage datagrams at an FTL media port and at each WebRTC port",
        format!("ignored (unroutable counted: {})", unroutable > 0),
        "ignored (unroutable counted: true)",
    );
    answers.check(
        "FTL media: stream 2 after all of it",
        format!(
            "live: {}",
            node.engine().stream("2").is_some_and(|s| !s.is_ended())
        ),
        "live: true",
    );
}
