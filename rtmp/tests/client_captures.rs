//! Replays what real clients sent when they published to this session over
//! loopback (captured byte for byte into `fuzz/seeds/rtmp_session/`), cut
//! into odd read sizes, and checks every event it gives.
//!
//! Each client published for its whole run and exited 0, so our replies were
//! what it waited for. Debian's FFmpeg 5.1: `ffmpeg -re -f lavfi -i
//! testsrc=size=320x240:rate=30 -f lavfi -i sine=frequency=440:sample_rate=44100
//! -t 2 -c:v libx264 -profile:v baseline -pix_fmt yuv420p -g 30 -c:a aac -f flv
//! rtmp://127.0.0.1:19350/live/123-secret`, and again with `-t 1`,
//! `-profile:v high -bf 2`, 48 kHz stereo, stream `456-key`. Debian's
//! GStreamer 1.22: `gst-launch-1.0 -e videotestsrc num-buffers=60 is-live=true
//! ! video/x-raw,width=320,height=240,framerate=30/1 ! x264enc
//! tune=zerolatency key-int-max=30 bitrate=100 ! video/x-h264,profile=baseline
//! ! flvmux name=mux streamable=true ! rtmp2sink
//! location=rtmp://127.0.0.1:19353/live/789-gst audiotestsrc num-buffers=86
//! is-live=true ! audio/x-raw,rate=44100,channels=1 ! voaacenc ! mux.`
#![allow(
    clippy::unwrap_used,
    reason = "a failed unwrap in a test is a failed test"
)]

mod common;

use std::path::Path;

use bytes::Bytes;
use codec::h264::Sps;
use common::{ReplyReader, SERVER_HANDSHAKE_LEN};
use rtmp::{AudioTag, ServerSession, SessionEvent, StreamMetadata, VideoTag};
use scuffle_amf0::Amf0Value;

const FLASH_VERSION: &str = "FMLE/3.0 (compatible; Lavf59.27.100)";

fn capture(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/seeds/rtmp_session");
    std::fs::read(path.join(name)).unwrap()
}

/// Feeds the capture in reads of `sizes` bytes in turn, accepting the
/// publish; returns the events and everything the server wrote.
fn replay(bytes: &[u8], sizes: &[usize]) -> (Vec<SessionEvent>, Vec<u8>) {
    let mut session = ServerSession::new();
    let mut events = Vec::new();
    let mut output = Vec::new();
    let mut rest = bytes;
    for &size in sizes.iter().cycle() {
        if rest.is_empty() {
            break;
        }
        let (read, tail) = rest.split_at(size.min(rest.len()));
        rest = tail;
        session.receive(read).unwrap();
        while let Some(event) = session.poll_event() {
            if matches!(event, SessionEvent::Publish { .. }) {
                session.accept_publish();
            }
            events.push(event);
        }
        output.extend(session.take_output());
    }
    (events, output)
}

/// The events of a capture, which must not depend on how it was read.
fn events_of(name: &str) -> (Vec<SessionEvent>, Vec<u8>) {
    let bytes = capture(name);
    let (events, output) = replay(&bytes, &[1, 7, 4096]);
    assert_eq!(replay(&bytes, &[bytes.len()]).0, events, "whole vs pieces");
    (events, output)
}

struct Media {
    config: Option<rtmp::AvcConfig>,
    /// (timestamp, keyframe, composition time) per access unit.
    frames: Vec<(u32, bool, i32)>,
    aac_config: Option<Bytes>,
    aac_timestamps: Vec<u32>,
    end_of_sequence: usize,
}

fn media(events: &[SessionEvent]) -> Media {
    let mut media = Media {
        config: None,
        frames: Vec::new(),
        aac_config: None,
        aac_timestamps: Vec::new(),
        end_of_sequence: 0,
    };
    for event in events {
        match event {
            SessionEvent::Video {
                tag: VideoTag::AvcConfig(config),
                ..
            } => media.config = Some(config.clone()),
            SessionEvent::Video {
                timestamp,
                tag:
                    VideoTag::AvcFrame {
                        keyframe,
                        composition_time,
                        data,
                    },
            } => {
                assert!(!data.is_empty());
                media
                    .frames
                    .push((*timestamp, *keyframe, *composition_time));
            }
            SessionEvent::Video {
                tag: VideoTag::EndOfSequence,
                ..
            } => media.end_of_sequence += 1,
            SessionEvent::Audio {
                tag: AudioTag::AacConfig(config),
                ..
            } => media.aac_config = Some(config.clone()),
            SessionEvent::Audio {
                timestamp,
                tag: AudioTag::AacFrame(frame),
            } => {
                assert!(!frame.is_empty());
                media.aac_timestamps.push(*timestamp);
            }
            _ => {}
        }
    }
    media
}

