//! What a CMAF presentation carries: its video and audio tracks' codec
//! configuration, the input of the initialization segment.

/// The H.264 track's decoder configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VideoConfig {
    /// The sequence parameter set: one NAL unit with its header byte,
    /// without a start code or length.
    pub sps: Vec<u8>,
    /// The picture parameter set, in the same form as `sps`.
    pub pps: Vec<u8>,
    /// Picture width in pixels (after cropping, as the SPS says).
    pub width: u32,
    /// Picture height in pixels.
    pub height: u32,
}

/// The audio track's codec and its decoder configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AudioConfig {
    /// Opus at 48 kHz (RFC 7845), channel mapping family 0.
    Opus {
        /// 1 (mono) or 2 (stereo).
        channels: u8,
    },
    /// AAC (ISO/IEC 14496-3), as RTMP and ADTS carry it.
    Aac {
        /// The AudioSpecificConfig (ISO/IEC 14496-3 §1.6.2.1), as in an
        /// RTMP AAC sequence header or built from an ADTS header.
        audio_specific_config: Vec<u8>,
        /// Samples per second; it is also the track's timescale.
        sample_rate: u32,
        /// Channel count.
        channels: u8,
    },
}

impl AudioConfig {
    /// Ticks per second of the audio track's timestamps: 48 000 for Opus
    /// (RFC 7845 §4 decodes at 48 kHz whatever the input rate), the sample
    /// rate for AAC.
    pub fn timescale(&self) -> u32 {
        match self {
            Self::Opus { .. } => 48_000,
            Self::Aac { sample_rate, .. } => *sample_rate,
        }
    }
}

/// The tracks of a presentation: at least one of the two.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TrackConfig {
    /// The video track, [`VIDEO_TRACK_ID`](super::VIDEO_TRACK_ID), if any.
    pub video: Option<VideoConfig>,
    /// The audio track, [`AUDIO_TRACK_ID`](super::AUDIO_TRACK_ID), if any.
    pub audio: Option<AudioConfig>,
}
