//! What a session reports to its caller: the client's commands, metadata
//! and media, in the order the client sent them.

use bytes::Bytes;

/// One thing the client did.
#[derive(Debug, Clone, PartialEq)]
pub enum SessionEvent {
    /// `connect`: the app name (e.g. "live"), the tcUrl, and flashVer (the
    /// encoder's name and version, e.g. "FMLE/3.0 (compatible; FMSc/1.0)"
    /// from OBS, "LNX 9,0,124,2" from FFmpeg), each if sent.
    Connect {
        /// The application, the URL's path after the host.
        app: String,
        /// The URL the client connected to.
        tc_url: Option<String>,
        /// The encoder's name and version.
        flash_version: Option<String>,
    },
    /// `publish`: the stream name (the stream key; a `?query` after it is
    /// kept). Answer with `accept_publish` or `reject_publish`.
    Publish {
        /// The name as sent.
        stream_name: String,
    },
    /// An FLV video tag of the published stream.
    Video {
        /// RTMP time in ms, extended timestamps applied; wraps at 2^32.
        timestamp: u32,
        /// The tag.
        tag: VideoTag,
    },
    /// An FLV audio tag of the published stream.
    Audio {
        /// RTMP time in ms, extended timestamps applied; wraps at 2^32.
        timestamp: u32,
        /// The tag.
        tag: AudioTag,
    },
    /// `@setDataFrame`/`onMetaData`: the fields we use, each if sent.
    Metadata(StreamMetadata),
    /// The client stopped publishing (FCUnpublish, deleteStream or
    /// closeStream; reported once).
    Unpublish,
}

/// The `onMetaData` fields we use, each if sent with the right type (and,
/// for numbers, finite).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StreamMetadata {
    /// Picture width in pixels.
    pub width: Option<f64>,
    /// Picture height in pixels.
    pub height: Option<f64>,
    /// Frames per second.
    pub framerate: Option<f64>,
    /// Video bit rate in kbit/s.
    pub video_data_rate: Option<f64>,
    /// Audio bit rate in kbit/s.
    pub audio_data_rate: Option<f64>,
    /// The encoder's name, e.g. "Lavf59.27.100" or "obs-output module (libobs version 30.0.2)".
    pub encoder: Option<String>,
}

/// An H.264 video tag, legacy (codec id 7) or Enhanced RTMP ('avc1').
#[derive(Debug, Clone, PartialEq)]
pub enum VideoTag {
    /// AVC sequence header (legacy packet type 0, or Enhanced SequenceStart).
    AvcConfig(AvcConfig),
    /// One access unit.
    AvcFrame {
        /// The FLV frame type says keyframe.
        keyframe: bool,
        /// Composition time offset in ms (0 for Enhanced CodedFramesX).
        composition_time: i32,
        /// AVCC NAL units, each prefixed by its length in
        /// [`AvcConfig::nal_length_size`] bytes (as sent, not checked here).
        data: Bytes,
    },
    /// AVC end of sequence.
    EndOfSequence,
}

/// An AVCDecoderConfigurationRecord (ISO/IEC 14496-15 §5.3.3).
#[derive(Debug, Clone, PartialEq)]
pub struct AvcConfig {
    /// Bytes per NAL length prefix in `AvcFrame` data (1, 2 or 4).
    pub nal_length_size: u8,
    /// Sequence parameter sets, each a NAL unit with its header byte.
    pub sps: Vec<Bytes>,
    /// Picture parameter sets, each a NAL unit with its header byte.
    pub pps: Vec<Bytes>,
    /// The record as received (for an MP4 avcC box).
    pub record: Bytes,
}

/// An AAC or Opus audio tag.
#[derive(Debug, Clone, PartialEq)]
pub enum AudioTag {
    /// AAC sequence header: the AudioSpecificConfig (legacy sound format 10
    /// packet type 0, or Enhanced 'mp4a' SequenceStart).
    AacConfig(Bytes),
    /// One raw AAC frame.
    AacFrame(Bytes),
    /// Enhanced RTMP 'Opus' SequenceStart: the OpusHead, if any (may be empty).
    OpusConfig(Bytes),
    /// One Opus packet (Enhanced RTMP 'Opus' CodedFrames).
    OpusFrame(Bytes),
}
