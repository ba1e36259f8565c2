//! Entry points for the cargo-fuzz targets in `../fuzz`, behind the
//! `fuzzing` feature: each drives a session from raw fuzzer bytes and checks
//! its contract, not only that nothing panics.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a broken invariant must crash the fuzzer"
)]

use bytes::BytesMut;
use scuffle_rtmp::chunk::reader::ChunkReader as ReplyReader;
use scuffle_rtmp::command_messages::Command as Reply;
use scuffle_rtmp::handshake::RTMP_HANDSHAKE_SIZE;
use scuffle_rtmp::messages::MessageType;

use crate::{ServerSession, SessionError, SessionEvent};

/// C0, C1 and C2.
const HANDSHAKE_LEN: usize = 1 + 2 * RTMP_HANDSHAKE_SIZE;

/// The sizes input is cut into, in turn: a byte, odd sizes, socket reads.
const PIECES: [usize; 5] = [1, 7, 4096, 13, 1500];

/// What the caller does with a `Publish`.
#[derive(Clone, Copy)]
enum Answer {
    Accept,
    Reject,
    /// Accept, then end the stream after this many media events.
    EndAfter(usize),
}

/// A session fed a client's bytes: `data` as they are if they start with
/// C0 and are longer than a handshake (a whole client stream, as the
/// committed captures are), else after a simple handshake. The bytes go in whole and in pieces; both must give the
/// same events and the same error, the replies must be whole chunks that
/// parse as commands, and nothing is read after an error.
pub fn session(data: &[u8]) {
    let stream = if data.first() == Some(&3) && data.len() > HANDSHAKE_LEN {
        data.to_vec()
    } else {
        let mut stream = vec![3];
        stream.extend(std::iter::repeat_n(0x5a, 2 * RTMP_HANDSHAKE_SIZE));
        stream.extend_from_slice(data);
        stream
    };
    let whole = run(&stream, &[usize::MAX], Answer::Accept);
    let pieces = run(&stream, &PIECES, Answer::Accept);
    assert_eq!(whole, pieces, "events depend on how the input was cut");
    run(&stream, &PIECES, Answer::Reject);
    run(&stream, &PIECES, Answer::EndAfter(data.len() % 3));
}

/// The events a run reported and the error it ended with.
#[derive(Debug, PartialEq)]
struct Transcript {
    events: Vec<SessionEvent>,
    error: Option<String>,
}

fn run(stream: &[u8], pieces: &[usize], answer: Answer) -> Transcript {
    let mut session = ServerSession::new();
    let mut transcript = Transcript {
        events: Vec::new(),
        error: None,
    };
    let mut output = Vec::new();
    let mut media = 0;
    let mut rest = stream;
    for &size in pieces.iter().cycle() {
        if rest.is_empty() {
            break;
        }
        let (piece, tail) = rest.split_at(size.min(rest.len()));
        rest = tail;
        let result = session.receive(piece);
        while let Some(event) = session.poll_event() {
            check_order(&transcript.events, &event);
            match (&event, answer) {
                (SessionEvent::Publish { .. }, Answer::Reject) => {
                    session.reject_publish("NetStream.Publish.BadName", "no");
                }
                (SessionEvent::Publish { .. }, _) => session.accept_publish(),
                (SessionEvent::Video { .. } | SessionEvent::Audio { .. }, _) => {
                    media += 1;
                    if let Answer::EndAfter(limit) = answer
                        && media > limit
                    {
                        session.end_publish("taken over");
                    }
                }
                _ => {}
            }
            transcript.events.push(event);
        }
        output.extend(session.take_output());
        if let Err(error) = result {
            transcript.error = Some(error.to_string());
            assert!(matches!(
                session.receive(b"\x03"),
                Err(SessionError::Closed)
            ));
            assert!(session.poll_event().is_none());
            break;
        }
    }
    check_replies(&output);
    transcript
}

/// Events come in the order a publishing session allows.
fn check_order(before: &[SessionEvent], event: &SessionEvent) {
    let seen = |wanted: fn(&SessionEvent) -> bool| before.iter().any(wanted);
    let connected = seen(|event| matches!(event, SessionEvent::Connect { .. }));
    let published = seen(|event| matches!(event, SessionEvent::Publish { .. }));
    let unpublished = seen(|event| matches!(event, SessionEvent::Unpublish));
    match event {
        SessionEvent::Connect { .. } => assert!(!connected, "a second Connect"),
        SessionEvent::Publish { .. } => assert!(connected && !published, "Publish out of order"),
        SessionEvent::Unpublish => assert!(published && !unpublished, "Unpublish out of order"),
        _ => assert!(
            published && !unpublished,
            "media or metadata outside a publish"
        ),
    }
}

/// The server's bytes are S0, S1 and S2, then whole messages whose commands
/// parse.
fn check_replies(output: &[u8]) {
    let Some(chunks) = output.get(HANDSHAKE_LEN..) else {
        return;
    };
    assert_eq!(output[0], 3, "S0 is not version 3");
    let mut reader = ReplyReader::default();
    let mut unread = BytesMut::from(chunks);
    while let Some(chunk) = reader.read_chunk(&mut unread).expect("a reply chunk") {
        let message_type = chunk.message_header.msg_type_id;
        if message_type == MessageType::SetChunkSize {
            let size = chunk.payload.first_chunk::<4>().expect("a chunk size");
            assert!(reader.update_max_chunk_size(u32::from_be_bytes(*size) as usize));
        } else if message_type == MessageType::CommandAMF0 {
            Reply::read(chunk.payload).expect("a reply command");
        }
    }
    assert!(unread.is_empty(), "a reply ends mid-chunk");
}
