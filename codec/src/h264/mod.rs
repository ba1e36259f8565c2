//! H.264 (ITU-T H.264) in RTP (RFC 6184, packetization mode 1): what a
//! payload holds, SPS parsing, AVCC access units, and the packetizer and
//! depacketizer between NAL units and RTP payloads.

pub mod avcc;
mod bits;
pub mod depacketizer;
pub mod packetizer;
mod payload;
mod sps;
mod stap_a;

pub use payload::{is_keyframe, sps_in_payload};
pub use sps::{MAX_DIMENSION, Sps, SpsError};

/// NAL unit type of an IDR slice.
pub const NAL_IDR: u8 = 5;
/// NAL unit type of a sequence parameter set.
pub const NAL_SPS: u8 = 7;
/// NAL unit type of a picture parameter set.
pub const NAL_PPS: u8 = 8;
/// NAL unit type of an access unit delimiter, the first NAL unit of an
/// access unit when present (H.264 §7.4.1.2.3).
pub const NAL_AUD: u8 = 9;
/// RTP payload type of an aggregation packet (RFC 6184 §5.7.1).
pub const STAP_A: u8 = 24;
/// RTP payload type of a fragmentation unit (RFC 6184 §5.8).
pub const FU_A: u8 = 28;

fn nal_type(header: u8) -> u8 {
    header & 0x1F
}

/// Whether RTP may carry a NAL unit of this type as it is: 1 to 23. Type 0
/// and 24 to 31 are unspecified in H.264 and name packet types in RFC 6184
/// (§5.2), so a NAL unit of those types would be read as an aggregate or a
/// fragment.
fn is_carried(nal_type: u8) -> bool {
    (1..=23).contains(&nal_type)
}

/// The type of a NAL unit RTP may carry as it is; none for an empty one.
fn carried_nal_type(nal: &[u8]) -> Option<u8> {
    nal.first()
        .map(|&header| nal_type(header))
        .filter(|&kind| is_carried(kind))
}
