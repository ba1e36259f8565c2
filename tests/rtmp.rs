//! RTMP in, WHEP out, with a real RTMP client no one here wrote: Debian's
//! FFmpeg publishes the shipped H.264 clip (copied as it is) with a 440 Hz
//! tone as AAC; str0m viewers get the clip's NAL units byte for byte and
//! Opus that decodes to the tone. A wrong key is refused; a second
//! publisher of the channel takes it over.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a failed unwrap in a test is a failed test"
)]

mod common;

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use codec::h264::depacketizer::Depacketizer;
use common::clients::{self, RecordingViewer};
use common::ffmpeg::{FfmpegPublisher, clip_path, rtmp_url};
use common::http;
use waveguide_load::negotiation::OfferedVideo;
use waveguide_load::rtmp_publisher::{RtmpPublisher, flv};

/// NAL unit types left out of the byte-for-byte comparison: parameter sets
/// (checked on their own), SEI and access unit delimiters (FFmpeg may add
/// or drop those between containers).
const NOT_COMPARED: [u8; 4] = [6, 7, 8, 9];

/// The clip's NAL units, in order, without start codes.
fn clip_nal_units() -> Vec<Vec<u8>> {
    let stream = std::fs::read(clip_path()).unwrap();
    waveguide_load::media::nal_units(&stream)
        .into_iter()
        .map(<[u8]>::to_vec)
        .collect()
}

/// The NAL units a viewer received, rebuilt from its video payloads in
/// sequence order.
fn received_nal_units(viewer: &RecordingViewer) -> Vec<Vec<u8>> {
    let mut video: Vec<_> = viewer.video().into_iter().collect();
    video.sort_by_key(|r| r.sequence);
    video.dedup_by_key(|r| r.sequence);
    let mut depacketizer = Depacketizer::default();
    let mut units = Vec::new();
    for packet in video {
        depacketizer
            .push(packet.sequence as u16, &packet.payload, |unit| {
                units.push(unit.to_vec())
            })
            .unwrap_or_else(|e| panic!("packet {}: {e}", packet.sequence));
    }
    units
}

fn nal_type(unit: &[u8]) -> u8 {
    unit[0] & 0x1f
}

/// Joins `channel` over WHEP and runs the viewer until `done` or `budget`.
fn watch(
    node: &waveguide::Node,
    channel: &str,
    budget: Duration,
    done: impl FnMut(&RecordingViewer) -> bool,
) -> RecordingViewer {
    let (mut viewer, offer) = clients::viewer();
    let response = http::whep_offer(node.http_addr(), channel, &offer);
    assert_eq!(response.status, 201, "{}", response.body);
    viewer.accept_answer(&response.body).unwrap();
    viewer.run(budget, done);
    viewer
}

fn wait_for_stream(node: &waveguide::Node) {
    common::wait_until_watchable(node, "123", || {
        std::thread::sleep(Duration::from_millis(50))
    });
}

