//! The real ftl_app transcript of FTL-SPEC §3.2, replayed against the server
//! session whole, split at every byte offset, one byte at a time and in
//! seeded random chunks: the replies and events must not depend on chunking.

#![allow(
    clippy::unwrap_used,
    reason = "a failed unwrap in a test is a failed test"
)]

mod common;

use common::{Harness, Out, closed, digest_hex, framed, sent};
use ftl::CloseReason;
use proptest::prelude::*;

/// What ftl_app (SDK 0.9.14) sent in the verified run, with our challenge's
/// digest: the handshake, two PINGs and DISCONNECT.
fn ftl_app_transcript() -> Vec<u8> {
    let mut bytes = common::handshake_bytes("123", "secretkey");
    bytes.extend(framed(&["PING 123", "PING 123", "DISCONNECT"]));
    bytes
}

fn replay(chunks: &[&[u8]]) -> Vec<Out> {
    let mut h = Harness::new();
    let mut outs = h.drain();
    for chunk in chunks {
        if closed(&outs).is_some() {
            break; // A real caller closes the connection here.
        }
        outs.extend(h.feed(chunk));
    }
    // `Send` boundaries depend on chunking; the bytes themselves must not.
    let mut normalized = vec![Out::Sent(sent(&outs))];
    normalized.extend(outs.into_iter().filter(|o| !matches!(o, Out::Sent(_))));
    normalized
}

fn expected() -> Vec<Out> {
    let outs = replay(&[&ftl_app_transcript()]);
    let challenge: String = (0u8..128).map(|b| format!("{b:02x}")).collect();
    assert_eq!(
        outs[0],
        Out::Sent(
            format!("200 {challenge}\n200\n200 hi. Use UDP port 51517\n201\n201\n").into_bytes()
        )
    );
    assert_eq!(closed(&outs), Some(CloseReason::ClientDisconnected));
    outs
}

#[test]
fn transcript_bytes_match_the_spec() {
    let bytes = String::from_utf8(ftl_app_transcript()).unwrap();
    assert!(bytes.starts_with("HMAC\r\n\r\nCONNECT 123 $"));
    assert!(bytes.contains(&format!(
        "${}\r\n\r\nProtocolVersion: 0.9\r\n\r\n",
        digest_hex("secretkey")
    )));
    assert!(bytes.ends_with(
        "AudioIngestSSRC: 123\r\n\r\n.\r\n\r\nPING 123\r\n\r\nPING 123\r\n\r\nDISCONNECT\r\n\r\n"
    ));
}

#[test]
fn split_at_every_byte_offset() {
    let bytes = ftl_app_transcript();
    let expected = expected();
    for at in 0..=bytes.len() {
        let (a, b) = bytes.split_at(at);
        assert_eq!(replay(&[a, b]), expected, "split at {at}");
    }
}

#[test]
fn one_byte_at_a_time() {
    let bytes = ftl_app_transcript();
    let chunks: Vec<&[u8]> = bytes.chunks(1).collect();
    assert_eq!(replay(&chunks), expected());
}

#[test]
fn seeded_random_chunks() {
    let bytes = ftl_app_transcript();
    let expected = expected();
    for seed in [1u64, 7, 42, 1234, 0xdead_beef] {
        let mut state = seed;
        let mut chunks = Vec::new();
        let mut rest = &bytes[..];
        while !rest.is_empty() {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let len = ((state >> 33) as usize % 64 + 1).min(rest.len());
            let (chunk, tail) = rest.split_at(len);
            chunks.push(chunk);
            rest = tail;
        }
        assert_eq!(replay(&chunks), expected, "seed {seed}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, rng_seed: proptest::test_runner::RngSeed::Fixed(0x5eed_f7a1), ..ProptestConfig::default() })]

    #[test]
    fn any_chunking_gives_the_same_outputs(cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..40)) {
        let bytes = ftl_app_transcript();
        let mut offsets: Vec<usize> = cuts.iter().map(|i| i.index(bytes.len() + 1)).collect();
        offsets.sort_unstable();
        let mut chunks = Vec::new();
        let mut start = 0;
        for offset in offsets {
            chunks.push(&bytes[start..offset]);
            start = offset;
        }
        chunks.push(&bytes[start..]);
        prop_assert_eq!(replay(&chunks), expected());
    }
}
