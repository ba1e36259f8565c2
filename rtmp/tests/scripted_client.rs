//! A scripted publisher, written with scuffle-rtmp's chunk writer and
//! scuffle-amf0's encoder, goes through a whole session the way OBS and
//! FFmpeg do: every event is checked, and every reply is read back with
//! scuffle-rtmp's chunk reader and decoded as the command clients wait for.
#![allow(
    clippy::unwrap_used,
    reason = "a failed unwrap in a test is a failed test"
)]

mod common;

use bytes::Bytes;
use common::{Client, ReplyReader, SERVER_HANDSHAKE_LEN, feed, publishing_session, string};
use rtmp::{AudioTag, AvcConfig, ServerSession, SessionEvent, StreamMetadata, VideoTag};
use scuffle_amf0::Amf0Value;

const SPS: [u8; 9] = [0x67, 0x42, 0xc0, 0x1e, 0xd9, 0x01, 0x40, 0x7b, 0x20];
const PPS: [u8; 5] = [0x68, 0xcb, 0x83, 0xcb, 0x20];

/// An AVCDecoderConfigurationRecord with one SPS and one PPS, 4-byte lengths.
fn avc_record() -> Vec<u8> {
    let mut record = vec![1, 0x42, 0xc0, 0x1e, 0xff, 0xe1, 0, SPS.len() as u8];
    record.extend_from_slice(&SPS);
    record.extend_from_slice(&[1, 0, PPS.len() as u8]);
    record.extend_from_slice(&PPS);
    record
}

fn tag(header: &[u8], body: &[u8]) -> Vec<u8> {
    [header, body].concat()
}

