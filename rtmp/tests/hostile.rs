//! Hostile and broken clients: each case ends with its precise error (and
//! the error status a client would log, where there is one), never a panic,
//! and the session reads nothing after it.
#![allow(
    clippy::unwrap_used,
    reason = "a failed unwrap in a test is a failed test"
)]

mod common;

use common::{Client, ReplyReader, error_status, feed, publishing_session, string};
use rtmp::{
    AmfError, ChunkError, CommandError, HandshakeError, MAX_AMF_MESSAGE_LEN, MAX_CHUNK_SIZE,
    MAX_MESSAGE_LEN, MAX_MODIFIER_EXTENSIONS, MIN_CHUNK_SIZE, ServerSession, SessionError,
    TagError,
};
use scuffle_amf0::Amf0Value;

/// Feeds a new session `input` (after a handshake) and returns its error.
fn error_of(input: &[u8]) -> SessionError {
    let mut session = ServerSession::new();
    let mut bytes = Client::new().take();
    bytes.extend_from_slice(input);
    let error = feed(&mut session, &bytes).unwrap_err();
    assert!(matches!(session.receive(&[0]), Err(SessionError::Closed)));
    error
}

/// Sends `build`'s messages on a publishing session; returns the error and
/// the error status the session queued, if any.
fn publishing_error(build: impl FnOnce(&mut Client)) -> (SessionError, Option<(String, String)>) {
    let (mut session, mut replies) = publishing_session();
    let mut client = Client::after_handshake();
    build(&mut client);
    let error = feed(&mut session, &client.take()).unwrap_err();
    let status = error_status(&mut replies, &session.take_output());
    assert!(matches!(session.receive(&[0]), Err(SessionError::Closed)));
    (error, status)
}

fn connected(build: impl FnOnce(&mut Client)) -> Vec<u8> {
    let mut client = Client::after_handshake();
    client.connect("live");
    build(&mut client);
    client.take()
}

#[test]
fn a_first_byte_other_than_3_is_a_handshake_error() {
    for first in [6, 8, 0x16, b'G', 0, 4] {
        let mut session = ServerSession::new();
        let error = session.receive(&[first, 0, 0, 0]).unwrap_err();
        assert!(
            matches!(error, SessionError::Handshake(HandshakeError::UnsupportedVersion(v)) if v == first),
            "{error}"
        );
        assert!(session.take_output().is_empty());
    }
    let mut session = ServerSession::new();
    let message = session.receive(&[6]).unwrap_err().to_string();
    assert!(message.contains("RTMPE"), "{message}");
}

#[test]
fn chunk_sizes_outside_128_to_64_kib_are_refused() {
    for size in [
        0,
        1,
        MIN_CHUNK_SIZE - 1,
        MAX_CHUNK_SIZE + 1,
        1 << 31,
        u32::MAX,
    ] {
        let error = error_of(
            Client::after_handshake()
                .control(1, &size.to_be_bytes())
                .take()
                .as_slice(),
        );
        assert!(
            matches!(error, SessionError::InvalidChunkSize(got) if got == size),
            "{size}: {error}"
        );
    }
    for size in [MIN_CHUNK_SIZE, 4096, MAX_CHUNK_SIZE] {
        let mut session = ServerSession::new();
        let mut client = Client::new();
        client.set_chunk_size(size).connect("live");
        let events = feed(&mut session, &client.take()).unwrap();
        assert_eq!(events.len(), 1, "{size}");
    }
}

#[test]
fn a_short_control_message_is_refused() {
    let error = error_of(&Client::after_handshake().control(1, &[0, 0]).take());
    assert!(matches!(
        error,
        SessionError::ShortControlMessage {
            message: "Set Chunk Size",
            length: 2
        }
    ));
    let error = error_of(&Client::after_handshake().control(4, &[0, 6, 0]).take());
    assert!(matches!(
        error,
        SessionError::ShortControlMessage {
            message: "PingRequest",
            length: 1
        }
    ));
}

