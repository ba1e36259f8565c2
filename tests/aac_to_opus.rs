//! AacToOpus on real AAC-LC made by FFmpeg: ADTS files split into raw
//! frames (what RTMP carries) with the AudioSpecificConfig rebuilt from the
//! ADTS header, transcoded, and the Opus decoded again with libopus to check
//! length, timestamps, channels and pitch; corrupt frames, hostile frames
//! and timestamp jumps; and AudioSpecificConfigs written bit by bit, the
//! ones refused with the exact error.
//!
//! The data files were made with Debian 12's FFmpeg 5.1 and its native AAC
//! encoder:
//!
//! ```text
//! ffmpeg -f lavfi -i "sine=frequency=440:sample_rate=44100:duration=2" \
//!   -f lavfi -i "sine=frequency=880:sample_rate=44100:duration=2" \
//!   -filter_complex "[0:a][1:a]join=inputs=2:channel_layout=stereo" \
//!   -c:a aac -b:a 96k -f adts tests/data/sine-440hz-left-880hz-right-44k1-2s.aac
//! ffmpeg -f lavfi -i "sine=frequency=440:sample_rate=48000:duration=2" \
//!   -ac 1 -c:a aac -b:a 64k -f adts tests/data/sine-440hz-48k-mono-2s.aac
//! ```

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test's set-up failure is a failed test"
)]

use waveguide::inputs::rtmp::aac_to_opus::{
    AacToOpus, MAX_CONCEALED_FRAMES, OPUS_FRAME_SAMPLES, OPUS_RATE, OpusFrame, RESYNC_THRESHOLD_MS,
    TranscodeError,
};

/// Left 440 Hz, right 880 Hz, 44.1 kHz, 2 s.
const STEREO_44K1: &[u8] = include_bytes!("data/sine-440hz-left-880hz-right-44k1-2s.aac");
/// 440 Hz, 48 kHz mono, 2 s.
const MONO_48K: &[u8] = include_bytes!("data/sine-440hz-48k-mono-2s.aac");

/// Samples per channel in one AAC-LC frame.
const AAC_FRAME: u64 = 1024;

/// An ADTS file as RTMP would carry it.
struct Adts<'a> {
    audio_specific_config: [u8; 2],
    sample_rate: u32,
    frames: Vec<&'a [u8]>,
}

/// Splits ADTS (ISO/IEC 13818-7 §6.2) into raw frames, dropping each 7-byte
/// header (9 with a CRC); the AudioSpecificConfig is the first header's
/// profile + 1 (object type), sampling frequency index and channels.
fn split_adts(mut bytes: &[u8]) -> Adts<'_> {
    const RATES: [u32; 13] = [
        96_000, 88_200, 64_000, 48_000, 44_100, 32_000, 24_000, 22_050, 16_000, 12_000, 11_025,
        8_000, 7_350,
    ];
    let mut frames = Vec::new();
    let mut config = None;
    while !bytes.is_empty() {
        let header = &bytes[..7];
        assert_eq!(header[0], 0xff, "ADTS sync");
        assert_eq!(header[1] & 0xf0, 0xf0, "ADTS sync");
        assert_eq!(header[6] & 0x03, 0, "one raw data block per ADTS frame");
        let header_len = if header[1] & 1 == 1 { 7 } else { 9 };
        let frame_len = (usize::from(header[3] & 0x03) << 11)
            | (usize::from(header[4]) << 3)
            | usize::from(header[5] >> 5);
        let object_type = (header[2] >> 6) + 1;
        let rate_index = (header[2] >> 2) & 0x0f;
        let channels = ((header[2] & 1) << 2) | (header[3] >> 6);
        config.get_or_insert((
            [
                (object_type << 3) | (rate_index >> 1),
                ((rate_index & 1) << 7) | (channels << 3),
            ],
            RATES[usize::from(rate_index)],
        ));
        frames.push(&bytes[header_len..frame_len]);
        bytes = &bytes[frame_len..];
    }
    let (audio_specific_config, sample_rate) = config.expect("at least one ADTS frame");
    Adts {
        audio_specific_config,
        sample_rate,
        frames,
    }
}