#[test]
fn a_publisher_goes_from_connect_to_fcunpublish() {
    let mut session = ServerSession::new();
    let mut client = Client::new();
    let mut replies = ReplyReader::default();

    // The handshake: S0, S1, S2 and nothing else.
    let handshake = client.take();
    assert!(feed(&mut session, &handshake).unwrap().is_empty());
    let output = session.take_output();
    assert_eq!(output.len(), SERVER_HANDSHAKE_LEN);
    assert_eq!(output[0], 3);

    // connect, answered as FFmpeg and librtmp expect before they go on.
    let events = feed(&mut session, &client.connect("live").take()).unwrap();
    assert_eq!(
        events,
        [SessionEvent::Connect {
            app: "live".to_owned(),
            tc_url: Some("rtmp://localhost/live".to_owned()),
            flash_version: Some("FMLE/3.0 (compatible; FMSc/1.0)".to_owned()),
        }]
    );
    let answer = replies.read(&session.take_output());
    let types: Vec<u8> = answer.iter().map(|reply| reply.type_id).collect();
    assert_eq!(types, [5, 6, 1, 20]);
    assert_eq!(answer[0].number(), 2_500_000, "Window Acknowledgement Size");
    assert_eq!(answer[1].number(), 2_500_000, "Set Peer Bandwidth");
    assert_eq!(answer[1].payload[4], 2, "dynamic limit");
    assert_eq!(answer[2].number(), 4096, "Set Chunk Size");
    assert_eq!(answer[3].name(), "_result");
    assert_eq!(answer[3].values()[1], Amf0Value::Number(1.0));
    assert!(answer[3].property(2, "fmsVer").is_some());
    assert_eq!(
        answer[3].property(3, "code").as_deref(),
        Some("NetConnection.Connect.Success")
    );

    // The client switches to bigger chunks, as OBS does, then prepares the stream.
    client.set_chunk_size(4096).prepare_stream("123-secret");
    assert!(feed(&mut session, &client.take()).unwrap().is_empty());
    let answer = replies.read(&session.take_output());
    let names: Vec<String> = answer.iter().map(common::Reply::name).collect();
    assert_eq!(names, ["_result", "onFCPublish", "_result", "_result"]);
    assert_eq!(
        answer[0].values()[1],
        Amf0Value::Number(2.0),
        "releaseStream"
    );
    assert_eq!(
        answer[1].property(3, "code").as_deref(),
        Some("NetStream.Publish.Start")
    );
    assert_eq!(answer[2].values()[1], Amf0Value::Number(3.0), "FCPublish");
    let create_stream = answer[3].values();
    assert_eq!(create_stream[1], Amf0Value::Number(4.0));
    assert_eq!(create_stream[3], Amf0Value::Number(1.0), "stream id 1");

    // publish waits for the caller.
    let events = feed(&mut session, &client.publish("123-secret").take()).unwrap();
    assert_eq!(
        events,
        [SessionEvent::Publish {
            stream_name: "123-secret".to_owned()
        }]
    );
    assert!(session.take_output().is_empty());
    session.accept_publish();
    let answer = replies.read(&session.take_output());
    assert_eq!(answer[0].type_id, 4);
    assert_eq!(&answer[0].payload[..], [0, 0, 0, 0, 0, 1], "StreamBegin 1");
    assert_eq!(answer[1].name(), "onStatus");
    assert_eq!(answer[1].stream_id, 1);
    assert_eq!(answer[1].property(3, "level").as_deref(), Some("status"));
    assert_eq!(
        answer[1].property(3, "code").as_deref(),
        Some("NetStream.Publish.Start")
    );
    session.accept_publish();
    assert!(session.take_output().is_empty(), "no second answer");

    // Metadata, then H.264 and AAC as legacy FLV tags.
    let numbers = [("width", 1280.0), ("height", 720.0), ("framerate", 30.0)];
    let numbers = [
        &numbers[..],
        &[("videodatarate", 2500.0), ("audiodatarate", 160.0)],
    ]
    .concat();
    let metadata = common::set_data_frame(&numbers, "obs-output module (libobs version 30.0.2)");
    let keyframe = [0, 0, 0, 3, 0x65, 0x88, 0x84];
    let inter = [0, 0, 0, 2, 0x41, 0x9a];
    client
        .message(4, 18, 1, 0, &metadata)
        .video(0, &tag(&[0x17, 0, 0, 0, 0], &avc_record()))
        .video(0, &tag(&[0x17, 1, 0, 0, 0], &keyframe))
        .video(33, &tag(&[0x27, 1, 0, 0, 0x21], &inter))
        .video(67, &tag(&[0x27, 1, 0xff, 0xff, 0xdf], &inter))
        .audio(0, &[0xaf, 0, 0x12, 0x10])
        .audio(23, &[0xaf, 1, 0x21, 0x10, 0x04])
        .video(100, &[0x17, 2, 0, 0, 0]);
    let events = feed(&mut session, &client.take()).unwrap();
    let expected = [
        SessionEvent::Metadata(StreamMetadata {
            width: Some(1280.0),
            height: Some(720.0),
            framerate: Some(30.0),
            video_data_rate: Some(2500.0),
            audio_data_rate: Some(160.0),
            encoder: Some("obs-output module (libobs version 30.0.2)".to_owned()),
        }),
        SessionEvent::Video {
            timestamp: 0,
            tag: VideoTag::AvcConfig(AvcConfig {
                nal_length_size: 4,
                sps: vec![Bytes::from_static(&SPS)],
                pps: vec![Bytes::from_static(&PPS)],
                record: Bytes::from(avc_record()),
            }),
        },
        SessionEvent::Video {
            timestamp: 0,
            tag: VideoTag::AvcFrame {
                keyframe: true,
                composition_time: 0,
                data: Bytes::copy_from_slice(&keyframe),
            },
        },
        SessionEvent::Video {
            timestamp: 33,
            tag: VideoTag::AvcFrame {
                keyframe: false,
                composition_time: 33,
                data: Bytes::copy_from_slice(&inter),
            },
        },
        SessionEvent::Video {
            timestamp: 67,
            tag: VideoTag::AvcFrame {
                keyframe: false,
                composition_time: -33,
                data: Bytes::copy_from_slice(&inter),
            },
        },
        SessionEvent::Audio {
            timestamp: 0,
            tag: AudioTag::AacConfig(Bytes::from_static(&[0x12, 0x10])),
        },
        SessionEvent::Audio {
            timestamp: 23,
            tag: AudioTag::AacFrame(Bytes::from_static(&[0x21, 0x10, 0x04])),
        },
        SessionEvent::Video {
            timestamp: 100,
            tag: VideoTag::EndOfSequence,
        },
    ];
    assert_eq!(events, expected);
    assert!(session.take_output().is_empty());

    // FCUnpublish ends the stream; deleteStream after it is not a second end.
    client
        .command(0, "FCUnpublish", 6.0, None, &[string("123-secret")])
        .command(0, "deleteStream", 7.0, None, &[Amf0Value::Number(1.0)]);
    let events = feed(&mut session, &client.take()).unwrap();
    assert_eq!(events, [SessionEvent::Unpublish]);
}