#[test]
fn a_window_acknowledgement_size_of_0_is_ignored() {
    let mut session = ServerSession::new();
    let mut replies = ReplyReader::default();
    let mut client = Client::new();
    client.control(5, &0u32.to_be_bytes()).connect("live");
    feed(&mut session, &client.take()).unwrap();
    replies.read(&session.take_output()[common::SERVER_HANDSHAKE_LEN..]);
    for _ in 0..10 {
        let mut client = Client::after_handshake();
        client.command(
            0,
            "getStreamLength",
            0.0,
            None,
            &[string(&"x".repeat(2000))],
        );
        feed(&mut session, &client.take()).unwrap();
    }
    let answer = replies.read(&session.take_output());
    assert!(
        answer.iter().all(|reply| reply.type_id != 3),
        "no Acknowledgement"
    );
}

#[test]
fn a_message_over_the_limit_is_refused_from_its_header() {
    let mut header = vec![0x06, 0, 0, 0];
    header.extend_from_slice(&(MAX_MESSAGE_LEN + 1).to_be_bytes()[1..]);
    header.extend_from_slice(&[9, 1, 0, 0, 0]);
    let error = error_of(&header);
    assert!(matches!(
        error,
        SessionError::Chunk(ChunkError::MessageTooLarge { length, limit })
            if length == MAX_MESSAGE_LEN + 1 && limit == MAX_MESSAGE_LEN
    ));
    let too_long = vec![0x05; MAX_AMF_MESSAGE_LEN + 1];
    let error = error_of(
        &Client::after_handshake()
            .message(3, 20, 0, 0, &too_long)
            .take(),
    );
    assert!(matches!(
        error,
        SessionError::Command(CommandError::TooLarge { length, limit })
            if length == MAX_AMF_MESSAGE_LEN + 1 && limit == MAX_AMF_MESSAGE_LEN
    ));
}

#[test]
fn commands_out_of_order_name_what_happened() {
    let mut client = Client::after_handshake();
    let error = error_of(&client.publish("123-secret").take());
    assert!(matches!(
        error,
        SessionError::OutOfOrder("publish before connect")
    ));
    let error = error_of(&client.command(0, "createStream", 2.0, None, &[]).take());
    assert!(matches!(
        error,
        SessionError::OutOfOrder("createStream before connect")
    ));
    let error = error_of(&connected(|client| {
        client.connect("live");
    }));
    assert!(matches!(error, SessionError::OutOfOrder("second connect")));
    let error = error_of(&connected(|client| {
        client.prepare_stream("a").publish("a").publish("b");
    }));
    assert!(matches!(error, SessionError::OutOfOrder("second publish")));
    let error = error_of(&connected(|client| {
        client.prepare_stream("a").video(0, &[0x17, 1, 0, 0, 0]);
    }));
    assert!(matches!(
        error,
        SessionError::OutOfOrder("media before publish")
    ));
}

#[test]
fn a_second_publish_after_unpublishing_is_refused() {
    let (error, status) = publishing_error(|client| {
        client
            .command(0, "FCUnpublish", 6.0, None, &[string("123-secret")])
            .publish("123-secret");
    });
    assert!(matches!(error, SessionError::OutOfOrder("second publish")));
    assert_eq!(status, None);
}

#[test]
fn a_player_is_refused_with_a_status() {
    for name in ["play", "play2"] {
        let mut session = ServerSession::new();
        let mut replies = ReplyReader::default();
        let mut client = Client::new();
        client
            .connect("live")
            .command(0, "createStream", 2.0, None, &[])
            .command(1, name, 3.0, None, &[string("123")]);
        let error = feed(&mut session, &client.take()).unwrap_err();
        assert!(matches!(error, SessionError::PlayNotSupported));
        let output = session.take_output();
        let status = error_status(&mut replies, &output[common::SERVER_HANDSHAKE_LEN..]);
        assert_eq!(status.unwrap().0, "NetStream.Play.Failed");
    }
}