/// Frame `index`'s RTMP timestamp: its start in whole milliseconds, as
/// FFmpeg's FLV muxer writes it, from `start_ms`.
fn rtmp_timestamp(start_ms: u32, index: usize, rate: u32) -> u32 {
    start_ms + (index as u64 * AAC_FRAME * 1000 / u64::from(rate)) as u32
}

/// Every frame pushed in order from `start_ms`; errors are test failures.
fn transcode(adts: &Adts<'_>, start_ms: u32) -> (AacToOpus, Vec<OpusFrame>) {
    let mut transcoder = AacToOpus::new(&adts.audio_specific_config).unwrap();
    let mut out = Vec::new();
    for (index, frame) in adts.frames.iter().enumerate() {
        let timestamp = rtmp_timestamp(start_ms, index, adts.sample_rate);
        transcoder.push(frame, timestamp, &mut out).unwrap();
    }
    (transcoder, out)
}

/// The Opus frames decoded by libopus, one sample vector per channel.
fn decode(frames: &[OpusFrame], channels: u16) -> Vec<Vec<f32>> {
    let layout = if channels == 1 {
        opus::Channels::Mono
    } else {
        opus::Channels::Stereo
    };
    let mut decoder = opus::Decoder::new(OPUS_RATE, layout).unwrap();
    let channels = usize::from(channels);
    let mut planes = vec![Vec::new(); channels];
    let mut interleaved = vec![0.0f32; OPUS_FRAME_SAMPLES * channels];
    for frame in frames {
        assert_eq!(opus::packet::get_nb_channels(&frame.data).unwrap(), layout);
        let samples = decoder
            .decode_float(&frame.data, &mut interleaved, false)
            .unwrap();
        assert_eq!(samples, OPUS_FRAME_SAMPLES, "20 ms per Opus frame");
        for (index, sample) in interleaved.iter().enumerate() {
            planes[index % channels].push(*sample);
        }
    }
    planes
}

/// The frequency of a tone from its rising zero crossings.
fn pitch(samples: &[f32]) -> f64 {
    let rising = samples
        .windows(2)
        .filter(|pair| pair[0] < 0.0 && pair[1] >= 0.0)
        .count();
    rising as f64 * f64::from(OPUS_RATE) / samples.len() as f64
}

fn rms(samples: &[f32]) -> f64 {
    let energy: f64 = samples.iter().map(|s| f64::from(*s).powi(2)).sum();
    (energy / samples.len() as f64).sqrt()
}

/// Checks `samples[from..to]` is a clean tone of `frequency` at FFmpeg's
/// sine amplitude (1/8, so an RMS of 0.088).
fn assert_tone(samples: &[f32], from: usize, to: usize, frequency: f64) {
    let window = &samples[from..to];
    let measured = pitch(window);
    assert!(
        (measured - frequency).abs() < frequency * 0.01,
        "pitch {measured:.1} Hz, want {frequency} Hz"
    );
    let level = rms(window);
    assert!((0.07..0.11).contains(&level), "RMS {level:.3}");
}

fn assert_contiguous(frames: &[OpusFrame], first: u32) {
    for (index, frame) in frames.iter().enumerate() {
        let expected = first.wrapping_add(index as u32 * OPUS_FRAME_SAMPLES as u32);
        assert_eq!(frame.timestamp, expected, "frame {index}");
    }
}

