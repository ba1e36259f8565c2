//! Real files from the shipped clips, read back by FFmpeg: the H.264 clip
//! with Opus, AAC alone, and H.264 with stereo 44.1 kHz AAC, each written as
//! an initialization segment and fragments of half a second (a keyframe
//! leads every other one), then checked with `ffprobe -count_frames` and
//! decoded with `ffmpeg -f null`, which must print no error.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "a failed unwrap or index in a test is a failed test"
)]

use std::path::{Path, PathBuf};
use std::process::Command;

use codec::cmaf::{self, AudioConfig, Sample, TrackConfig, VIDEO_TIMESCALE, VideoConfig};
use codec::h264::Sps;
use serde_json::Value;

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/data/");
const FFPROBE: &str = "/usr/bin/ffprobe";
const FFMPEG: &str = "/usr/bin/ffmpeg";
/// 30 fps at 90 kHz.
const FRAME_DURATION: u32 = 3000;
/// Video frames per fragment: half a second.
const FRAMES_PER_FRAGMENT: usize = 15;

/// One track's samples, owning their bytes.
struct Track {
    /// Sample data and duration, in order from decode time 0.
    samples: Vec<(Vec<u8>, u32, bool)>,
    timescale: u32,
}

impl Track {
    fn duration(&self) -> u64 {
        self.samples.iter().map(|s| u64::from(s.1)).sum()
    }
}

/// NAL units of an Annex B stream, start codes (and trailing zeros) removed.
fn annex_b_nal_units(stream: &[u8]) -> Vec<&[u8]> {
    let mut starts = Vec::new();
    let mut i = 0;
    while i + 3 <= stream.len() {
        if stream[i..i + 3] == [0, 0, 1] {
            starts.push(i + 3);
            i += 3;
        } else {
            i += 1;
        }
    }
    let mut nals = Vec::new();
    for (n, &start) in starts.iter().enumerate() {
        let mut end = starts.get(n + 1).map_or(stream.len(), |&next| next - 3);
        while end > start && stream[end - 1] == 0 {
            end -= 1;
        }
        if end > start {
            nals.push(&stream[start..end]);
        }
    }
    nals
}

/// The clip's SPS and PPS, and its access units as AVCC without parameter
/// sets or delimiters: a new access unit starts at a slice whose
/// first_mb_in_slice is 0 (the first bit of its header, ue(v) 0 is "1").
fn h264_clip() -> (VideoConfig, Track) {
    let stream = std::fs::read(format!("{DATA}testsrc-320x240-30fps-baseline-gop30.h264")).unwrap();
    let mut sps = None;
    let mut pps = None;
    let mut units: Vec<(Vec<u8>, bool)> = Vec::new();
    // SEI and other non-VCL units before a first slice open its access unit.
    let mut pending: Vec<&[u8]> = Vec::new();
    for nal in annex_b_nal_units(&stream) {
        let kind = nal[0] & 0x1f;
        let first_slice = nal.get(1).is_some_and(|b| b & 0x80 != 0);
        match kind {
            7 => sps = sps.or(Some(nal.to_vec())),
            8 => pps = pps.or(Some(nal.to_vec())),
            9 => {}
            1 | 5 => {
                if first_slice || units.is_empty() {
                    units.push((Vec::new(), false));
                }
                let (data, keyframe) = units.last_mut().unwrap();
                for unit in pending.drain(..).chain([nal]) {
                    data.extend_from_slice(&u32::try_from(unit.len()).unwrap().to_be_bytes());
                    data.extend_from_slice(unit);
                }
                *keyframe |= kind == 5;
            }
            _ => pending.push(nal),
        }
    }
    assert!(pending.is_empty(), "NAL units after the last slice");
    let sps = sps.expect("the clip has an SPS");
    let parsed = Sps::parse(&sps).unwrap();
    let config = VideoConfig {
        sps,
        pps: pps.expect("the clip has a PPS"),
        width: parsed.width,
        height: parsed.height,
    };
    let samples = units
        .into_iter()
        .map(|(data, keyframe)| (data, FRAME_DURATION, keyframe))
        .collect();
    let track = Track {
        samples,
        timescale: VIDEO_TIMESCALE,
    };
    (config, track)
}