#[test]
fn unsupported_codecs_are_named_and_the_client_is_told() {
    const VIDEO: bool = true;
    const AUDIO: bool = false;
    let cases: [(bool, &[u8], &str); 7] = [
        (VIDEO, &[0x22, 0, 0], "Sorenson H.263 (codec id 2)"),
        (VIDEO, &[0x1c, 0, 0], "HEVC (unofficial) (codec id 12)"),
        (VIDEO, b"\x90hvc1\x01", "HEVC ('hvc1')"),
        (VIDEO, b"\x90av01\x01", "AV1 ('av01')"),
        (
            VIDEO,
            b"\x96\x00avc1\x00",
            "multitrack video (Enhanced RTMP)",
        ),
        (AUDIO, &[0x2f, 0xff, 0xfb], "MP3 (sound format 2)"),
        (AUDIO, b"\x90.mp3", "MP3 ('.mp3')"),
    ];
    for (video, tag, name) in cases {
        let (error, status) = publishing_error(|client| {
            if video {
                client.video(0, tag);
            } else {
                client.audio(0, tag);
            }
        });
        match &error {
            SessionError::UnsupportedVideoCodec(got) if video => assert_eq!(got, name),
            SessionError::UnsupportedAudioCodec(got) if !video => assert_eq!(got, name),
            other => panic!("{name}: {other}"),
        }
        let (code, description) = status.unwrap();
        assert_eq!(code, "NetStream.Publish.Rejected");
        assert!(description.contains(name), "{description}");
    }
}

#[test]
fn malformed_tags_are_precise_errors() {
    let video = |tag: &[u8]| {
        publishing_error(|client| {
            client.video(0, tag);
        })
        .0
    };
    let audio = |tag: &[u8]| {
        publishing_error(|client| {
            client.audio(0, tag);
        })
        .0
    };
    assert!(matches!(
        video(&[0x17]),
        SessionError::MalformedVideoTag(TagError::Flv(_))
    ));
    assert!(matches!(
        video(&[0x17, 0, 0, 0, 0, 1, 0x42]),
        SessionError::MalformedVideoTag(TagError::TruncatedAvcConfig)
    ));
    let three_byte_lengths = [0x17, 0, 0, 0, 0, 1, 0x42, 0, 0x1e, 0xfe, 0xe0, 0];
    assert!(matches!(
        video(&three_byte_lengths),
        SessionError::MalformedVideoTag(TagError::InvalidNalLengthSize(3))
    ));
    assert!(matches!(
        video(&[0x27, 5, 0, 0, 0]),
        SessionError::MalformedVideoTag(TagError::UnknownPacketType(5))
    ));
    assert!(matches!(
        video(b"\x9favc1"),
        SessionError::MalformedVideoTag(TagError::UnknownPacketType(15))
    ));
    let mut chain = vec![0x97];
    for _ in 0..=MAX_MODIFIER_EXTENSIONS {
        chain.extend_from_slice(&[0, 0, 0x07]);
    }
    assert!(matches!(
        video(&chain),
        SessionError::MalformedVideoTag(TagError::TooManyModifierExtensions(
            MAX_MODIFIER_EXTENSIONS
        ))
    ));
    assert!(matches!(
        audio(&[0xaf]),
        SessionError::MalformedAudioTag(TagError::Flv(_))
    ));
    assert!(matches!(
        audio(&[0xaf, 0, 0x12]),
        SessionError::MalformedAudioTag(TagError::ShortAacConfig(1))
    ));
    assert!(matches!(
        audio(&[0xaf, 7, 1]),
        SessionError::MalformedAudioTag(TagError::UnknownPacketType(7))
    ));
    assert!(matches!(
        audio(b"\x91mp"),
        SessionError::MalformedAudioTag(TagError::Flv(_))
    ));
}

#[test]
fn a_high_profile_record_with_hostile_extension_bits_is_not_parsed() {
    // scuffle-h264 would read these exp-Golomb bits (64 leading zeros, then
    // 64 zeros) and underflow; the extension is not ours to read.
    let mut tag = vec![0x17, 0, 0, 0, 0, 1, 100, 0, 0x1f, 0xff, 0xe0, 0];
    tag.extend_from_slice(&[0xfd, 0xf8, 0xf8, 1, 0, 19, 0b1110_1100]);
    tag.extend_from_slice(&[0; 8]);
    tag.push(0x80);
    tag.extend_from_slice(&[0; 9]);
    let (mut session, _) = publishing_session();
    let mut client = Client::after_handshake();
    client.video(0, &tag);
    let events = feed(&mut session, &client.take()).unwrap();
    let [
        rtmp::SessionEvent::Video {
            tag: rtmp::VideoTag::AvcConfig(config),
            ..
        },
    ] = &events[..]
    else {
        panic!("{events:?}");
    };
    assert_eq!(&config.record[..], &tag[5..]);
}

