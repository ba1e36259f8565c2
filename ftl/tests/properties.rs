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
    Output, ServerConfig, ServerSession, StreamKey, StreamMetadata, TrackParams, classify,
};
use proptest::prelude::*;

/// HMAC, CONNECT with the right digest for `secretkey`, ftl_app's attributes, `.`.
fn handshake(challenge: &ftl::Challenge) -> Vec<u8> {
    let digest: String = ftl::sign(b"secretkey", challenge)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let mut text = format!("HMAC\r\n\r\nCONNECT 123 ${digest}\r\n\r\n");
    for line in [
        "Video: true",
        "VideoCodec: H264",
        "VideoPayloadType: 96",
        "VideoIngestSSRC: 124",
        "Audio: true",
        "AudioCodec: OPUS",
        "AudioPayloadType: 97",
        "AudioIngestSSRC: 123",
        ".",
    ] {
        text.push_str(line);
        text.push_str("\r\n\r\n");
    }
    text.into_bytes()
}

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
        prefix in 0usize..3,
    ) {
        let mut now = Instant::now();
        let challenge = [9; 128];
        let mut session = ServerSession::new(now, challenge, ServerConfig::default());
        // Start from nothing, after HMAC, or streaming, so garbage reaches every state.
        let prefix = match prefix {
            0 => Vec::new(),
            1 => b"HMAC\n".to_vec(),
            _ => handshake(&challenge),
        };
        let mut closed = false;
        for (bytes, millis) in std::iter::once((prefix, 0)).chain(chunks) {
            now += Duration::from_millis(millis);
            session.handle_input(now, &bytes);
            let mut settled = false;
            for _ in 0..64 {
                match session.poll_output() {
                    Output::Send(reply) => {
                        prop_assert!(!closed);
                        prop_assert!(reply.ends_with(b"\n") && !reply.contains(&b'\r'));
                    }
                    Output::Event(ftl::Event::KeyRequired { .. }) => session.verify_key(now, b"secretkey"),
                    Output::Event(ftl::Event::MediaRequested { .. }) => {
                        session.start_media(now, std::num::NonZeroU16::MIN);
                    }
                    Output::Event(_) => {}
                    Output::Close(_) => { closed = true; settled = true; break; }
                    Output::Timeout(deadline) => { prop_assert!(deadline > now); settled = true; break; }
                }
            }
            prop_assert!(settled, "poll_output did not settle");
        }
    }

    /// A modelled stream with loss, reordering and late retransmissions: the
    /// tracker NACKs only packets that are missing, each once, and recovers
    /// every retransmission, however late (within max_age).
    #[test]
    fn nack_tracker_requests_only_missing_packets(
        losses in proptest::collection::vec(0u16..580, 0..25),
        swaps in proptest::collection::vec(0usize..600, 0..40),
        delays in proptest::collection::vec(0usize..250, 25),
        start in any::<u16>(),
    ) {
        let mut order: Vec<u16> = (0..600).collect();
        for at in swaps {
            if at + 2 < order.len() {
                order.swap(at, at + 2);
            }
        }
        let lost: std::collections::BTreeSet<u16> = losses.into_iter().filter(|&l| l > 0).collect();
        let mut tracker = NackTracker::new(NackConfig::default());
        let t0 = Instant::now();
        let mut arrived = std::collections::BTreeSet::new();
        let mut requested = std::collections::BTreeSet::new();
        let mut retransmit_at: Vec<(usize, u16)> = Vec::new();
        let mut out = Vec::new();
        let mut step = 0usize;
        let deliver = |tracker: &mut NackTracker, arrived: &mut std::collections::BTreeSet<u16>, step: usize, offset: u16| {
            tracker.on_packet(t0 + Duration::from_millis(step as u64), start.wrapping_add(offset));
            arrived.insert(offset);
        };
        for offset in order.iter().copied().chain(std::iter::repeat_n(u16::MAX, 300)) {
            step += 1;
            if offset != u16::MAX && !lost.contains(&offset) {
                deliver(&mut tracker, &mut arrived, step, offset);
            }
            let due: Vec<u16> = retransmit_at.iter().filter(|(at, _)| *at == step).map(|(_, o)| *o).collect();
            for offset in due {
                deliver(&mut tracker, &mut arrived, step, offset);
            }
            out.clear();
            tracker.poll_nack(t0 + Duration::from_millis(step as u64), 1, 124, &mut out);
            for fci in out.get(12..).unwrap_or_default().chunks(4) {
                let pid = u16::from_be_bytes([fci[0], fci[1]]);
                let blp = u16::from_be_bytes([fci[2], fci[3]]);
                let seqs = std::iter::once(pid).chain((0..16).filter(|i| blp & (1 << i) != 0).map(|i| pid.wrapping_add(i + 1)));
                for sequence in seqs {
                    let offset = sequence.wrapping_sub(start);
                    prop_assert!(lost.contains(&offset), "NACKed {offset}, which was not lost");
                    prop_assert!(!arrived.contains(&offset), "NACKed {offset} after it arrived");
                    prop_assert!(requested.insert(offset), "NACKed {offset} twice");
                    let delay = delays[requested.len() % delays.len()];
                    retransmit_at.push((step + 1 + delay, offset));
                }
            }
        }
        prop_assert_eq!(requested.len(), lost.len().min(64), "every loss is requested");
        prop_assert!(requested.iter().all(|offset| arrived.contains(offset)));
        prop_assert!(tracker.stats().recovered >= requested.len() as u64);
        prop_assert_eq!(tracker.outstanding(), 0);
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
