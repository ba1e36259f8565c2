//! CMAF (ISO/IEC 23000-19), fragmented MP4: the initialization segment and
//! the fragments that HLS and recordings write, built from mp4-atom's boxes.
//!
//! Two tracks at most, with fixed ids: H.264 video ([`VIDEO_TRACK_ID`], at
//! [`VIDEO_TIMESCALE`]) and Opus or AAC audio ([`AUDIO_TRACK_ID`], at
//! [`AudioConfig::timescale`]). [`init_segment`] writes `ftyp` + `moov` once
//! per stream; [`fragment`] writes `moof` + `mdat` for each run of samples,
//! and [`codecs`] names the tracks for a playlist. Everything is bytes in,
//! bytes out: no clock, no files.
//!
//! ```
//! use codec::cmaf::{self, AudioConfig, Sample, TrackConfig, VideoConfig};
//!
//! let config = TrackConfig {
//!     video: Some(VideoConfig {
//!         sps: vec![0x67, 0x42, 0xc0, 0x1e, 0xd9, 0x00, 0xa0, 0x47],
//!         pps: vec![0x68, 0xce, 0x3c, 0x80],
//!         width: 320,
//!         height: 240,
//!     }),
//!     audio: Some(AudioConfig::Opus { channels: 2 }),
//! };
//! let init = cmaf::init_segment(&config)?;
//! assert_eq!(cmaf::codecs(&config), "avc1.42c01e,opus");
//!
//! // An IDR access unit (AVCC) and one 20 ms Opus packet.
//! let idr = [&4u32.to_be_bytes()[..], &[0x65, 0x88, 0x84, 0x00]].concat();
//! let video = [Sample { decode_time: 0, duration: 3000, composition_offset: 0, keyframe: true, data: &idr }];
//! let audio = [Sample { decode_time: 0, duration: 960, composition_offset: 0, keyframe: true, data: &[0xfc, 0xff, 0xfe] }];
//! let fragment = cmaf::fragment(1, &video, &audio)?;
//! assert_eq!(&fragment[4..8], b"moof");
//! # let _ = init;
//! # Ok::<(), cmaf::CmafError>(())
//! ```

mod codecs;
mod config;
mod error;
mod fragment;
mod init;
mod sample;

pub use codecs::codecs;
pub use config::{AudioConfig, TrackConfig, VideoConfig};
pub use error::CmafError;
pub use fragment::{NON_SYNC_SAMPLE_FLAGS, SYNC_SAMPLE_FLAGS, fragment, write_fragment};
pub use init::{OPUS_PRE_SKIP, init_segment, write_init_segment};
pub use sample::Sample;

/// Track id of the video track, in every segment.
pub const VIDEO_TRACK_ID: u32 = 1;
/// Track id of the audio track, in every segment.
pub const AUDIO_TRACK_ID: u32 = 2;
/// Ticks per second of video timestamps: RTP's H.264 clock (RFC 6184 §5.1).
pub const VIDEO_TIMESCALE: u32 = 90_000;