/// An AudioSpecificConfig's object type, sampling frequency index and
/// channel configuration (ISO/IEC 14496-3 §1.6.2.1).
fn aac_config_fields(config: &[u8]) -> (u8, u8, u8) {
    let object_type = config[0] >> 3;
    let frequency = ((config[0] & 0x07) << 1) | (config[1] >> 7);
    let channels = (config[1] >> 3) & 0x0f;
    (object_type, frequency, channels)
}

/// Each AAC frame is 1024 samples: the RTMP timestamps (whole ms) step by
/// 1024/rate ms, rounded either way.
fn assert_aac_steps(timestamps: &[u32], rate: f64) {
    let step = 1024.0 * 1000.0 / rate;
    for (index, pair) in timestamps.windows(2).enumerate() {
        let delta = f64::from(pair[1] - pair[0]);
        assert!(
            (delta - step).abs() < 1.0,
            "AAC frame {index} to {}: {pair:?}",
            index + 1
        );
    }
}

#[test]
fn ffmpeg_baseline_publish_gives_every_event() {
    let (events, output) = events_of("ffmpeg-5.1-h264-baseline-aac-320x240-2s.bin");

    assert_eq!(
        events[0],
        SessionEvent::Connect {
            app: "live".to_owned(),
            tc_url: Some("rtmp://127.0.0.1:19350/live".to_owned()),
            flash_version: Some(FLASH_VERSION.to_owned()),
        }
    );
    assert_eq!(
        events[1],
        SessionEvent::Publish {
            stream_name: "123-secret".to_owned()
        }
    );
    let SessionEvent::Metadata(metadata) = &events[2] else {
        panic!("no metadata: {:?}", events[2]);
    };
    assert_eq!(
        *metadata,
        StreamMetadata {
            width: Some(320.0),
            height: Some(240.0),
            framerate: Some(30.0),
            video_data_rate: Some(0.0),
            audio_data_rate: metadata.audio_data_rate,
            encoder: Some("Lavf59.27.100".to_owned()),
        }
    );
    assert_eq!(events.last(), Some(&SessionEvent::Unpublish));

    let media = media(&events);
    let config = media.config.unwrap();
    assert_eq!(config.nal_length_size, 4);
    assert_eq!((config.sps.len(), config.pps.len()), (1, 1));
    let sps = Sps::parse(&config.sps[0]).unwrap();
    assert_eq!((sps.width, sps.height, sps.profile_idc), (320, 240, 66));
    assert_eq!(config.record[0], 1, "configurationVersion");

    // 2 s at 30 fps with a keyframe every 30 frames, no B-frames.
    assert_eq!(media.frames.len(), 60);
    let keyframes: Vec<usize> = (0..60).filter(|&i| media.frames[i].1).collect();
    assert_eq!(keyframes, [0, 30]);
    assert!(media.frames.iter().all(|frame| frame.2 == 0));
    for pair in media.frames.windows(2) {
        let delta = pair[1].0 - pair[0].0;
        assert!((33..=34).contains(&delta), "video steps {pair:?}");
    }
    assert!(media.frames[59].0 >= 1900, "FFmpeg sent the whole 2 s");
    assert_eq!(media.end_of_sequence, 1);

    // AAC-LC, 44.1 kHz, mono, every frame 23.2 ms after the last.
    assert_eq!(aac_config_fields(&media.aac_config.unwrap()), (2, 4, 1));
    assert_eq!(media.aac_timestamps.len(), 88);
    assert_aac_steps(&media.aac_timestamps, 44_100.0);

    // What FFmpeg waited for before sending media.
    let replies = ReplyReader::default().read(&output[SERVER_HANDSHAKE_LEN..]);
    let commands: Vec<String> = replies
        .iter()
        .filter(|reply| reply.type_id == 20)
        .map(common::Reply::name)
        .collect();
    assert_eq!(
        commands,
        [
            "_result",
            "_result",
            "onFCPublish",
            "_result",
            "_result",
            "onStatus"
        ]
    );
    let create_stream = replies
        .iter()
        .filter(|reply| reply.type_id == 20)
        .nth(4)
        .unwrap();
    assert_eq!(create_stream.values()[3], Amf0Value::Number(1.0));
    let status = replies
        .iter()
        .find(|reply| reply.type_id == 20 && reply.name() == "onStatus");
    assert_eq!(
        status.unwrap().property(3, "code").as_deref(),
        Some("NetStream.Publish.Start")
    );
}

