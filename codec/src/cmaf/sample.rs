//! One media sample as a fragment's track run carries it.

/// A sample: an access unit of video or a frame of audio, with its timing in
/// the track's timescale ([`VIDEO_TIMESCALE`](super::VIDEO_TIMESCALE), or
/// [`AudioConfig::timescale`](super::AudioConfig::timescale)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sample<'a> {
    /// When the sample is decoded. Within one call to
    /// [`fragment`](super::fragment) each sample must start where the one
    /// before it ended (`decode_time + duration`).
    pub decode_time: u64,
    /// How long the sample lasts.
    pub duration: u32,
    /// Presentation time minus decode time (nonzero with B-frames only).
    /// Written for video; audio has none.
    pub composition_offset: i32,
    /// A sync sample (an IDR access unit). Audio samples are always written
    /// as sync samples, whatever this says.
    pub keyframe: bool,
    /// Video: AVCC, each NAL unit behind a 4-byte big-endian length, without
    /// parameter sets (they live in the initialization segment). Audio: one
    /// Opus packet or one raw AAC frame, without an ADTS header.
    pub data: &'a [u8],
}
