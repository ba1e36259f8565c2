//! What can go wrong when writing CMAF boxes, and whose fault it is.

/// Why an initialization segment or a fragment could not be written.
///
/// Every variant but [`CmafError::Encode`] is the caller's input; `Encode`
/// is `mp4-atom` refusing a box we built.
#[derive(Debug, thiserror::Error)]
pub enum CmafError {
    /// The track configuration has neither video nor audio.
    #[error("no tracks: the configuration has neither video nor audio")]
    NoTracks,
    /// The video configuration's SPS is empty or shorter than 4 bytes
    /// (NAL header, profile, constraints, level).
    #[error("the SPS is too short ({len} bytes, at least 4 needed)")]
    SpsTooShort {
        /// The SPS's length in bytes.
        len: usize,
    },
    /// The video configuration's PPS is empty.
    #[error("the PPS is empty")]
    EmptyPps,
    /// A parameter set is longer than avcC's 16-bit length field allows.
    #[error("a parameter set of {len} bytes does not fit avcC's 16-bit length")]
    ParameterSetTooLarge {
        /// The parameter set's length in bytes.
        len: usize,
    },
    /// The video's width or height does not fit the sample entry's 16 bits.
    #[error("the picture size {width}x{height} does not fit 16 bits")]
    PictureTooLarge {
        /// The width in pixels.
        width: u32,
        /// The height in pixels.
        height: u32,
    },
    /// The AAC AudioSpecificConfig is shorter than 2 bytes.
    #[error("the AAC AudioSpecificConfig is too short ({len} bytes, at least 2 needed)")]
    AudioSpecificConfigTooShort {
        /// Its length in bytes.
        len: usize,
    },
    /// The audio has no channels, or a sample rate of zero.
    #[error("invalid audio parameters: {channels} channels at {sample_rate} Hz")]
    InvalidAudio {
        /// The channel count given.
        channels: u8,
        /// The sample rate given.
        sample_rate: u32,
    },
    /// A fragment was asked for with no samples in either track.
    #[error("no samples: a fragment needs at least one video or audio sample")]
    NoSamples,
    /// A sample is larger than a trun's 32-bit size field, or the fragment
    /// would outgrow 32-bit offsets.
    #[error("a sample of {len} bytes is too large for a fragment")]
    SampleTooLarge {
        /// The sample's length in bytes.
        len: usize,
    },
    /// A sample's decode time is not the previous sample's decode time plus
    /// its duration, which a track run cannot express (it carries durations,
    /// not times).
    #[error("track {track_id}: sample {index} starts at {decode_time}, not at {expected}")]
    DecodeTimeGap {
        /// The track the sample belongs to.
        track_id: u32,
        /// The sample's index in the caller's slice.
        index: usize,
        /// The sample's decode time.
        decode_time: u64,
        /// Where the previous sample ended.
        expected: u64,
    },
    /// The fragment's samples add up to more than 32-bit data offsets reach.
    #[error("the fragment's media data is too large for 32-bit data offsets")]
    FragmentTooLarge,
    /// The `moof` encoded to a different size once its data offsets were
    /// filled in, so the offsets would be wrong (a bug here or in
    /// `mp4-atom`, never the caller's input).
    #[error("the moof changed size from {before} to {after} bytes when its data offsets were set")]
    MoofSizeChanged {
        /// The size with zero offsets.
        before: usize,
        /// The size with the real offsets.
        after: usize,
    },
    /// `mp4-atom` failed to encode a box.
    #[error("mp4-atom could not encode a box: {0}")]
    Encode(#[from] mp4_atom::Error),
}