#[test]
fn ffmpeg_publishes_over_rtmp_and_viewers_get_the_clip_byte_for_byte_and_opus_audio() {
    let node = common::start_node(2);
    let key = node.service().example_stream_key("123").unwrap();
    let _ffmpeg = FfmpegPublisher::start(&rtmp_url(&node, &key), 30, 44_100, 2);
    wait_for_stream(&node);
    let status = http::request(node.http_addr(), "GET", "/api/streams/123", &[], b"");
    assert_eq!(status.status, 200, "{}", status.body);
    let status: serde_json::Value = serde_json::from_str(&status.body).unwrap();
    assert_eq!(status["ingest"], "rtmp", "{status}");
    assert_eq!(status["video"]["width"], 320, "{status}");

    // About five seconds: more than one lap of the three-second clip.
    let viewer = watch(&node, "123", Duration::from_secs(20), |v| {
        v.audio().len() >= 200 && v.video().len() >= 500
    });

    let clip = clip_nal_units();
    let received = received_nal_units(&viewer);
    assert!(received.len() > 250, "{} NAL units", received.len());
    // Instant start: the first thing a viewer gets is a keyframe's SPS.
    assert_eq!(nal_type(&received[0]), 7, "the viewer starts at a keyframe");
    let (sps, pps) = (
        clip.iter().find(|u| nal_type(u) == 7).unwrap(),
        clip.iter().find(|u| nal_type(u) == 8).unwrap(),
    );
    for (n, unit) in received.iter().enumerate() {
        if nal_type(unit) == 5 && n > 0 && nal_type(&received[n - 1]) != 5 {
            let before: Vec<u8> = received[..n]
                .iter()
                .rev()
                .map(|u| nal_type(u))
                .filter(|t| *t != 6)
                .take(2)
                .collect();
            assert_eq!(before, [8, 7], "IDR slice {n} has SPS and PPS before it");
        }
        match nal_type(unit) {
            7 => assert_eq!(unit, sps, "SPS {n}"),
            8 => assert_eq!(unit, pps, "PPS {n}"),
            _ => {}
        }
    }
    let compared = |units: &[Vec<u8>]| -> Vec<Vec<u8>> {
        units
            .iter()
            .filter(|u| !NOT_COMPARED.contains(&nal_type(u)))
            .cloned()
            .collect()
    };
    let (clip, received) = (compared(&clip), compared(&received));
    let first = clip
        .iter()
        .position(|u| *u == received[0])
        .expect("the first slice received is one of the clip's");
    for (k, unit) in received.iter().enumerate() {
        assert!(
            *unit == clip[(first + k) % clip.len()],
            "slice {k} differs from the clip's slice {}",
            (first + k) % clip.len()
        );
    }

    // Audio: Opus, contiguous 20 ms frames, decoding to the 440 Hz tone.
    let mut audio: Vec<_> = viewer.audio().into_iter().collect();
    audio.sort_by_key(|r| r.sequence);
    for pair in audio.windows(2) {
        assert_eq!(
            pair[1].timestamp.wrapping_sub(pair[0].timestamp),
            960,
            "audio frames are contiguous 20 ms"
        );
    }
    let mut decoder = opus::Decoder::new(48_000, opus::Channels::Stereo).unwrap();
    let mut pcm: Vec<i16> = Vec::new();
    let mut frame = vec![0i16; 5760 * 2];
    for packet in &audio {
        let samples = decoder.decode(&packet.payload, &mut frame, false).unwrap();
        assert_eq!(samples, 960, "a 20 ms frame");
        pcm.extend(frame[..samples * 2].iter().step_by(2));
    }
    // Skip the codecs' start-up, then count zero crossings over 2 s.
    let tone = &pcm[9600..9600 + 96_000];
    let loud = tone.iter().filter(|s| s.unsigned_abs() > 1000).count();
    assert!(loud > tone.len() / 4, "the tone is audible");
    let crossings = tone.windows(2).filter(|w| (w[0] < 0) != (w[1] < 0)).count();
    assert!(
        (1720..=1800).contains(&crossings),
        "440 Hz has 1760 zero crossings in 2 s; the audio has {crossings}"
    );
    node.stop();
}

#[test]
fn an_ffmpeg_publish_with_a_wrong_key_fails() {
    let node = common::start_node(1);
    let mut ffmpeg = FfmpegPublisher::start(&rtmp_url(&node, "123-not-the-key"), 10, 48_000, 1);
    let (status, stderr) = ffmpeg
        .wait_exit(Duration::from_secs(10))
        .expect("ffmpeg gives up on a refused publish");
    assert!(!status.success(), "ffmpeg exits with an error: {stderr}");
    // FFmpeg logs the description of our error status.
    assert!(stderr.contains("invalid stream key"), "{stderr}");
    assert!(node.engine().stream("123").is_none());
    node.stop();
}

