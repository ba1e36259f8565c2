//! AacToOpus: one RTMP stream's AAC-LC audio decoded (symphonia), resampled
//! to 48 kHz (rubato's FFT resampler) and encoded as 20 ms Opus frames
//! (libopus), with RTP timestamps that follow the decoded sample count.
//! Sans-IO and single-threaded: the ingest side owns one per stream, off the
//! workers.

use std::sync::Arc;

use opus::{Application, Bitrate, Channels as OpusChannels, Encoder};
use rubato::audioadapter_buffers::SizeError;
use rubato::audioadapter_buffers::direct::{InterleavedSlice, SequentialSliceOfSlices};
use rubato::{Fft, FixedSync, ResampleError, Resampler, ResamplerConstructionError};
use symphonia_codec_aac::AacDecoder;
use symphonia_core::audio::{Audio, Channels, GenericAudioBufferRef};
use symphonia_core::codecs::audio::well_known::CODEC_ID_AAC;
use symphonia_core::codecs::audio::{AudioCodecParameters, AudioDecoder, AudioDecoderOptions};
use symphonia_core::errors::Error as SymphoniaError;
use symphonia_core::packet::PacketRef;
use symphonia_core::units::{Duration, Timestamp};

/// Opus's only sample rate here, and the RTP clock rate of its timestamps.
pub const OPUS_RATE: u32 = 48_000;
/// Samples per channel in one 20 ms Opus frame at 48 kHz.
pub const OPUS_FRAME_SAMPLES: usize = 960;
/// Samples per channel in one AAC-LC frame (960-sample frames are refused).
const AAC_FRAME_SAMPLES: usize = 1024;
/// How far an RTMP timestamp may stray from the sample clock before the
/// transcoder resynchronizes to it (an encoder that dropped audio, a
/// restarted publisher). Smaller differences are jitter and rounding.
pub const RESYNC_THRESHOLD_MS: u32 = 100;
/// Lost (undecodable) frames in a row that may wait to become silence; the
/// push after that many resynchronizes to its own timestamp, dropping them
/// (a gap in RTP time), so a run of junk never queues a burst of silence.
pub const MAX_CONCEALED_FRAMES: u32 = 8;
/// Opus bitrate for a mono stream.
pub const MONO_BITRATE: i32 = 64_000;
/// Opus bitrate for a stereo stream.
pub const STEREO_BITRATE: i32 = 96_000;
/// libopus's recommended output buffer for one packet.
const MAX_OPUS_PACKET: usize = 4000;
/// Sample rates by ISO/IEC 14496-3 sampling frequency index; 13 and 14 are
/// reserved, 15 means an explicit 24-bit rate follows.
const SAMPLE_RATES: [u32; 13] = [
    96_000, 88_200, 64_000, 48_000, 44_100, 32_000, 24_000, 22_050, 16_000, 12_000, 11_025, 8_000,
    7_350,
];

