//! Codec knowledge that belongs to no single protocol: what an H.264 RTP
//! payload holds (keyframes, parameter sets) and what an SPS says about the
//! picture. FTL, WHIP and every later input and output read media through
//! it. Sans-IO: byte slices in, values out, no allocation on the packet path.

pub mod h264;

#[cfg(feature = "fuzzing")]
pub mod fuzzing;
