//! The hostile-input matrix over real sockets against one running node: FTL
//! control abuse (FTL-SPEC §6), malformed FTL media, datagram floods, HTTP
//! and SDP abuse, foreign resources and slow-loris headers, RTMP abuse
//! (handshakes, chunk sizes, message lengths, command order, codecs,
//! garbage tags, a client that stops reading), one module each,
//! run in turn. Throughout, a witness stream (FTL, channel 1) is watched by
//! two str0m viewers, which must lose nothing. Each case's answer goes into
//! one table, checked and printed at the end.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a failed unwrap in a test is a failed test"
)]

#[path = "../common/mod.rs"]
mod common;

mod answers;
mod dead_viewers;
mod floods;
mod ftl_control;
mod ftl_control_cases;
mod ftl_media;
mod http;
mod rtmp;
mod slow_loris;

use std::time::Duration;

use answers::Answers;
use common::witness::Witness;
use ftl_media::SecondStream;

#[test]
fn hostile_inputs_get_their_documented_answers_and_harm_no_other_stream() {
    let node = common::start_node_with(2, |config| {
        config.http_header_timeout = Duration::from_secs(1);
        config.engine.ftl_media_timeout = Duration::from_secs(30);
        config.rtmp.handshake_timeout = rtmp::HANDSHAKE_TIMEOUT;
        config.rtmp.write_timeout = rtmp::WRITE_TIMEOUT;
        config.rtmp.max_connections = rtmp::MAX_CONNECTIONS;
    });
    let witness = Witness::start(&node);
    let mut answers = Answers::default();

    // FTL control (§6, 1-9), all connections at once.
    for (case, got, expected) in ftl_control::run_cases(node.ftl_addr()) {
        answers.check(&format!("FTL control: {case}"), got, expected);
    }
    // FTL media (§6, 10-18) at a second stream's port, then floods.
    let stream2 = SecondStream::start(&node);
    ftl_media::check(&node, &stream2, &mut answers);
    floods::check(&node, &stream2, &mut answers);
    // HTTP and SDP, then slow-loris connections.
    http::check(node.http_addr(), &mut answers);
    slow_loris::check(node.http_addr(), &mut answers);

    drop(stream2);
    // RTMP, ending with a publish of channel 2 now that its FTL stream is gone.
    rtmp::check(&node, &mut answers);
    witness.finish();
    answers.assert_all();
}