/// Why a stream's AAC cannot be transcoded, or one frame could not be.
#[derive(Debug, thiserror::Error)]
pub enum TranscodeError {
    /// The AudioSpecificConfig (of this many bytes) ended before its fields.
    #[error("AudioSpecificConfig is truncated ({0} bytes)")]
    TruncatedConfig(usize),
    /// HE-AAC (audio object type 5, SBR) or HE-AAC v2 (29, PS).
    #[error("HE-AAC (audio object type {0}) is not supported; publish AAC-LC")]
    HeAac(u8),
    /// An audio object type other than AAC-LC (2).
    #[error("audio object type {0} is not supported; publish AAC-LC (2)")]
    UnsupportedObjectType(u8),
    /// Sampling frequency index 13 or 14.
    #[error("sampling frequency index {0} is reserved")]
    ReservedSampleRateIndex(u8),
    /// An explicit sample rate (Hz) outside 7350..=96000.
    #[error("sample rate {0} Hz is outside 7350..=96000")]
    UnsupportedSampleRate(u32),
    /// A channel configuration other than mono (1) or stereo (2); 0 means
    /// a program config element holds the layout, which is not supported.
    #[error("channel configuration {0} is not supported; mono or stereo only")]
    UnsupportedChannels(u8),
    /// frameLengthFlag set: 960-sample frames.
    #[error("960-sample AAC frames are not supported")]
    ShortFrames,
    /// symphonia refused the (already checked) configuration.
    #[error("AAC decoder set-up failed: {0}")]
    DecoderSetup(#[source] SymphoniaError),
    /// rubato refused the (already checked) rates.
    #[error("resampler set-up failed: {0}")]
    ResamplerSetup(#[source] ResamplerConstructionError),
    /// libopus refused to create or configure the encoder.
    #[error("Opus encoder set-up failed: {0}")]
    EncoderSetup(#[source] opus::Error),
    /// An RTMP audio message with no AAC frame in it; it becomes silence.
    #[error("empty AAC frame")]
    EmptyFrame,
    /// The frame did not decode (malformed, or an element AAC-LC decoding
    /// does not support); it becomes silence.
    #[error("AAC frame did not decode: {0}")]
    UndecodableFrame(#[source] SymphoniaError),
    /// The decoder gave samples other than f32 (symphonia's AAC gives f32).
    #[error("AAC decoder output is not f32")]
    UnexpectedSampleFormat,
    /// rubato refused a chunk (its buffers are sized here: a bug of ours).
    #[error("resampling failed: {0}")]
    Resample(#[source] ResampleError),
    /// A buffer handed to rubato had the wrong shape (a bug of ours).
    #[error("resampler buffer: {0}")]
    ResampleBuffer(#[source] SizeError),
    /// libopus failed to encode a frame; the frame is dropped.
    #[error("Opus encoding failed: {0}")]
    Encode(#[source] opus::Error),
}

/// One 20 ms Opus packet and its RTP timestamp.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpusFrame {
    /// RTP timestamp, 48 kHz ticks, from the stream's first AAC frame's
    /// timestamp (ms * 48) onward, +960 per frame; restarts at a resync.
    pub timestamp: u32,
    /// One Opus packet (20 ms).
    pub data: Arc<[u8]>,
}

/// One stream's transcoder.
///
/// Opus frames follow the decoded sample count, so their timestamps are
/// contiguous (+960 each). Each `push` compares the RTMP timestamp with the
/// sample clock (the last sync's timestamp plus the input samples since);
/// past [`RESYNC_THRESHOLD_MS`] either way it resynchronizes: the samples
/// waiting for a full Opus frame are dropped, the decoder and resampler
/// start afresh, and the next Opus frame is stamped with the new timestamp
/// (ms * 48), leaving a gap (or a step back) in the RTP timestamps.
/// A frame that does not decode is an error and becomes one frame of
/// silence ahead of the next good frame, keeping the clock whole (up to
/// [`MAX_CONCEALED_FRAMES`] in a row).
pub struct AacToOpus {
    decoder: AacDecoder,
    pcm: Pcm48k,
    opus: FrameEncoder,
    input_rate: u32,
    clock: Option<SampleClock>,
    lost_frames: u32,
    silence: Vec<f32>,
}

/// The timeline since the last sync: where it started, and how many input
/// samples per channel (decoded or concealed) have arrived since.
#[derive(Debug, Clone, Copy)]
struct SampleClock {
    sync_ms: u32,
    input_frames: u64,
    next_timestamp: u32,
}

impl SampleClock {
    fn starting_at(timestamp_ms: u32) -> Self {
        Self {
            sync_ms: timestamp_ms,
            input_frames: 0,
            next_timestamp: timestamp_ms.wrapping_mul(OPUS_RATE / 1000),
        }
    }

    /// Whether `timestamp_ms` is within the threshold of where the samples
    /// say this frame starts. Compared modulo 2^32, as RTMP's timestamps wrap.
    fn agrees_with(&self, timestamp_ms: u32, input_rate: u32) -> bool {
        let elapsed_ms = self.input_frames * 1000 / u64::from(input_rate);
        let expected = self.sync_ms.wrapping_add(elapsed_ms as u32);
        let drift = timestamp_ms.wrapping_sub(expected) as i32;
        drift.unsigned_abs() <= RESYNC_THRESHOLD_MS
    }
}

impl AacToOpus {
    /// From the stream's AudioSpecificConfig (the FLV AAC sequence header's
    /// body). Accepts AAC-LC (object type 2), mono or stereo, sampling
    /// frequency index 0..=12 or an explicit rate in 7350..=96000 Hz, with
    /// 1024-sample frames. Bits after the GASpecificConfig are ignored:
    /// backward-compatible SBR/PS signalled there (and SBR found in-band)
    /// is decoded as its AAC-LC core, band-limited to that core's rate.
    pub fn new(audio_specific_config: &[u8]) -> Result<Self, TranscodeError> {
        let (sample_rate, channels) = parse_audio_specific_config(audio_specific_config)?;
        let mut parameters = AudioCodecParameters::new();
        parameters
            .for_codec(CODEC_ID_AAC)
            .with_sample_rate(sample_rate)
            .with_channels(Channels::Discrete(channels));
        let decoder = AacDecoder::try_new(&parameters, &AudioDecoderOptions::default())
            .map_err(TranscodeError::DecoderSetup)?;
        let (opus_channels, bitrate) = if channels == 1 {
            (OpusChannels::Mono, MONO_BITRATE)
        } else {
            (OpusChannels::Stereo, STEREO_BITRATE)
        };
        let mut encoder = Encoder::new(OPUS_RATE, opus_channels, Application::Audio)
            .map_err(TranscodeError::EncoderSetup)?;
        encoder
            .set_bitrate(Bitrate::Bits(bitrate))
            .map_err(TranscodeError::EncoderSetup)?;
        encoder
            .set_inband_fec(false)
            .map_err(TranscodeError::EncoderSetup)?;
        Ok(Self {
            decoder,
            pcm: Pcm48k::new(sample_rate, usize::from(channels))?,
            opus: FrameEncoder {
                encoder,
                packet: vec![0; MAX_OPUS_PACKET],
            },
            input_rate: sample_rate,
            clock: None,
            lost_frames: 0,
            silence: vec![0.0; AAC_FRAME_SAMPLES],
        })
    }

    /// Decodes one raw AAC frame whose RTMP timestamp is `timestamp_ms` and
    /// appends every Opus frame that is now complete to `out`. On an error
    /// no more frames are appended; a frame that did not decode counts as
    /// one frame of silence, and the transcoder goes on with the next frame.
    pub fn push(
        &mut self,
        aac_frame: &[u8],
        timestamp_ms: u32,
        out: &mut Vec<OpusFrame>,
    ) -> Result<(), TranscodeError> {
        let mut clock = match self.clock {
            Some(clock)
                if clock.agrees_with(timestamp_ms, self.input_rate)
                    && self.lost_frames < MAX_CONCEALED_FRAMES =>
            {
                clock
            }
            _ => self.resync(timestamp_ms),
        };
        let result = self.transcode(aac_frame, &mut clock, out);
        self.clock = Some(clock);
        result
    }

    /// Channels of the Opus output (1 or 2), as the input's.
    pub fn channels(&self) -> u16 {
        self.pcm.channels as u16
    }

    /// Sample rate of the input, in Hz.
    pub fn input_rate(&self) -> u32 {
        self.input_rate
    }

    fn resync(&mut self, timestamp_ms: u32) -> SampleClock {
        self.lost_frames = 0;
        self.decoder.reset();
        self.pcm.reset();
        SampleClock::starting_at(timestamp_ms)
    }

    fn transcode(
        &mut self,
        aac_frame: &[u8],
        clock: &mut SampleClock,
        out: &mut Vec<OpusFrame>,
    ) -> Result<(), TranscodeError> {
        let decoded = if aac_frame.is_empty() {
            Err(TranscodeError::EmptyFrame)
        } else {
            let packet = PacketRef::new(0, Timestamp::new(0), Duration::new(0), aac_frame);
            self.decoder
                .decode_ref(&packet)
                .map_err(TranscodeError::UndecodableFrame)
        };
        let decoded = match decoded {
            Ok(GenericAudioBufferRef::F32(buffer)) => buffer,
            Ok(_) => return Err(TranscodeError::UnexpectedSampleFormat),
            Err(error) => {
                self.lost_frames += 1;
                clock.input_frames += AAC_FRAME_SAMPLES as u64;
                return Err(error);
            }
        };
        let channels = self.pcm.channels;
        for _ in 0..std::mem::take(&mut self.lost_frames) {
            let silent_planes = [self.silence.as_slice(); 2];
            self.pcm
                .append(&silent_planes[..channels], AAC_FRAME_SAMPLES)?;
            self.opus.encode_ready(&mut self.pcm, clock, out)?;
        }
        let mut planes = [[].as_slice(); 2];
        for (channel, plane) in planes.iter_mut().enumerate().take(channels) {
            *plane = decoded.plane(channel).unwrap_or_default();
        }
        let frames = decoded.frames();
        self.pcm.append(&planes[..channels], frames)?;
        clock.input_frames += frames as u64;
        self.opus.encode_ready(&mut self.pcm, clock, out)
    }
}

/// libopus and the buffer each packet is encoded into before it is copied
/// out at its length.
struct FrameEncoder {
    encoder: Encoder,
    packet: Vec<u8>,
}

impl FrameEncoder {
    /// Encodes every whole Opus frame waiting in `pcm` into `out`, stamped
    /// from `clock`. A frame libopus fails on is dropped (its time passes).
    fn encode_ready(
        &mut self,
        pcm: &mut Pcm48k,
        clock: &mut SampleClock,
        out: &mut Vec<OpusFrame>,
    ) -> Result<(), TranscodeError> {
        let frame_len = OPUS_FRAME_SAMPLES * pcm.channels;
        let mut start = 0;
        let mut result = Ok(());
        while let Some(samples) = pcm.pending.get(start..start + frame_len) {
            let timestamp = clock.next_timestamp;
            clock.next_timestamp = timestamp.wrapping_add(OPUS_FRAME_SAMPLES as u32);
            start += frame_len;
            match self.encoder.encode_float(samples, &mut self.packet) {
                Ok(length) => out.push(OpusFrame {
                    timestamp,
                    data: Arc::from(self.packet.get(..length).unwrap_or_default()),
                }),
                Err(error) => {
                    result = Err(TranscodeError::Encode(error));
                    break;
                }
            }
        }
        pcm.pending.drain(..start);
        result
    }
}

/// Decoded audio on its way to 48 kHz interleaved samples: the resampler
/// (none when the input is 48 kHz) and the samples waiting for a full Opus
/// frame. Every buffer is sized once, here.
struct Pcm48k {
    /// 1 or 2: the config parse refuses other layouts, so two planes fit.
    channels: usize,
    resampler: Option<Fft<f32>>,
    resampled: Vec<f32>,
    /// Output frames still to drop after a (re)start: the resampler's delay,
    /// so the first sample out is the first sample in.
    delay_left: usize,
    pending: Vec<f32>,
}

impl Pcm48k {
    fn new(input_rate: u32, channels: usize) -> Result<Self, TranscodeError> {
        let resampler = if input_rate == OPUS_RATE {
            None
        } else {
            let resampler = Fft::new(
                input_rate as usize,
                OPUS_RATE as usize,
                AAC_FRAME_SAMPLES,
                channels,
                FixedSync::Input,
            )
            .map_err(TranscodeError::ResamplerSetup)?;
            Some(resampler)
        };
        let max_out = resampler
            .as_ref()
            .map_or(AAC_FRAME_SAMPLES, |resampler| resampler.output_frames_max());
        let delay_left = resampler
            .as_ref()
            .map_or(0, |resampler| resampler.output_delay());
        Ok(Self {
            channels,
            resampled: vec![0.0; max_out * channels],
            pending: Vec::with_capacity((max_out + OPUS_FRAME_SAMPLES) * channels),
            resampler,
            delay_left,
        })
    }

    fn reset(&mut self) {
        self.pending.clear();
        if let Some(resampler) = &mut self.resampler {
            resampler.reset();
            self.delay_left = resampler.output_delay();
        }
    }

    /// Appends `frames` samples of each plane (one per channel), at 48 kHz.
    fn append(&mut self, planes: &[&[f32]], frames: usize) -> Result<(), TranscodeError> {
        let Some(resampler) = &mut self.resampler else {
            for frame in 0..frames {
                for plane in planes {
                    self.pending.push(plane.get(frame).copied().unwrap_or(0.0));
                }
            }
            return Ok(());
        };
        let input = SequentialSliceOfSlices::new(planes, self.channels, frames)
            .map_err(TranscodeError::ResampleBuffer)?;
        let out_frames = self.resampled.len() / self.channels;
        let mut output = InterleavedSlice::new_mut(&mut self.resampled, self.channels, out_frames)
            .map_err(TranscodeError::ResampleBuffer)?;
        let (_, produced) = resampler
            .process_into_buffer(&input, &mut output, None)
            .map_err(TranscodeError::Resample)?;
        let skipped = produced.min(self.delay_left);
        self.delay_left -= skipped;
        let samples = self
            .resampled
            .get(skipped * self.channels..produced * self.channels)
            .unwrap_or_default();
        self.pending.extend_from_slice(samples);
        Ok(())
    }
}

/// Reads an AudioSpecificConfig (ISO/IEC 14496-3 §1.6.2.1) far enough to
/// know it is AAC-LC we transcode: its sample rate and channel count.
fn parse_audio_specific_config(bytes: &[u8]) -> Result<(u32, u16), TranscodeError> {
    let mut reader = BitReader { bytes, position: 0 };
    let mut read = |bits| {
        reader
            .read(bits)
            .ok_or(TranscodeError::TruncatedConfig(bytes.len()))
    };
    let mut object_type = read(5)? as u8;
    if object_type == 31 {
        object_type = 32 + read(6)? as u8;
    }
    match object_type {
        2 => {}
        5 | 29 => return Err(TranscodeError::HeAac(object_type)),
        _ => return Err(TranscodeError::UnsupportedObjectType(object_type)),
    }
    let index = read(4)? as u8;
    let sample_rate = match index {
        15 => read(24)?,
        13 | 14 => return Err(TranscodeError::ReservedSampleRateIndex(index)),
        _ => SAMPLE_RATES.get(usize::from(index)).copied().unwrap_or(0),
    };
    if !(7_350..=96_000).contains(&sample_rate) {
        return Err(TranscodeError::UnsupportedSampleRate(sample_rate));
    }
    let configuration = read(4)? as u8;
    if !(1..=2).contains(&configuration) {
        return Err(TranscodeError::UnsupportedChannels(configuration));
    }
    if read(1)? == 1 {
        return Err(TranscodeError::ShortFrames);
    }
    Ok((sample_rate, u16::from(configuration)))
}

/// Most-significant-bit-first reads that fail, not over-read, at the end.
struct BitReader<'a> {
    bytes: &'a [u8],
    position: usize,
}

impl BitReader<'_> {
    /// The next `bits` (at most 32) bits, or `None` past the end.
    fn read(&mut self, bits: u32) -> Option<u32> {
        let mut value = 0u32;
        for _ in 0..bits {
            let byte = self.bytes.get(self.position / 8)?;
            value = (value << 1) | u32::from((byte >> (7 - self.position % 8)) & 1);
            self.position += 1;
        }
        Some(value)
    }
}