/// The output covers the input, short by at most the samples still held
/// for the next Opus frame and in the resampler's block (under 10 ms).
fn assert_same_length(adts: &Adts<'_>, frames: &[OpusFrame]) {
    let input_ticks =
        adts.frames.len() as u64 * AAC_FRAME * u64::from(OPUS_RATE) / u64::from(adts.sample_rate);
    let output_ticks = frames.len() as u64 * OPUS_FRAME_SAMPLES as u64;
    assert!(
        output_ticks <= input_ticks,
        "{output_ticks} > {input_ticks}"
    );
    let held = input_ticks - output_ticks;
    assert!(
        held < OPUS_FRAME_SAMPLES as u64 + 480,
        "{held} ticks of {input_ticks} missing"
    );
}

#[test]
fn stereo_44k1_becomes_stereo_opus_of_the_same_length_timing_and_pitch() {
    let adts = split_adts(STEREO_44K1);
    assert_eq!(
        adts.audio_specific_config,
        [0x12, 0x10],
        "AAC-LC 44.1 kHz stereo"
    );
    let (transcoder, frames) = transcode(&adts, 1000);
    assert_eq!(
        (transcoder.channels(), transcoder.input_rate()),
        (2, 44_100)
    );
    assert_contiguous(&frames, 1000 * 48);
    assert_same_length(&adts, &frames);
    let planes = decode(&frames, 2);
    // Skip the first 100 ms (the encoders' start-up) and the last 100 ms
    // (FFmpeg's fade out of the last frame).
    let (from, to) = (4800, planes[0].len() - 4800);
    assert_tone(&planes[0], from, to, 440.0);
    assert_tone(&planes[1], from, to, 880.0);
}

#[test]
fn mono_48k_stays_mono() {
    let adts = split_adts(MONO_48K);
    assert_eq!(
        adts.audio_specific_config,
        [0x11, 0x88],
        "AAC-LC 48 kHz mono"
    );
    let (transcoder, frames) = transcode(&adts, 0);
    assert_eq!(
        (transcoder.channels(), transcoder.input_rate()),
        (1, 48_000)
    );
    assert_contiguous(&frames, 0);
    assert_same_length(&adts, &frames);
    let planes = decode(&frames, 1);
    assert_eq!(planes.len(), 1);
    assert_tone(&planes[0], 4800, planes[0].len() - 4800, 440.0);
}

/// The frame of `adts` that the corrupt-frame tests break.
const CORRUPT: usize = 40;

/// Transcodes `adts` with frame [`CORRUPT`] cut to its first 3 bytes (its
/// first channel element stops short): that push alone fails, and adds
/// nothing.
fn transcode_with_a_corrupt_frame(adts: &Adts<'_>) -> Vec<OpusFrame> {
    let mut transcoder = AacToOpus::new(&adts.audio_specific_config).unwrap();
    let mut frames = Vec::new();
    for (index, frame) in adts.frames.iter().enumerate() {
        let timestamp = rtmp_timestamp(0, index, adts.sample_rate);
        if index == CORRUPT {
            let before = frames.len();
            let error = transcoder
                .push(&frame[..3], timestamp, &mut frames)
                .unwrap_err();
            assert!(
                matches!(error, TranscodeError::UndecodableFrame(_)),
                "{error}"
            );
            assert_eq!(frames.len(), before, "nothing out on an error");
        } else {
            transcoder.push(frame, timestamp, &mut frames).unwrap();
        }
    }
    frames
}

/// Where the corrupt frame's silence starts in `plane`, in samples after
/// where the frame starts on the 48 kHz timeline.
fn silence_offset(adts: &Adts<'_>, plane: &[f32]) -> isize {
    let hole = CORRUPT * 1024 * OPUS_RATE as usize / adts.sample_rate as usize;
    let start = (hole - 960..hole + 1920)
        .find(|&at| rms(&plane[at..at + 96]) < 0.01)
        .expect("a silent stretch where the lost frame was");
    start as isize - hole as isize
}