/// Samples at 48 kHz in one Opus packet, from its TOC (RFC 6716 §3.1).
fn opus_packet_duration(packet: &[u8]) -> u32 {
    let toc = packet[0];
    let config = toc >> 3;
    let frame = match config {
        0..=11 => [480, 960, 1920, 2880][usize::from(config % 4)],
        12..=15 => [480, 960][usize::from(config % 2)],
        _ => [120, 240, 480, 960][usize::from(config % 4)],
    };
    let frames = match toc & 0x03 {
        0 => 1,
        1 | 2 => 2,
        _ => u32::from(packet[1] & 0x3f),
    };
    frame * frames
}

/// The Opus packets of the Ogg clip and its channel count (from OpusHead).
fn opus_clip() -> (u8, Track) {
    let ogg = std::fs::read(format!("{DATA}sine-440hz-48k-20ms.opus")).unwrap();
    let mut packets = Vec::new();
    let mut partial = Vec::new();
    let mut at = 0;
    while at + 27 <= ogg.len() && ogg[at..].starts_with(b"OggS") {
        let segments = usize::from(ogg[at + 26]);
        let mut body = at + 27 + segments;
        for &lacing in &ogg[at + 27..at + 27 + segments] {
            partial.extend_from_slice(&ogg[body..body + usize::from(lacing)]);
            body += usize::from(lacing);
            if lacing < 255 {
                packets.push(std::mem::take(&mut partial));
            }
        }
        at = body;
    }
    assert_eq!(at, ogg.len(), "the Ogg file parses to its end");
    let head = packets.remove(0);
    assert!(head.starts_with(b"OpusHead"));
    let channels = head[9];
    let tags = packets.remove(0);
    assert!(tags.starts_with(b"OpusTags"));
    let samples = packets
        .into_iter()
        .map(|packet| {
            let duration = opus_packet_duration(&packet);
            (packet, duration, true)
        })
        .collect();
    let track = Track {
        samples,
        timescale: 48_000,
    };
    (channels, track)
}

/// Raw AAC frames of an ADTS file (ISO/IEC 14496-3 §1.A.2), and the
/// AudioSpecificConfig built from its first header.
fn aac_clip(name: &str) -> (AudioConfig, Track) {
    const RATES: [u32; 13] = [
        96_000, 88_200, 64_000, 48_000, 44_100, 32_000, 24_000, 22_050, 16_000, 12_000, 11_025,
        8_000, 7_350,
    ];
    let adts = std::fs::read(format!("{DATA}{name}")).unwrap();
    let mut frames = Vec::new();
    let mut first_header = None;
    let mut at = 0;
    while at < adts.len() {
        let header = &adts[at..at + 7];
        assert_eq!(header[0], 0xff, "ADTS sync at {at}");
        assert_eq!(header[1] & 0xf6, 0xf0, "ADTS sync, MPEG-4, layer 0 at {at}");
        let protection_absent = header[1] & 0x01 == 1;
        let header_len = if protection_absent { 7 } else { 9 };
        let frame_len = (usize::from(header[3] & 0x03) << 11)
            | (usize::from(header[4]) << 3)
            | usize::from(header[5] >> 5);
        assert_eq!(header[6] & 0x03, 0, "one raw data block per ADTS frame");
        first_header.get_or_insert([header[2], header[3]]);
        frames.push(adts[at + header_len..at + frame_len].to_vec());
        at += frame_len;
    }
    let [b2, b3] = first_header.unwrap();
    let object_type = (b2 >> 6) + 1;
    let rate_index = (b2 >> 2) & 0x0f;
    let channels = ((b2 & 0x01) << 2) | (b3 >> 6);
    let audio_specific_config = vec![
        (object_type << 3) | (rate_index >> 1),
        ((rate_index & 1) << 7) | (channels << 3),
    ];
    let sample_rate = RATES[usize::from(rate_index)];
    let config = AudioConfig::Aac {
        audio_specific_config,
        sample_rate,
        channels,
    };
    let samples = frames.into_iter().map(|f| (f, 1024, true)).collect();
    let track = Track {
        samples,
        timescale: sample_rate,
    };
    (config, track)
}

/// `track`'s samples from index `from` with decode times, up to (not
/// including) `end_seconds` given as a fraction `numerator / denominator`,
/// or all that remain when `end` is `None`.
fn take_until<'t>(
    track: &'t Track,
    from: &mut usize,
    time: &mut u64,
    end: Option<(u64, u64)>,
) -> Vec<Sample<'t>> {
    let mut out = Vec::new();
    while let Some((data, duration, keyframe)) = track.samples.get(*from) {
        if let Some((numerator, denominator)) = end {
            // time / timescale < numerator / denominator
            if u128::from(*time) * u128::from(denominator)
                >= u128::from(numerator) * u128::from(track.timescale)
            {
                break;
            }
        }
        out.push(Sample {
            decode_time: *time,
            duration: *duration,
            composition_offset: 0,
            keyframe: *keyframe,
            data,
        });
        *time += u64::from(*duration);
        *from += 1;
    }
    out
}

