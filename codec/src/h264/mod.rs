//! H.264 (ITU-T H.264) in RTP (RFC 6184): what a payload holds, SPS
//! parsing, and AVCC access units.

pub mod avcc;
mod bits;
mod payload;
mod sps;

pub use payload::{is_keyframe, sps_in_payload};
pub use sps::{MAX_DIMENSION, Sps, SpsError};

/// NAL unit type of an IDR slice.
pub const NAL_IDR: u8 = 5;
/// NAL unit type of a sequence parameter set.
pub const NAL_SPS: u8 = 7;
/// NAL unit type of a picture parameter set.
pub const NAL_PPS: u8 = 8;
/// RTP payload type of an aggregation packet (RFC 6184 §5.7.1).
pub const STAP_A: u8 = 24;
/// RTP payload type of a fragmentation unit (RFC 6184 §5.8).
pub const FU_A: u8 = 28;

fn nal_type(header: u8) -> u8 {
    header & 0x1F
}