#[test]
fn a_corrupt_frame_is_an_error_for_that_frame_only_and_becomes_silence() {
    let adts = split_adts(STEREO_44K1);
    let (_, clean) = transcode(&adts, 0);
    let frames = transcode_with_a_corrupt_frame(&adts);
    assert_eq!(frames.len(), clean.len(), "the lost frame became silence");
    assert_contiguous(&frames, 0);
    let planes = decode(&frames, 2);
    let hole = CORRUPT * 1024 * 48_000 / 44_100;
    // The silence shows after libopus's 312-sample (6.5 ms) codec delay.
    let silence = rms(&planes[0][hole + 520..hole + 1400]);
    assert!(silence < 0.02, "RMS {silence:.3} where the lost frame was");
    assert_tone(&planes[0], hole + 4800, planes[0].len() - 4800, 440.0);
    assert_tone(&planes[1], hole + 4800, planes[1].len() - 4800, 880.0);
}

/// A lost frame's silence lands at the same place on the 48 kHz timeline
/// whether the input was resampled or not: the resampler's delay is
/// trimmed, so Opus timestamps say when the audio was captured.
#[test]
fn resampling_adds_no_delay() {
    let stereo = split_adts(STEREO_44K1);
    let mono = split_adts(MONO_48K);
    let resampled = silence_offset(
        &stereo,
        &decode(&transcode_with_a_corrupt_frame(&stereo), 2)[0],
    );
    let native = silence_offset(&mono, &decode(&transcode_with_a_corrupt_frame(&mono), 1)[0]);
    assert!(
        (resampled - native).abs() <= 24,
        "silence {resampled} samples in when resampled, {native} when not"
    );
}

#[test]
fn an_empty_frame_is_an_error_and_the_stream_goes_on() {
    let adts = split_adts(MONO_48K);
    let mut transcoder = AacToOpus::new(&adts.audio_specific_config).unwrap();
    let mut frames = Vec::new();
    let error = transcoder.push(&[], 0, &mut frames).unwrap_err();
    assert!(matches!(error, TranscodeError::EmptyFrame), "{error}");
    for (index, frame) in adts.frames.iter().enumerate().skip(1) {
        transcoder
            .push(frame, rtmp_timestamp(0, index, 48_000), &mut frames)
            .unwrap();
    }
    assert_contiguous(&frames, 0);
    assert_same_length(&adts, &frames);
}

#[test]
fn more_corrupt_frames_in_a_row_than_are_concealed_restart_the_timeline() {
    let adts = split_adts(MONO_48K);
    let mut transcoder = AacToOpus::new(&adts.audio_specific_config).unwrap();
    let mut frames = Vec::new();
    let lost = MAX_CONCEALED_FRAMES as usize + 1;
    for index in 0..adts.frames.len() {
        let timestamp = rtmp_timestamp(0, index, 48_000);
        let result = if (10..10 + lost).contains(&index) {
            transcoder.push(&[0x00, 0x00], timestamp, &mut frames)
        } else {
            transcoder.push(adts.frames[index], timestamp, &mut frames)
        };
        assert_eq!(
            result.is_err(),
            (10..10 + lost).contains(&index),
            "frame {index}"
        );
    }
    // The frame after MAX_CONCEALED_FRAMES lost in a row restarts the
    // timeline at its own timestamp; the lost frames before it are a gap.
    let resumed = rtmp_timestamp(0, 10 + MAX_CONCEALED_FRAMES as usize, 48_000) * 48;
    let step = frames
        .iter()
        .position(|frame| frame.timestamp == resumed)
        .expect("a frame at the resync");
    assert_contiguous(&frames[..step], 0);
    assert_contiguous(&frames[step..], resumed);
    assert_eq!(step, 10 * 1024 / 960, "the frames before the run, whole");
}

