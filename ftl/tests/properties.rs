//! Properties over arbitrary input: the classifier is total, the NACK tracker
//! stays bounded and well-formed, and neither control session panics or
//! writes a malformed line, whatever arrives and however time moves.

#![allow(
    clippy::unwrap_used,
    reason = "a failed unwrap in a test is a failed test"
)]
#![allow(
    clippy::disallowed_methods,
    reason = "a test takes one Instant and adds to it"
)]

use std::time::{Duration, Instant};

use ftl::{
    ClientConfig, ClientOutput, ClientSession, Datagram, MediaParams, NackConfig, NackTracker,
    Output, ServerConfig, ServerSession, StatusCode, StreamKey, StreamMetadata, TrackParams,
    classify,
};
use proptest::prelude::*;

const PARAMS: MediaParams = MediaParams {
    video: Some(TrackParams {
        payload_type: 96,
        ssrc: 124,
    }),
    audio: Some(TrackParams {
        payload_type: 97,
        ssrc: 123,
    }),
};

/// Datagrams that look like FTL media often enough to reach deep branches.
fn datagram() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..1600),
        (
            any::<u8>(),
            prop_oneof![
                Just(0x60u8),
                Just(0xe0),
                Just(0x61),
                Just(0xfa),
                Just(0xc8),
                any::<u8>()
            ],
            prop_oneof![Just(124u32), Just(123), any::<u32>()],
            proptest::collection::vec(any::<u8>(), 0..64)
        )
            .prop_map(|(first, second, ssrc, tail)| {
                let mut d = vec![0x80 | (first & 0x3f), second, 0, 1, 0, 0, 0, 0];
                d.extend_from_slice(&ssrc.to_be_bytes());
                d.extend(tail);
                d
            }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, failure_persistence: None, rng_seed: proptest::test_runner::RngSeed::Fixed(0x5eed_f7a1), ..ProptestConfig::default() })]

    #[test]
    fn classifier_is_total_and_consistent(bytes in datagram()) {
        match classify(&bytes, &PARAMS) {
            Datagram::Ping(echo) => prop_assert_eq!(echo, &bytes[..]),
            Datagram::Video(p) => {
                prop_assert_eq!((p.payload_type, p.ssrc), (96, 124));
                prop_assert!(p.payload.len() + 12 <= bytes.len());
            }
            Datagram::Audio(p) => prop_assert_eq!((p.payload_type, p.ssrc), (97, 123)),
            Datagram::SenderReport(sr) => prop_assert!(sr.ssrc == 123 || sr.ssrc == 124),
            Datagram::Drop(_) => {}
        }
    }

    #[test]
    fn h264_helpers_never_panic(payload in proptest::collection::vec(any::<u8>(), 0..200)) {
        ftl::h264::is_keyframe(&payload);
        if let Some(sps) = ftl::h264::sps_in_payload(&payload)
            && let Ok(sps) = ftl::h264::Sps::parse(sps)
        {
            prop_assert!(sps.width > 0 && sps.width <= ftl::h264::MAX_DIMENSION);
        }
        let _ = ftl::h264::Sps::parse(&payload);
    }

    #[test]
    fn nack_tracker_stays_bounded(steps in proptest::collection::vec((any::<u16>(), 0u64..300, any::<bool>()), 0..400)) {
        let mut tracker = NackTracker::new(NackConfig::default());
        let mut now = Instant::now();
        let mut out = Vec::new();
        let mut sequence = 0u16;
        for (jump, millis, small) in steps {
            now += Duration::from_millis(millis);
            // Mostly small steps (reorder, loss), sometimes anywhere.
            sequence = if small { sequence.wrapping_add(jump % 40).wrapping_sub(8) } else { jump };
            tracker.on_packet(now, sequence);
            out.clear();
            let requested = tracker.poll_nack(now, 1, 124, &mut out);
            prop_assert!(tracker.outstanding() <= 64);
            prop_assert!(requested <= 64);
            if requested > 0 {
                prop_assert_eq!(&out[..2], &[0x81, 205][..]);
                prop_assert_eq!((usize::from(u16::from_be_bytes([out[2], out[3]])) + 1) * 4, out.len());
                prop_assert_eq!(&out[8..12], &124u32.to_be_bytes()[..]);
            } else {
                prop_assert!(out.is_empty());
            }
        }
    }

    #[test]
    fn server_session_survives_anything(
        chunks in proptest::collection::vec((proptest::collection::vec(any::<u8>(), 0..300), 0u64..4000), 0..30),
        prefix in prop_oneof![Just(Vec::new()), Just(b"HMAC\n".to_vec())],
    ) {
        let mut now = Instant::now();
        let mut session = ServerSession::new(now, [9; 128], ServerConfig::default());
        let mut closed = false;
        session.handle_input(now, &prefix);
        for (bytes, millis) in chunks {
            now += Duration::from_millis(millis);
            session.handle_input(now, &bytes);
            for _ in 0..64 {
                match session.poll_output() {
                    Output::Send(reply) => {
                        prop_assert!(!closed);
                        prop_assert!(reply.ends_with(b"\n") && !reply.contains(&b'\r'));
                    }
                    Output::Event(ftl::Event::KeyRequired { .. }) => session.terminate(StatusCode::InvalidStreamKey),
                    Output::Event(_) => {}
                    Output::Close(_) => { closed = true; break; }
                    Output::Timeout(deadline) => { prop_assert!(deadline > now); break; }
                }
            }
        }
    }

    #[test]
    fn client_session_survives_anything(
        chunks in proptest::collection::vec((proptest::collection::vec(any::<u8>(), 0..300), 0u64..8000), 0..30),
    ) {
        let mut now = Instant::now();
        let key = StreamKey::parse("123-secretkey").unwrap();
        let mut client = ClientSession::new(now, key, StreamMetadata::default(), ClientConfig::default());
        for (bytes, millis) in chunks {
            now += Duration::from_millis(millis);
            client.handle_input(now, &bytes);
            for _ in 0..64 {
                match client.poll_output() {
                    ClientOutput::Send(command) => prop_assert!(command.ends_with(b"\r\n\r\n")),
                    ClientOutput::Event(_) => {}
                    ClientOutput::Close(_) => break,
                    ClientOutput::Timeout(deadline) => { prop_assert!(deadline > now); break; }
                }
            }
        }
    }
}