#[test]
fn empty_media_messages_are_ignored() {
    let (mut session, _) = publishing_session();
    let mut client = Client::after_handshake();
    client.video(0, &[]).audio(0, &[]);
    assert_eq!(feed(&mut session, &client.take()).unwrap(), []);
}

#[test]
fn malformed_amf0_is_refused_without_allocating_or_recursing() {
    let mut huge_array = vec![0x02, 0, 3, b'f', b'o', b'o', 0];
    huge_array.extend_from_slice(&0f64.to_be_bytes());
    huge_array.extend_from_slice(&[0x0a, 0xff, 0xff, 0xff, 0xff]);
    let error = error_of(
        &Client::after_handshake()
            .message(3, 20, 0, 0, &huge_array)
            .take(),
    );
    assert!(matches!(
        error,
        SessionError::Command(CommandError::Amf(AmfError::Truncated))
    ));

    let mut deep = huge_array[..15].to_vec();
    for _ in 0..10_000 {
        deep.extend_from_slice(&[0x0a, 0, 0, 0, 1]);
    }
    let error = error_of(&Client::after_handshake().message(3, 20, 0, 0, &deep).take());
    assert!(matches!(
        error,
        SessionError::Command(CommandError::Amf(AmfError::TooDeep))
    ));

    let error = error_of(
        &Client::after_handshake()
            .message(3, 20, 0, 0, &[0x05, 0x05])
            .take(),
    );
    assert!(matches!(error, SessionError::Command(CommandError::NoName)));

    let no_app = Client::after_handshake()
        .command(
            0,
            "connect",
            1.0,
            Some(&[("tcUrl", string("rtmp://x/live"))]),
            &[],
        )
        .take();
    let error = error_of(&no_app);
    assert!(matches!(
        error,
        SessionError::Command(CommandError::MissingField {
            command: "connect",
            ..
        })
    ));

    let (error, _) = publishing_error(|client| {
        client.message(
            4,
            18,
            1,
            0,
            b"\x02\x00\x0d@setDataFrame\x02\x00\x0aonMetaData\x08\x00",
        );
    });
    assert!(matches!(
        error,
        SessionError::MalformedMetadata(AmfError::Truncated)
    ));
}

#[test]
fn broken_chunk_streams_are_refused() {
    let error = error_of(&[0xc5, 1, 2, 3]);
    assert!(matches!(
        error,
        SessionError::Chunk(ChunkError::MissingPreviousHeader(5))
    ));
    let error = error_of(
        &Client::after_handshake()
            .message(3, 22, 1, 0, &[9; 20])
            .take(),
    );
    assert!(matches!(
        error,
        SessionError::UnsupportedMessage("aggregate")
    ));
}

#[test]
fn rejecting_and_ending_a_publish_send_a_status_and_end_the_session() {
    let mut session = ServerSession::new();
    let mut replies = ReplyReader::default();
    let mut client = Client::new();
    client
        .connect("live")
        .prepare_stream("1-bad")
        .publish("1-bad");
    feed(&mut session, &client.take()).unwrap();
    replies.read(&session.take_output()[common::SERVER_HANDSHAKE_LEN..]);
    session.reject_publish("NetStream.Publish.BadName", "wrong stream key");
    let status = error_status(&mut replies, &session.take_output());
    assert_eq!(
        status,
        Some((
            "NetStream.Publish.BadName".to_owned(),
            "wrong stream key".to_owned()
        ))
    );
    assert!(matches!(session.receive(&[0]), Err(SessionError::Closed)));

    let (mut session, mut replies) = publishing_session();
    session.end_publish("another publisher took this channel");
    let status = error_status(&mut replies, &session.take_output());
    assert_eq!(
        status,
        Some((
            "NetConnection.Connect.Closed".to_owned(),
            "another publisher took this channel".to_owned()
        ))
    );
    assert!(matches!(session.receive(&[0]), Err(SessionError::Closed)));
    session.accept_publish();
    assert!(session.take_output().is_empty());
}