/// Init segment then fragments: a fragment per 15 video frames (or half a
/// second of audio when there is no video), audio cut at the same times.
fn write_file(
    name: &str,
    config: &TrackConfig,
    video: Option<&Track>,
    audio: Option<&Track>,
) -> PathBuf {
    let mut file = cmaf::init_segment(config).unwrap();
    let (mut video_at, mut video_time) = (0, 0);
    let (mut audio_at, mut audio_time) = (0, 0);
    let mut sequence_number = 1;
    loop {
        let video_samples = match video {
            Some(track) => {
                let end = (video_at + FRAMES_PER_FRAGMENT).min(track.samples.len());
                let end_time = u64::try_from(end).unwrap() * u64::from(FRAME_DURATION);
                let last = end == track.samples.len();
                take_until(
                    track,
                    &mut video_at,
                    &mut video_time,
                    (!last).then_some((end_time, u64::from(VIDEO_TIMESCALE))),
                )
            }
            None => Vec::new(),
        };
        let audio_samples = match audio {
            Some(track) => {
                let end = match video {
                    Some(video) if video_at < video.samples.len() => {
                        Some((video_time, u64::from(VIDEO_TIMESCALE)))
                    }
                    Some(_) => None,
                    None => Some((u64::from(sequence_number), 2)),
                };
                take_until(track, &mut audio_at, &mut audio_time, end)
            }
            None => Vec::new(),
        };
        if video_samples.is_empty() && audio_samples.is_empty() {
            break;
        }
        if let Some(first) = video_samples.first() {
            // Fragments alternate: keyframe-led at each second, not between.
            let index = usize::try_from(first.decode_time / u64::from(FRAME_DURATION)).unwrap();
            assert_eq!(first.keyframe, index % 30 == 0, "fragment at frame {index}");
        }
        let fragment = cmaf::fragment(sequence_number, &video_samples, &audio_samples).unwrap();
        file.extend_from_slice(&fragment);
        sequence_number += 1;
    }
    assert!(
        sequence_number > 3,
        "more than a couple of fragments written"
    );
    let path =
        std::env::temp_dir().join(format!("waveguide-cmaf-{}-{name}.mp4", std::process::id()));
    std::fs::write(&path, file).unwrap();
    path
}

fn require(tool: &str) {
    assert!(
        Path::new(tool).exists(),
        "{tool} is missing: install Debian's ffmpeg package (apt-get install ffmpeg) to run the CMAF checks"
    );
}

/// `ffprobe -count_frames -show_streams -show_format -of json` on `path`.
fn ffprobe(path: &Path) -> Value {
    require(FFPROBE);
    let output = Command::new(FFPROBE)
        .args([
            "-v",
            "error",
            "-count_frames",
            "-show_streams",
            "-show_format",
            "-of",
            "json",
        ])
        .arg(path)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "ffprobe failed: {stderr}");
    assert!(stderr.trim().is_empty(), "ffprobe complained: {stderr}");
    serde_json::from_slice(&output.stdout).unwrap()
}

/// Decodes all of `path` with `ffmpeg -v error -f null`; it must print nothing.
fn assert_decodes_cleanly(path: &Path) {
    require(FFMPEG);
    let output = Command::new(FFMPEG)
        .args(["-nostdin", "-v", "error", "-i"])
        .arg(path)
        .args(["-f", "null", "-"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "ffmpeg failed: {stderr}");
    assert!(stderr.trim().is_empty(), "ffmpeg printed errors: {stderr}");
}

fn stream<'v>(probe: &'v Value, codec_type: &str) -> &'v Value {
    let streams = probe["streams"].as_array().unwrap();
    let matching: Vec<&Value> = streams
        .iter()
        .filter(|s| s["codec_type"] == codec_type)
        .collect();
    assert_eq!(matching.len(), 1, "one {codec_type} stream in {probe}");
    matching[0]
}

fn number(value: &Value) -> f64 {
    value
        .as_str()
        .unwrap_or_else(|| panic!("not a string: {value}"))
        .parse()
        .unwrap()
}