#[test]
fn enhanced_rtmp_avc1_mp4a_and_opus_tags_are_read() {
    let (mut session, _) = publishing_session();
    let mut client = Client::after_handshake();
    let frame = [0, 0, 0, 2, 0x65, 0x88];
    // One modifier extension (a nanosecond offset) before CodedFrames.
    let mod_ex = [0x97, 2, 0, 0, 7, 0x01];
    client
        .video(0, &tag(&[0x90, b'a', b'v', b'c', b'1'], &avc_record()))
        .video(0, &tag(&[0x91, b'a', b'v', b'c', b'1', 0, 0, 0x21], &frame))
        .video(33, &tag(&[0xa3, b'a', b'v', b'c', b'1'], &frame))
        .video(40, &tag(&mod_ex, &tag(b"avc1\xff\xff\xdf", &frame)))
        // Colour metadata: no event (and its AMF0 is not read).
        .video(
            50,
            &tag(&[0x94, b'a', b'v', b'c', b'1'], &[0x0a, 0xff, 0xff, 0xff]),
        )
        .video(60, &[0x92, b'a', b'v', b'c', b'1'])
        .audio(0, &[0x90, b'm', b'p', b'4', b'a', 0x12, 0x10])
        .audio(21, &[0x91, b'm', b'p', b'4', b'a', 0x21])
        .audio(42, &[0x90, b'O', b'p', b'u', b's', b'O', b'p', b'u', b's'])
        .audio(63, &[0x91, b'O', b'p', b'u', b's', 0xfc, 0xff])
        .audio(84, &[0x92, b'O', b'p', b'u', b's']);
    let events = feed(&mut session, &client.take()).unwrap();
    let video = |timestamp, tag| SessionEvent::Video { timestamp, tag };
    let audio = |timestamp, tag| SessionEvent::Audio { timestamp, tag };
    let frame_tag = |keyframe, composition_time| VideoTag::AvcFrame {
        keyframe,
        composition_time,
        data: Bytes::copy_from_slice(&frame),
    };
    let expected = [
        video(
            0,
            VideoTag::AvcConfig(AvcConfig {
                nal_length_size: 4,
                sps: vec![Bytes::from_static(&SPS)],
                pps: vec![Bytes::from_static(&PPS)],
                record: Bytes::from(avc_record()),
            }),
        ),
        video(0, frame_tag(true, 33)),
        video(33, frame_tag(false, 0)),
        video(40, frame_tag(true, -33)),
        video(60, VideoTag::EndOfSequence),
        audio(0, AudioTag::AacConfig(Bytes::from_static(&[0x12, 0x10]))),
        audio(21, AudioTag::AacFrame(Bytes::from_static(&[0x21]))),
        audio(42, AudioTag::OpusConfig(Bytes::from_static(b"Opus"))),
        audio(63, AudioTag::OpusFrame(Bytes::from_static(&[0xfc, 0xff]))),
    ];
    assert_eq!(events, expected);
}

#[test]
fn a_stream_key_with_a_query_is_kept_whole() {
    let mut session = ServerSession::new();
    let mut client = Client::new();
    client
        .connect("live")
        .prepare_stream("123-secret")
        .publish("123-secret?bandwidth=6000");
    let events = feed(&mut session, &client.take()).unwrap();
    assert_eq!(
        events.last(),
        Some(&SessionEvent::Publish {
            stream_name: "123-secret?bandwidth=6000".to_owned()
        })
    );
}