#[test]
fn a_second_rtmp_publisher_of_a_channel_takes_it_over() {
    let node = common::start_node(1);
    let key = node.service().example_stream_key("123").unwrap();
    let mut first = FfmpegPublisher::start(&rtmp_url(&node, &key), 30, 48_000, 1);
    wait_for_stream(&node);
    let old = node.engine().stream("123").unwrap().id();

    let _second = FfmpegPublisher::start(&rtmp_url(&node, &key), 30, 48_000, 1);
    let deadline = Instant::now() + Duration::from_secs(10);
    while node.engine().stream("123").is_none_or(|s| s.id() == old) {
        assert!(
            Instant::now() < deadline,
            "the second publisher never took over"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let (status, stderr) = first
        .wait_exit(Duration::from_secs(10))
        .expect("the first publisher is disconnected");
    assert!(!status.success(), "{stderr}");
    // The new stream plays.
    let viewer = watch(&node, "123", Duration::from_secs(10), |v| {
        v.video().len() >= 30
    });
    assert!(viewer.video().len() >= 30);
    node.stop();
}

#[test]
fn ffmpeg_publishes_over_rtmps_with_the_configured_certificate() {
    let (_, tls, dir) = common::self_signed("127.0.0.1", "rtmps");
    let node = common::start_node_with(1, |config| {
        config.rtmp.tls = Some(("127.0.0.1:0".parse().unwrap(), tls));
    });
    let key = node.service().example_stream_key("123").unwrap();
    let url = format!("rtmps://{}/live/{key}", node.rtmps_addr().unwrap());
    // FFmpeg checks the certificate it is served against the one configured.
    let ca_file = dir.join("cert.pem");
    let verify = ["-tls_verify", "1", "-ca_file", ca_file.to_str().unwrap()];
    let _ffmpeg = FfmpegPublisher::start_with(&url, 30, (48_000, 1), &verify);
    wait_for_stream(&node);
    let viewer = watch(&node, "123", Duration::from_secs(10), |v| {
        v.video().len() >= 60 && v.audio().len() >= 50
    });
    assert!(viewer.video().len() >= 60 && viewer.audio().len() >= 50);
    // Plain RTMP stays on beside it.
    assert!(node.rtmp_addr().is_some());
    node.stop();
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_stream_with_b_frames_is_refused_and_one_without_plays() {
    let node = common::start_node(1);
    let key = node.service().example_stream_key("123").unwrap();
    // The same encoder without B-frames streams on.
    let mut plain = FfmpegPublisher::start_encoded(&rtmp_url(&node, &key), 30, 0);
    wait_for_stream(&node);
    let (mut viewer, offer) =
        RecordingViewer::offer(OfferedVideo::AnyProfile, IpAddr::V4(Ipv4Addr::LOCALHOST)).unwrap();
    let response = http::whep_offer(node.http_addr(), "123", &offer);
    assert_eq!(response.status, 201, "{}", response.body);
    viewer.accept_answer(&response.body).unwrap();
    viewer.run(Duration::from_secs(10), |v| v.video().len() >= 60);
    assert!(viewer.video().len() >= 60);
    assert!(
        plain.wait_exit(Duration::from_millis(500)).is_none(),
        "still streaming"
    );
    drop(plain);
    let deadline = Instant::now() + Duration::from_secs(10);
    while node.engine().stream("123").is_some() {
        assert!(
            Instant::now() < deadline,
            "the stream ends with its publisher"
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    // With two B-frames, it is disconnected at the first reordered frame.
    let mut reordered = FfmpegPublisher::start_encoded(&rtmp_url(&node, &key), 30, 2);
    let (status, stderr) = reordered
        .wait_exit(Duration::from_secs(15))
        .expect("ffmpeg is disconnected at the first B-frame");
    assert!(!status.success(), "{stderr}");
    assert!(node.engine().stream("123").is_none());
    node.stop();
}

/// Enhanced RTMP audio tag: the ExHeader sound format (9), `packet_type`
/// (0 SequenceStart, 1 CodedFrames) and the 'Opus' FourCC.
fn enhanced_opus(packet_type: u8, body: &[u8]) -> Vec<u8> {
    let mut tag = vec![9 << 4 | packet_type];
    tag.extend_from_slice(b"Opus");
    tag.extend_from_slice(body);
    tag
}

#[test]
fn opus_over_enhanced_rtmp_is_forwarded_as_it_is() {
    let node = common::start_node(1);
    let key = node.service().example_stream_key("123").unwrap();
    let mut publisher = RtmpPublisher::open(node.rtmp_addr().unwrap()).unwrap();
    publisher.handshake().unwrap();
    publisher
        .connect("live", "rtmp://127.0.0.1/live", "waveguide-test/1.0")
        .unwrap();
    publisher.create_stream().unwrap();
    publisher.publish(&key).unwrap();

    // The clip's access units (two slices each, parameter sets with the IDR).
    let clip = clip_nal_units();
    let mut units: Vec<Vec<&[u8]>> = vec![Vec::new()];
    for unit in &clip {
        let last = units.last_mut().unwrap();
        last.push(unit);
        if last.iter().filter(|u| matches!(nal_type(u), 1 | 5)).count() == 2 {
            units.push(Vec::new());
        }
    }
    units.retain(|u| !u.is_empty());
    let frames: Vec<Vec<u8>> = units
        .iter()
        .map(|unit| {
            let keyframe = unit.iter().any(|u| nal_type(u) == 5);
            flv::avc_frame(keyframe, 0, &flv::avcc(unit))
        })
        .collect();
    let sps = clip.iter().find(|u| nal_type(u) == 7).unwrap();
    let pps = clip.iter().find(|u| nal_type(u) == 8).unwrap();
    let sequence_header = flv::avc_sequence_header(sps, pps);
    let opus = common::media::opus_packets();
    let streaming = std::thread::spawn(move || {
        publisher.video_tag(0, &sequence_header).unwrap();
        // OpusHead: version 1, stereo, 312 samples of pre-skip, 48 kHz.
        let head = [
            b"OpusHead".as_slice(),
            &[1, 2, 0x38, 0x01, 0x80, 0xbb, 0, 0, 0, 0, 0],
        ]
        .concat();
        publisher.audio_tag(0, &enhanced_opus(0, &head)).unwrap();
        let start = Instant::now();
        let (mut frame, mut packet) = (0u32, 0u32);
        while frame < 180 {
            let video_ms = frame * 1000 / 30;
            let audio_ms = packet * 20;
            let due = video_ms.min(audio_ms);
            while start.elapsed() < Duration::from_millis(u64::from(due)) {
                std::thread::sleep(Duration::from_millis(2));
            }
            if audio_ms <= video_ms {
                let body = &opus[packet as usize % opus.len()];
                publisher
                    .audio_tag(audio_ms, &enhanced_opus(1, body))
                    .unwrap();
                packet += 1;
            } else {
                let tag = &frames[frame as usize % frames.len()];
                publisher.video_tag(video_ms, tag).unwrap();
                frame += 1;
            }
        }
        publisher
    });
    wait_for_stream(&node);
    let viewer = watch(&node, "123", Duration::from_secs(10), |v| {
        v.audio().len() >= 100
    });
    let _publisher = streaming.join().unwrap();

    let opus = common::media::opus_packets();
    let mut audio: Vec<_> = viewer.audio().into_iter().collect();
    audio.sort_by_key(|r| r.sequence);
    assert!(audio.len() >= 100, "{} audio packets", audio.len());
    let first = opus
        .iter()
        .position(|p| *p == audio[0].payload)
        .expect("the first packet is one the publisher sent, unchanged");
    for (k, packet) in audio.iter().enumerate() {
        assert_eq!(
            packet.payload,
            opus[(first + k) % opus.len()],
            "audio packet {k} is forwarded byte for byte"
        );
        if k > 0 {
            assert_eq!(packet.timestamp.wrapping_sub(audio[k - 1].timestamp), 960);
        }
    }
    node.stop();
}
