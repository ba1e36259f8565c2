//! Properties over arbitrary payloads: the H.264 helpers are total, and an
//! SPS they accept describes a picture within the limits.

use proptest::prelude::*;

proptest! {
    #[test]
    fn h264_helpers_never_panic(payload in proptest::collection::vec(any::<u8>(), 0..200)) {
        codec::h264::is_keyframe(&payload);
        if let Some(sps) = codec::h264::sps_in_payload(&payload)
            && let Ok(sps) = codec::h264::Sps::parse(sps)
        {
            prop_assert!(sps.width > 0 && sps.width <= codec::h264::MAX_DIMENSION);
        }
        let _ = codec::h264::Sps::parse(&payload);
    }
}

#[cfg(feature = "fuzzing")]
proptest! {
    #[test]
    fn fuzz_entry_holds_its_invariants(payload in proptest::collection::vec(any::<u8>(), 0..200)) {
        codec::fuzzing::h264_payload(&payload);
    }
}