/// Bit flips, truncations and junk in every frame, mono and stereo: each
/// push returns, whatever comes out is Opus libopus decodes, and clean
/// frames after it transcode to the tone again.
#[test]
fn hostile_frames_never_panic_and_clean_frames_recover() {
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for file in [STEREO_44K1, MONO_48K] {
        let adts = split_adts(file);
        let mut transcoder = AacToOpus::new(&adts.audio_specific_config).unwrap();
        let channels = transcoder.channels();
        let mut frames = Vec::new();
        let mut errors = 0;
        let mut timestamp = 0u32;
        for _ in 0..10 {
            for frame in &adts.frames {
                let mut hostile = frame.to_vec();
                match next() % 3 {
                    0 => {
                        for _ in 0..1 + next() % 8 {
                            let bit = (next() % (hostile.len() as u64 * 8)) as usize;
                            hostile[bit / 8] ^= 1 << (bit % 8);
                        }
                    }
                    1 => hostile.truncate((next() % hostile.len() as u64) as usize),
                    _ => hostile.iter_mut().for_each(|byte| *byte = next() as u8),
                }
                let result = transcoder.push(&hostile, timestamp, &mut frames);
                errors += usize::from(result.is_err());
                timestamp += 23;
            }
            decode(&frames, channels);
            frames.clear();
        }
        assert!(errors > 0, "some junk must fail to decode");
        let resumed = timestamp + 10_000;
        for (index, frame) in adts.frames.iter().enumerate() {
            let at = rtmp_timestamp(resumed, index, adts.sample_rate);
            transcoder.push(frame, at, &mut frames).unwrap();
        }
        assert_contiguous(&frames, resumed * 48);
        let planes = decode(&frames, channels);
        assert_tone(&planes[0], 4800, planes[0].len() - 4800, 440.0);
    }
}

#[test]
fn a_timestamp_jump_resyncs_and_jitter_does_not() {
    let adts = split_adts(MONO_48K);
    // A frame with no jitter, so the jump alone decides.
    const JUMP_AT: usize = 51;
    for jump_ms in [5_000i64, -1_000, i64::from(RESYNC_THRESHOLD_MS) + 30] {
        let mut transcoder = AacToOpus::new(&adts.audio_specific_config).unwrap();
        let mut frames = Vec::new();
        let start = 10_000u32;
        for (index, frame) in adts.frames.iter().enumerate() {
            // ±40 ms of jitter everywhere, well inside the threshold.
            let jitter = [0i64, 40, -40][index % 3];
            let jump = if index >= JUMP_AT { jump_ms } else { 0 };
            let timestamp = i64::from(rtmp_timestamp(start, index, 48_000)) + jitter + jump;
            transcoder
                .push(frame, timestamp as u32, &mut frames)
                .unwrap();
        }
        let resynced = (i64::from(rtmp_timestamp(start, JUMP_AT, 48_000)) + jump_ms) as u32 * 48;
        let step = frames
            .iter()
            .position(|frame| frame.timestamp == resynced)
            .unwrap_or_else(|| panic!("no frame at the resync after a {jump_ms} ms jump"));
        assert_eq!(
            step,
            JUMP_AT * 1024 / 960,
            "{jump_ms} ms: frames before the jump"
        );
        assert_contiguous(&frames[..step], start * 48);
        assert_contiguous(&frames[step..], resynced);
        assert_eq!(
            frames.len() - step,
            (adts.frames.len() - JUMP_AT) * 1024 / 960,
            "{jump_ms} ms: frames after the jump"
        );
    }
}

#[test]
fn timestamps_wrap_with_rtmp_s_32_bit_clock() {
    let adts = split_adts(MONO_48K);
    let start = u32::MAX - 500;
    let mut transcoder = AacToOpus::new(&adts.audio_specific_config).unwrap();
    let mut frames = Vec::new();
    for (index, frame) in adts.frames.iter().enumerate() {
        let timestamp = start.wrapping_add((index as u64 * 1024 * 1000 / 48_000) as u32);
        transcoder.push(frame, timestamp, &mut frames).unwrap();
    }
    assert_contiguous(&frames, start.wrapping_mul(48));
    assert_same_length(&adts, &frames);
}

#[test]
fn the_transcoder_can_move_to_the_ingest_thread() {
    fn assert_send<T: Send>() {}
    assert_send::<AacToOpus>();
}

