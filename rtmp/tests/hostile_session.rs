//! Hostile and broken publishers: commands out of order, players, codecs we
//! do not take and malformed tags. Each case ends with its precise error
//! and the error status a client would log, where there is one.
#![allow(
    clippy::unwrap_used,
    reason = "a failed unwrap in a test is a failed test"
)]

mod common;

use common::{
    Client, ReplyReader, connected, error_of, error_status, feed, publishing_error,
    publishing_session, string,
};
use rtmp::{MAX_MODIFIER_EXTENSIONS, ServerSession, SessionError, TagError};

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
