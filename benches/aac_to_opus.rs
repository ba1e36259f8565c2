//! The AAC to Opus transcode's cost: one second of an RTMP stream's audio
//! through `AacToOpus` (44.1 kHz stereo, which is resampled, and 48 kHz
//! mono, which is not), beside each stage alone (symphonia's AAC decode,
//! rubato's resampling to 48 kHz, libopus's encode). Each full transcode
//! also reports the CPU time its thread spent per second of audio over
//! 30 s (the share of one core one stream's audio costs) and the heap
//! allocations per Opus frame.

#![allow(missing_docs, reason = "criterion_group! generates undocumented items")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a bench set-up failure is a failed bench"
)]

mod counting;

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use rubato::audioadapter_buffers::direct::{InterleavedSlice, SequentialSliceOfVecs};
use rubato::{Fft, FixedSync, Resampler};
use symphonia_codec_aac::AacDecoder;
use symphonia_core::audio::{Audio, Channels, GenericAudioBufferRef};
use symphonia_core::codecs::audio::well_known::CODEC_ID_AAC;
use symphonia_core::codecs::audio::{AudioCodecParameters, AudioDecoder, AudioDecoderOptions};
use symphonia_core::packet::PacketRef;
use symphonia_core::units::{Duration as PacketDuration, Timestamp};
use waveguide::inputs::rtmp::aac_to_opus::{AacToOpus, OPUS_FRAME_SAMPLES, OpusFrame};

/// Left 440 Hz, right 880 Hz, 44.1 kHz; how it was made is in
/// tests/aac_to_opus.rs.
const STEREO_44K1: &[u8] = include_bytes!("../tests/data/sine-440hz-left-880hz-right-44k1-2s.aac");
/// 440 Hz, 48 kHz mono.
const MONO_48K: &[u8] = include_bytes!("../tests/data/sine-440hz-48k-mono-2s.aac");
const AAC_FRAME: usize = 1024;
/// Seconds of audio behind each CPU figure.
const CPU_SECONDS: u32 = 30;

/// An ADTS file as RTMP carries it: the AudioSpecificConfig (from the
/// first header) and the raw frames (headers stripped).
struct Stream {
    name: &'static str,
    config: [u8; 2],
    rate: u32,
    channels: usize,
    frames: Vec<&'static [u8]>,
}

impl Stream {
    fn from_adts(name: &'static str, mut bytes: &'static [u8]) -> Self {
        let header = &bytes[..7];
        let (profile, rate_index) = (header[2] >> 6, (header[2] >> 2) & 0x0f);
        let channels = ((header[2] & 1) << 2) | (header[3] >> 6);
        let config = [
            ((profile + 1) << 3) | (rate_index >> 1),
            ((rate_index & 1) << 7) | (channels << 3),
        ];
        let rate = match rate_index {
            3 => 48_000,
            4 => 44_100,
            _ => panic!("the bench's data is 44.1 or 48 kHz"),
        };
        let mut frames = Vec::new();
        while !bytes.is_empty() {
            let header_len = if bytes[1] & 1 == 1 { 7 } else { 9 };
            let frame_len = (usize::from(bytes[3] & 0x03) << 11)
                | (usize::from(bytes[4]) << 3)
                | usize::from(bytes[5] >> 5);
            frames.push(&bytes[header_len..frame_len]);
            bytes = &bytes[frame_len..];
        }
        Self {
            name,
            config,
            rate,
            channels: usize::from(channels),
            frames,
        }
    }

    /// AAC frames in one second of audio, rounded up.
    fn frames_per_second(&self) -> usize {
        (self.rate as usize).div_ceil(AAC_FRAME)
    }

    fn seconds(&self, frames: usize) -> f64 {
        (frames * AAC_FRAME) as f64 / f64::from(self.rate)
    }
}

/// One stream's transcoder fed the file over and over, with RTMP
/// timestamps that keep counting, so it never resynchronizes.
struct Publisher<'a> {
    stream: &'a Stream,
    transcoder: AacToOpus,
    next: usize,
    out: Vec<OpusFrame>,
    opus_frames: u64,
}

impl<'a> Publisher<'a> {
    fn new(stream: &'a Stream) -> Self {
        Self {
            stream,
            transcoder: AacToOpus::new(&stream.config).unwrap(),
            next: 0,
            out: Vec::with_capacity(64),
            opus_frames: 0,
        }
    }

    fn push(&mut self, frames: usize) {
        for _ in 0..frames {
            let frame = self.stream.frames[self.next % self.stream.frames.len()];
            let timestamp =
                (self.next as u64 * AAC_FRAME as u64 * 1000 / u64::from(self.stream.rate)) as u32;
            self.transcoder
                .push(frame, timestamp, &mut self.out)
                .unwrap();
            self.next += 1;
        }
        self.opus_frames += self.out.len() as u64;
        black_box(&self.out);
        self.out.clear();
    }
}