/// Each config bit by bit: object type (5 bits; 31 escapes to 32 + 6 more),
/// sampling frequency index (4; 15 means 24 explicit bits of rate), channel
/// configuration (4), then GASpecificConfig's frameLengthFlag (1).
#[test]
fn configs_other_than_aac_lc_mono_or_stereo_are_refused_precisely() {
    use TranscodeError as E;
    /// Whether an error is the one expected.
    type Expected = fn(&TranscodeError) -> bool;
    let cases: [(&[u8], Expected); 13] = [
        // 00101 (SBR) 0110 (24 kHz core) 0010 0011 (48 kHz) 00010 (LC core)
        (&[0x2b, 0x11, 0x88, 0x00], |e| matches!(e, E::HeAac(5))),
        // 11101 (PS), the rest as above.
        (&[0xeb, 0x11, 0x88, 0x00], |e| matches!(e, E::HeAac(29))),
        // 00001 (AAC Main) 0100 (44.1 kHz) 0010 (stereo) 0
        (&[0x0a, 0x10], |e| matches!(e, E::UnsupportedObjectType(1))),
        // 11111 001010: 32 + 10 = 42 (USAC).
        (&[0xf9, 0x48, 0x40], |e| {
            matches!(e, E::UnsupportedObjectType(42))
        }),
        // 00010 0100 0110 (5.1)
        (&[0x12, 0x30], |e| matches!(e, E::UnsupportedChannels(6))),
        // 00010 0100 0000 (layout in a program config element)
        (&[0x12, 0x00], |e| matches!(e, E::UnsupportedChannels(0))),
        // 00010 1101 (reserved index)
        (&[0x16, 0x90], |e| {
            matches!(e, E::ReservedSampleRateIndex(13))
        }),
        // 00010 1111, then 192000 in 24 bits
        (&[0x17, 0x81, 0x77, 0x00, 0x10], |e| {
            matches!(e, E::UnsupportedSampleRate(192_000))
        }),
        // 00010 0100 0010 1 (frameLengthFlag: 960-sample frames)
        (&[0x12, 0x14], |e| matches!(e, E::ShortFrames)),
        (&[], |e| matches!(e, E::TruncatedConfig(0))),
        (&[0x12], |e| matches!(e, E::TruncatedConfig(1))),
        // 11111 and only 3 of the 6 escape bits
        (&[0xf8], |e| matches!(e, E::TruncatedConfig(1))),
        // 00010 1111 and 15 of the 24 bits of rate
        (&[0x17, 0x80, 0x56], |e| matches!(e, E::TruncatedConfig(3))),
    ];
    for (config, expected) in cases {
        match AacToOpus::new(config) {
            Ok(_) => panic!("{config:02x?} was accepted"),
            Err(error) => assert!(expected(&error), "{config:02x?}: {error}"),
        }
    }
    let he_aac = AacToOpus::new(&[0x2b, 0x11, 0x88, 0x00]).err().unwrap();
    assert!(he_aac.to_string().contains("publish AAC-LC"), "{he_aac}");
}

#[test]
fn aac_lc_mono_and_stereo_at_standard_and_explicit_rates_are_accepted() {
    let cases: [(&[u8], u16, u32); 4] = [
        (&[0x12, 0x10], 2, 44_100),
        (&[0x11, 0x88], 1, 48_000),
        // 00010 1100 (7350 Hz) 0001 0
        (&[0x16, 0x08], 1, 7_350),
        // 00010 1111, 44100 in 24 bits, 0010 0; trailing bytes ignored.
        (&[0x17, 0x80, 0x56, 0x22, 0x10, 0x56, 0xe5], 2, 44_100),
    ];
    for (config, channels, rate) in cases {
        let transcoder = AacToOpus::new(config).unwrap();
        assert_eq!(
            (transcoder.channels(), transcoder.input_rate()),
            (channels, rate)
        );
    }
}