#[test]
fn random_bytes_after_the_handshake_end_in_an_error_not_a_panic() {
    // xorshift64, fixed seeds: the same bytes every run.
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut ended = 0;
    for _ in 0..2000 {
        let length = (next() % 600) as usize;
        let bytes: Vec<u8> = (0..length).map(|_| next() as u8).collect();
        let mut session = ServerSession::new();
        let mut input = Client::new().take();
        input.extend_from_slice(&bytes);
        for piece in input.chunks(1 + (next() % 97) as usize) {
            if session.receive(piece).is_err() {
                ended += 1;
                assert!(matches!(session.receive(piece), Err(SessionError::Closed)));
                break;
            }
            while session.poll_event().is_some() {}
            session.take_output();
        }
    }
    assert!(
        ended > 1000,
        "only {ended} of 2000 random streams ended in an error"
    );
}

#[test]
fn pings_are_answered() {
    let (mut session, mut replies) = publishing_session();
    let mut client = Client::after_handshake();
    client.control(4, &[0, 6, 0, 0, 0x04, 0xd2]);
    feed(&mut session, &client.take()).unwrap();
    let answer = replies.read(&session.take_output());
    assert_eq!(answer.len(), 1);
    assert_eq!(answer[0].type_id, 4);
    assert_eq!(
        &answer[0].payload[..],
        [0, 7, 0, 0, 4, 0xd2],
        "PingResponse"
    );
}

#[test]
fn every_window_of_bytes_is_acknowledged_with_the_count_so_far() {
    let mut session = ServerSession::new();
    let mut replies = ReplyReader::default();
    let mut client = Client::new();
    client
        .connect("live")
        .control(5, &3000u32.to_be_bytes())
        .prepare_stream("123-secret")
        .publish("123-secret");
    let setup = client.take();
    let mut received = setup.len() as u32;
    feed(&mut session, &setup).unwrap();
    session.accept_publish();
    let answer = replies.read(&session.take_output()[common::SERVER_HANDSHAKE_LEN..]);
    assert_eq!(answer.iter().filter(|reply| reply.type_id == 3).count(), 1);
    let mut acknowledged = vec![received];
    for index in 0..20u32 {
        let mut client = Client::after_handshake();
        client.audio(index * 23, &[[0xaf, 1].as_slice(), &[0x21; 500]].concat());
        let bytes = client.take();
        received += bytes.len() as u32;
        feed(&mut session, &bytes).unwrap();
        for reply in replies.read(&session.take_output()) {
            assert_eq!(reply.type_id, 3, "only Acknowledgements");
            assert_eq!(
                reply.number(),
                received,
                "the sequence number counts every byte"
            );
            acknowledged.push(received);
        }
    }
    assert_eq!(acknowledged.len(), 4, "{acknowledged:?}");
    for pair in acknowledged.windows(2) {
        assert!(
            (3000..3000 + 600).contains(&(pair[1] - pair[0])),
            "{acknowledged:?}"
        );
    }
}

#[test]
fn abort_drops_a_message_in_progress() {
    let (mut session, _) = publishing_session();
    let mut client = Client::after_handshake();
    client.audio(0, &[[0xaf, 1].as_slice(), &[1; 300]].concat());
    let mut bytes = client.take();
    bytes.truncate(12 + 128);
    let mut client = Client::after_handshake();
    client
        .control(2, &4u32.to_be_bytes())
        .audio(23, &[0xaf, 1, 2, 2]);
    bytes.extend(client.take());
    let events = feed(&mut session, &bytes).unwrap();
    assert_eq!(
        events,
        [rtmp::SessionEvent::Audio {
            timestamp: 23,
            tag: rtmp::AudioTag::AacFrame(bytes::Bytes::from_static(&[2, 2])),
        }]
    );
}

#[test]
fn unknown_commands_and_messages_are_ignored() {
    let (mut session, _) = publishing_session();
    let mut client = Client::after_handshake();
    client
        .command(0, "getStreamLength", 8.0, None, &[string("123-secret")])
        .command(0, "_checkbw", 9.0, None, &[])
        .command(0, "checkBandwidth", 10.0, None, &[])
        .control(3, &1000u32.to_be_bytes())
        .control(6, &[0, 0, 0x10, 0, 2])
        .message(3, 19, 0, 0, &[1, 2, 3])
        .message(3, 42, 0, 0, &[1, 2, 3])
        .message(4, 18, 1, 0, b"\x02\x00\x0aonTextData")
        .command(1, "receiveAudio", 11.0, None, &[Amf0Value::Boolean(true)]);
    assert_eq!(feed(&mut session, &client.take()).unwrap(), []);
}
