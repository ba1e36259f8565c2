//! Hostile and broken clients on the wire: handshakes, chunk streams,
//! control messages, AMF0 and limits. Each case ends with its precise error,
//! never a panic, and the session reads nothing after it; what a publisher
//! may send and we do not need is ignored.
#![allow(
    clippy::unwrap_used,
    reason = "a failed unwrap in a test is a failed test"
)]

mod common;

use common::{Client, ReplyReader, error_of, feed, publishing_error, publishing_session, string};
use rtmp::{
    AmfError, ChunkError, CommandError, HandshakeError, MAX_AMF_MESSAGE_LEN, MAX_CHUNK_SIZE,
    MAX_MESSAGE_LEN, MIN_CHUNK_SIZE, ServerSession, SessionError,
};
use scuffle_amf0::Amf0Value;

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