/// Nanoseconds this thread has spent on a CPU.
fn thread_cpu_ns() -> u64 {
    let schedstat = std::fs::read_to_string("/proc/thread-self/schedstat").unwrap();
    schedstat
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

fn transcode(c: &mut Criterion) {
    let streams = [
        Stream::from_adts("stereo_44k1", STEREO_44K1),
        Stream::from_adts("mono_48k", MONO_48K),
    ];
    let mut group = c.benchmark_group("aac_to_opus/one_second");
    for stream in &streams {
        let mut publisher = Publisher::new(stream);
        group.bench_function(stream.name, |b| {
            b.iter(|| publisher.push(stream.frames_per_second()))
        });

        // A second first, so the decoder's first-frame set-up is not counted.
        let mut publisher = Publisher::new(stream);
        publisher.push(stream.frames_per_second());
        publisher.opus_frames = 0;
        let frames = stream.frames_per_second() * CPU_SECONDS as usize;
        let allocations = counting::allocations();
        let cpu = thread_cpu_ns();
        let started = Instant::now();
        for _ in 0..CPU_SECONDS {
            publisher.push(stream.frames_per_second());
        }
        let wall = started.elapsed();
        let cpu = Duration::from_nanos(thread_cpu_ns() - cpu);
        let allocations = counting::allocations() - allocations;
        let audio = stream.seconds(frames);
        eprintln!(
            "aac_to_opus/{}: {:.2} ms CPU per second of audio ({:.2}% of one core; wall {:.2} ms), \
             {:.2} allocations per Opus frame, over {audio:.1} s of audio",
            stream.name,
            cpu.as_secs_f64() * 1000.0 / audio,
            cpu.as_secs_f64() * 100.0 / audio,
            wall.as_secs_f64() * 1000.0 / audio,
            allocations as f64 / publisher.opus_frames as f64,
        );
    }
    group.finish();
}

/// Decodes one second of the stereo file into planes, the resampler's
/// input.
fn decode_second(decoder: &mut AacDecoder, stream: &Stream, planes: &mut [Vec<f32>]) {
    for plane in planes.iter_mut() {
        plane.clear();
    }
    for frame in &stream.frames[..stream.frames_per_second()] {
        let packet = PacketRef::new(0, Timestamp::new(0), PacketDuration::new(0), frame);
        let GenericAudioBufferRef::F32(decoded) = decoder.decode_ref(&packet).unwrap() else {
            panic!("symphonia's AAC decoder gives f32");
        };
        for (channel, plane) in planes.iter_mut().enumerate() {
            plane.extend_from_slice(decoded.plane(channel).unwrap());
        }
    }
}

/// Resamples the planes chunk by chunk, as `AacToOpus` does, into
/// interleaved 48 kHz samples.
fn resample_second(
    resampler: &mut Fft<f32>,
    planes: &[Vec<f32>],
    resampled: &mut [f32],
    interleaved_48k: &mut Vec<f32>,
) {
    interleaved_48k.clear();
    let channels = planes.len();
    let input_frames = planes[0].len();
    let input = SequentialSliceOfVecs::new(planes, channels, input_frames).unwrap();
    let out_frames = resampled.len() / channels;
    let mut offset = 0;
    while offset + AAC_FRAME <= input_frames {
        let mut output = InterleavedSlice::new_mut(&mut *resampled, channels, out_frames).unwrap();
        let indexing = rubato::Indexing::new().input_offset(offset);
        let (read, written) = resampler
            .process_into_buffer(&input, &mut output, Some(&indexing))
            .unwrap();
        offset += read;
        interleaved_48k.extend_from_slice(&resampled[..written * channels]);
    }
}

fn stages(c: &mut Criterion) {
    let stream = Stream::from_adts("stereo_44k1", STEREO_44K1);
    let mut parameters = AudioCodecParameters::new();
    parameters
        .for_codec(CODEC_ID_AAC)
        .with_sample_rate(stream.rate)
        .with_channels(Channels::Discrete(stream.channels as u16));
    let mut decoder = AacDecoder::try_new(&parameters, &AudioDecoderOptions::default()).unwrap();
    let mut planes = vec![Vec::new(); stream.channels];
    let mut group = c.benchmark_group("aac_to_opus/one_second_stage");

    group.bench_function("aac_decode_stereo_44k1", |b| {
        b.iter(|| decode_second(&mut decoder, &stream, &mut planes))
    });

    decode_second(&mut decoder, &stream, &mut planes);
    let mut resampler = Fft::<f32>::new(
        stream.rate as usize,
        48_000,
        AAC_FRAME,
        stream.channels,
        FixedSync::Input,
    )
    .unwrap();
    let mut resampled = vec![0.0f32; resampler.output_frames_max() * stream.channels];
    let mut interleaved_48k = Vec::new();
    resample_second(
        &mut resampler,
        &planes,
        &mut resampled,
        &mut interleaved_48k,
    );
    group.bench_function("resample_stereo_44k1_to_48k", |b| {
        b.iter(|| {
            resample_second(
                &mut resampler,
                &planes,
                &mut resampled,
                &mut interleaved_48k,
            )
        })
    });

    let mut encoder =
        opus::Encoder::new(48_000, opus::Channels::Stereo, opus::Application::Audio).unwrap();
    encoder.set_bitrate(opus::Bitrate::Bits(96_000)).unwrap();
    let mut packet = vec![0u8; 4000];
    let opus_frame = OPUS_FRAME_SAMPLES * stream.channels;
    group.bench_function("opus_encode_stereo_96k", |b| {
        b.iter(|| {
            for samples in interleaved_48k.chunks_exact(opus_frame).take(50) {
                black_box(encoder.encode_float(samples, &mut packet).unwrap());
            }
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = transcode, stages
}
criterion_main!(benches);