fn count(value: &Value) -> usize {
    value
        .as_str()
        .unwrap_or_else(|| panic!("not a string: {value}"))
        .parse()
        .unwrap()
}

fn seconds(track: &Track) -> f64 {
    track.duration() as f64 / f64::from(track.timescale)
}

#[test]
fn h264_and_opus_fragments_play_in_ffmpeg() {
    let (video_config, video) = h264_clip();
    let (channels, audio) = opus_clip();
    assert_eq!(video.samples.len(), 90, "the clip has 90 access units");
    let config = TrackConfig {
        video: Some(video_config),
        audio: Some(AudioConfig::Opus { channels }),
    };
    let path = write_file("h264-opus", &config, Some(&video), Some(&audio));
    let probe = ffprobe(&path);

    let v = stream(&probe, "video");
    assert_eq!(v["codec_name"], "h264");
    assert_eq!(
        (v["width"].as_u64(), v["height"].as_u64()),
        (Some(320), Some(240))
    );
    assert_eq!(count(&v["nb_read_frames"]), video.samples.len());
    let frame = 1.0 / 30.0;
    assert!(
        (number(&v["duration"]) - seconds(&video)).abs() <= frame,
        "video duration {}",
        v["duration"]
    );

    let a = stream(&probe, "audio");
    assert_eq!(a["codec_name"], "opus");
    assert_eq!(a["sample_rate"], "48000");
    assert_eq!(a["channels"].as_u64(), Some(u64::from(channels)));
    assert_eq!(count(&a["nb_read_frames"]), audio.samples.len());
    assert!(
        (number(&a["duration"]) - seconds(&audio)).abs() <= 0.020,
        "audio duration {}",
        a["duration"]
    );

    let longest = seconds(&video).max(seconds(&audio));
    let format = number(&probe["format"]["duration"]);
    assert!(
        (format - longest).abs() <= frame,
        "file duration {format}, media {longest}"
    );

    assert_decodes_cleanly(&path);
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn aac_alone_reads_as_aac() {
    let (audio_config, audio) = aac_clip("sine-440hz-48k-mono-2s.aac");
    assert_eq!(
        audio_config,
        AudioConfig::Aac {
            audio_specific_config: vec![0x11, 0x88],
            sample_rate: 48_000,
            channels: 1
        }
    );
    let config = TrackConfig {
        video: None,
        audio: Some(audio_config),
    };
    assert_eq!(cmaf::codecs(&config), "mp4a.40.2");
    let path = write_file("aac", &config, None, Some(&audio));
    let probe = ffprobe(&path);

    let a = stream(&probe, "audio");
    assert_eq!(a["codec_name"], "aac");
    assert_eq!(a["profile"], "LC");
    assert_eq!(a["sample_rate"], "48000");
    assert_eq!(a["channels"].as_u64(), Some(1));
    assert_eq!(count(&a["nb_read_frames"]), audio.samples.len());
    let frame = 1024.0 / 48_000.0;
    assert!(
        (number(&a["duration"]) - seconds(&audio)).abs() <= frame,
        "audio duration {}",
        a["duration"]
    );

    assert_decodes_cleanly(&path);
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn h264_and_stereo_44k1_aac_keep_their_own_timescales() {
    let (video_config, video) = h264_clip();
    let (audio_config, audio) = aac_clip("sine-440hz-left-880hz-right-44k1-2s.aac");
    assert_eq!(audio_config.timescale(), 44_100);
    let config = TrackConfig {
        video: Some(video_config),
        audio: Some(audio_config),
    };
    assert_eq!(cmaf::codecs(&config), "avc1.42c01e,mp4a.40.2");
    let path = write_file("h264-aac", &config, Some(&video), Some(&audio));
    let probe = ffprobe(&path);

    let v = stream(&probe, "video");
    assert_eq!(count(&v["nb_read_frames"]), video.samples.len());
    let a = stream(&probe, "audio");
    assert_eq!(a["codec_name"], "aac");
    assert_eq!(a["sample_rate"], "44100");
    assert_eq!(a["channels"].as_u64(), Some(2));
    assert_eq!(count(&a["nb_read_frames"]), audio.samples.len());
    let frame = 1024.0 / 44_100.0;
    assert!(
        (number(&a["duration"]) - seconds(&audio)).abs() <= frame,
        "audio duration {}",
        a["duration"]
    );

    assert_decodes_cleanly(&path);
    std::fs::remove_file(&path).unwrap();
}
