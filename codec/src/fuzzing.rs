//! Entry points for the fuzz targets in `../fuzz`, behind the `fuzzing`
//! feature: each runs a helper on arbitrary bytes and checks its contract.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a broken invariant must crash the fuzzer"
)]

use crate::h264::{MAX_DIMENSION, Sps, is_keyframe, sps_in_payload};

/// One RTP payload through every H.264 helper: none panics, an SPS found in
/// the payload is part of it, and an accepted SPS has a picture within the
/// limits.
pub fn h264_payload(data: &[u8]) {
    is_keyframe(data);
    if let Some(sps) = sps_in_payload(data) {
        assert!(sps.len() <= data.len());
        if let Ok(sps) = Sps::parse(sps) {
            assert!(sps.width > 0 && sps.width <= MAX_DIMENSION);
            assert!(sps.height > 0 && sps.height <= 2 * MAX_DIMENSION);
        }
    }
    let _ = Sps::parse(data);
}
