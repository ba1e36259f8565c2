//! Entry points for the cargo-fuzz targets in `fuzz/`, behind the `fuzzing`
//! feature. Each drives the sans-IO code from raw fuzzer bytes and asserts
//! invariants, not only the absence of a crash.

use std::time::{Duration, Instant};

use crate::{
    Arrival, Datagram, Event, MediaParams, NackConfig, NackTracker, Output, ServerConfig,
    ServerSession, TrackParams, classify,
};

/// Longest reply line the server may send: the challenge line (`200 `, 256
/// hex chars, LF); every other line stays under 256 bytes (FTL-SPEC §3.1).
const MAX_REPLY_LINE: usize = 4 + 2 * crate::CHALLENGE_LEN + 1;

/// Drains a server session, checking every reply it writes.
fn drain_server(session: &mut ServerSession, now: Instant, data: &[u8]) -> bool {
    for _ in 0..64 {
        match session.poll_output() {
            Output::Send(bytes) => {
                assert!(bytes.ends_with(b"\n"), "reply not LF-terminated: {bytes:?}");
                assert!(!bytes.contains(&b'\r'), "reply contains CR: {bytes:?}");
                for line in bytes.split_inclusive(|&b| b == b'\n') {
                    assert!(line.len() <= MAX_REPLY_LINE, "reply line too long");
                    assert!(
                        line.len() < 256 || line.starts_with(b"200 "),
                        "long non-challenge reply"
                    );
                }
            }
            Output::Event(Event::KeyRequired { .. }) => {
                // The first data byte picks a right or a wrong key.
                let key: &[u8] = if data.first().is_some_and(|b| b & 1 == 0) {
                    b"secretkey"
                } else {
                    b"wrong"
                };
                session.verify_key(now, key);
            }
            Output::Event(Event::MediaRequested { metadata, .. }) => {
                assert!(metadata.video.is_some() || metadata.audio.is_some());
                session.start_media(now, std::num::NonZeroU16::MIN);
            }
            Output::Event(_) => {}
            Output::Close(_) => return true,
            Output::Timeout(deadline) => {
                assert!(deadline > now, "a due deadline was not handled");
                return false;
            }
        }
    }
    panic!("poll_output did not settle");
}

/// Feeds a server session, created at `start`, arbitrary chunks and clock steps. Each chunk is
/// `[len, step_ms, bytes..]`; a session must never panic, always answer with
/// LF-terminated lines, and stay closed once closed.
pub fn server_session(start: Instant, data: &[u8]) {
    let mut now = start;
    let mut session =
        ServerSession::new(now, [0x42; crate::CHALLENGE_LEN], ServerConfig::default());
    let mut closed = drain_server(&mut session, now, data);
    let mut rest = data;
    while let [len, step, tail @ ..] = rest {
        let len = usize::from(*len).min(tail.len());
        now += Duration::from_millis(u64::from(*step) * 40);
        session.handle_input(now, &tail[..len]);
        rest = &tail[len..];
        let closed_now = drain_server(&mut session, now, data);
        assert!(!closed || closed_now, "a closed session reopened");
        closed = closed_now;
        if closed {
            assert_eq!(session.poll_timeout(), None);
        }
    }
}

/// From `start` on, classifies each datagram of `[len_hi, len_lo, bytes..]` records and feeds
/// video sequence numbers to a NACK tracker, checking that the classifier is
/// total and consistent and that every NACK is well-formed and bounded.
pub fn datagrams(start: Instant, data: &[u8]) {
    let params = MediaParams {
        video: Some(TrackParams {
            payload_type: 96,
            ssrc: 124,
        }),
        audio: Some(TrackParams {
            payload_type: 97,
            ssrc: 123,
        }),
    };
    let config = NackConfig::default();
    let max_outstanding = config.max_outstanding;
    let mut tracker = NackTracker::new(config);
    let mut now = start;
    let mut out = Vec::with_capacity(1500);
    let mut rest = data;
    while let [high, low, tail @ ..] = rest {
        let len = usize::from(u16::from_be_bytes([*high, *low])).min(tail.len());
        let datagram = &tail[..len];
        rest = &tail[len..];
        now += Duration::from_millis(u64::from(*low % 64));
        match classify(datagram, &params) {
            Datagram::Ping(bytes) => assert_eq!(bytes, datagram),
            Datagram::Video(packet) => {
                assert_eq!(packet.ssrc, 124);
                assert_eq!(packet.payload_type, 96);
                assert!(packet.payload.len() + 12 <= datagram.len());
                let arrival = tracker.on_packet(now, packet.sequence);
                if arrival == Arrival::Restarted {
                    assert_eq!(tracker.outstanding(), 0);
                }
            }
            Datagram::Audio(packet) => assert_eq!(packet.ssrc, 123),
            Datagram::SenderReport(report) => assert!(report.ssrc == 123 || report.ssrc == 124),
            Datagram::Drop(reason) => assert_eq!(crate::DropReason::ALL[reason.index()], reason),
        }
        out.clear();
        let requested = tracker.poll_nack(now, 124, 124, &mut out);
        assert!(requested <= max_outstanding);
        assert!(tracker.outstanding() <= max_outstanding);
        if requested == 0 {
            assert!(out.is_empty());
        } else {
            assert_eq!(&out[..2], [0x81, 205]);
            let words = usize::from(u16::from_be_bytes([out[2], out[3]])) + 1;
            assert_eq!(words * 4, out.len());
            assert!(out.len() >= 16);
        }
    }
}