#[test]
fn ffmpeg_high_profile_with_b_frames_gives_composition_times() {
    let (events, _) = events_of("ffmpeg-5.1-h264-high-bframes-aac-stereo-1s.bin");
    assert!(matches!(
        &events[1],
        SessionEvent::Publish { stream_name } if stream_name == "456-key"
    ));
    let media = media(&events);
    let sps = Sps::parse(&media.config.unwrap().sps[0]).unwrap();
    assert_eq!((sps.width, sps.height, sps.profile_idc), (320, 240, 100));

    assert_eq!(media.frames.len(), 30);
    assert!(media.frames[0].1 && media.frames[1..].iter().all(|frame| !frame.1));
    // Decode order: presentation times (dts + cto) are a permutation of a
    // steady 30 fps clock, and B-frames make some offsets positive.
    let mut presentation: Vec<i64> = media
        .frames
        .iter()
        .map(|&(dts, _, cto)| i64::from(dts) + i64::from(cto))
        .collect();
    assert!(media.frames.iter().any(|frame| frame.2 > 0));
    presentation.sort_unstable();
    for pair in presentation.windows(2) {
        assert!((33..=34).contains(&(pair[1] - pair[0])), "{pair:?}");
    }

    // AAC-LC, 48 kHz, stereo.
    assert_eq!(aac_config_fields(&media.aac_config.unwrap()), (2, 3, 2));
    assert_eq!(media.aac_timestamps.len(), 48);
    assert_aac_steps(&media.aac_timestamps, 48_000.0);
    assert_eq!(events.last(), Some(&SessionEvent::Unpublish));
}

#[test]
fn gstreamer_rtmp2sink_publish_gives_every_event() {
    let (events, _) = events_of("gstreamer-1.22-rtmp2sink-h264-baseline-aac-320x240-2s.bin");
    assert_eq!(
        events[0],
        SessionEvent::Connect {
            app: "live".to_owned(),
            tc_url: Some("rtmp://127.0.0.1:19353/live".to_owned()),
            flash_version: Some("LNX 10,0,32,18".to_owned()),
        }
    );
    assert!(matches!(
        &events[1],
        SessionEvent::Publish { stream_name } if stream_name == "789-gst"
    ));
    // flvmux sends onMetaData again once it knows the bit rate.
    let metadata: Vec<&StreamMetadata> = events
        .iter()
        .filter_map(|event| match event {
            SessionEvent::Metadata(metadata) => Some(metadata),
            _ => None,
        })
        .collect();
    assert_eq!(metadata.len(), 2);
    for metadata in &metadata {
        assert_eq!(
            (metadata.width, metadata.height),
            (Some(320.0), Some(240.0))
        );
        assert_eq!(
            metadata.encoder.as_deref(),
            Some("GStreamer 1.22.0 FLV muxer")
        );
    }
    assert_eq!(metadata[1].video_data_rate, Some(100.0));

    let media = media(&events);
    let sps = Sps::parse(&media.config.unwrap().sps[0]).unwrap();
    assert_eq!((sps.width, sps.height, sps.profile_idc), (320, 240, 66));
    assert_eq!(media.frames.len(), 60);
    let keyframes: Vec<usize> = (0..60).filter(|&i| media.frames[i].1).collect();
    assert_eq!(keyframes, [0, 30]);
    for pair in media.frames.windows(2) {
        assert!(
            (33..=34).contains(&(pair[1].0 - pair[0].0)),
            "video steps {pair:?}"
        );
    }
    assert_eq!(media.end_of_sequence, 1);
    assert_eq!(aac_config_fields(&media.aac_config.unwrap()), (2, 4, 1));
    assert_eq!(media.aac_timestamps.len(), 86);
    assert_aac_steps(&media.aac_timestamps, 44_100.0);
    assert_eq!(events.last(), Some(&SessionEvent::Unpublish));
}
