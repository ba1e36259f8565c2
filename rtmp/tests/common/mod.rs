//! A scripted RTMP client for the tests: it writes the handshake by hand and
//! its messages with scuffle-rtmp's chunk writer and scuffle-amf0's encoder
//! (code we did not write), and reads the server's replies back the same way.
#![allow(
    dead_code,
    clippy::unwrap_used,
    reason = "each test binary uses part of the helpers; a failed unwrap is a failed test"
)]

use bytes::{Bytes, BytesMut};
use rtmp::{ServerSession, SessionError, SessionEvent};
use scuffle_amf0::{Amf0Decoder, Amf0Encoder, Amf0Object, Amf0Value};
use scuffle_rtmp::chunk::Chunk;
use scuffle_rtmp::chunk::reader::ChunkReader;
use scuffle_rtmp::chunk::writer::ChunkWriter;
use scuffle_rtmp::messages::MessageType;
use scuffle_rtmp::protocol_control_messages::ProtocolControlMessageSetChunkSize;

/// C0, C1 and C2 of a simple handshake (RTMP 1.0 §5.2).
pub const HANDSHAKE_LEN: usize = 1 + 2 * 1536;
/// S0, S1 and S2.
pub const SERVER_HANDSHAKE_LEN: usize = 1 + 2 * 1536;

/// What a client sends, built up message by message.
pub struct Client {
    writer: ChunkWriter,
    bytes: Vec<u8>,
}

impl Client {
    /// A client that starts with C0, C1 and C2.
    pub fn new() -> Self {
        let mut client = Self::after_handshake();
        client.bytes.push(3);
        client.bytes.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0]);
        client.bytes.extend((0..1528u32).map(|i| (i * 7) as u8));
        client.bytes.extend(std::iter::repeat_n(0x42, 1536));
        client
    }

    /// A client whose handshake is already done.
    pub fn after_handshake() -> Self {
        Self {
            writer: ChunkWriter::default(),
            bytes: Vec::new(),
        }
    }

    /// The bytes so far, drained.
    pub fn take(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.bytes)
    }

    /// Raw bytes.
    pub fn raw(&mut self, bytes: &[u8]) -> &mut Self {
        self.bytes.extend_from_slice(bytes);
        self
    }

    /// One message, on chunk stream `chunk_stream`.
    pub fn message(
        &mut self,
        chunk_stream: u32,
        type_id: u8,
        stream_id: u32,
        timestamp: u32,
        payload: &[u8],
    ) -> &mut Self {
        let chunk = Chunk::new(
            chunk_stream,
            timestamp,
            MessageType(type_id),
            stream_id,
            Bytes::copy_from_slice(payload),
        );
        self.writer.write_chunk(&mut self.bytes, chunk).unwrap();
        self
    }

    /// Set Chunk Size, applied to what this client writes next.
    pub fn set_chunk_size(&mut self, size: u32) -> &mut Self {
        ProtocolControlMessageSetChunkSize { chunk_size: size }
            .write(&mut self.bytes, &self.writer)
            .unwrap();
        self.writer.set_chunk_size(size as usize);
        self
    }

    /// A control message with a raw payload on chunk stream 2.
    pub fn control(&mut self, type_id: u8, payload: &[u8]) -> &mut Self {
        self.message(2, type_id, 0, 0, payload)
    }

    /// An AMF0 command on chunk stream 3: name, transaction id, command
    /// object (`None` for null), arguments.
    pub fn command(
        &mut self,
        stream_id: u32,
        name: &str,
        transaction_id: f64,
        object: Option<&[(&str, Amf0Value<'static>)]>,
        arguments: &[Amf0Value<'static>],
    ) -> &mut Self {
        let mut payload = Vec::new();
        let mut encoder = Amf0Encoder::new(&mut payload);
        encoder.encode_string(name).unwrap();
        encoder.encode_number(transaction_id).unwrap();
        match object {
            Some(properties) => encoder.encode_object(&object_of(properties)).unwrap(),
            None => encoder.encode_null().unwrap(),
        }
        for argument in arguments {
            argument.encode(&mut encoder).unwrap();
        }
        self.message(3, 20, stream_id, 0, &payload)
    }

    /// `connect` as OBS sends it.
    pub fn connect(&mut self, app: &str) -> &mut Self {
        let properties = [
            ("app", string(app)),
            ("type", string("nonprivate")),
            ("flashVer", string("FMLE/3.0 (compatible; FMSc/1.0)")),
            ("swfUrl", string("rtmp://localhost/live")),
            ("tcUrl", string("rtmp://localhost/live")),
        ];
        self.command(0, "connect", 1.0, Some(&properties), &[])
    }

    /// releaseStream, FCPublish and createStream, as OBS and FFmpeg send them.
    pub fn prepare_stream(&mut self, stream_name: &str) -> &mut Self {
        self.command(0, "releaseStream", 2.0, None, &[string(stream_name)])
            .command(0, "FCPublish", 3.0, None, &[string(stream_name)])
            .command(0, "createStream", 4.0, None, &[])
    }

    /// `publish` on stream 1.
    pub fn publish(&mut self, stream_name: &str) -> &mut Self {
        self.command(
            1,
            "publish",
            5.0,
            None,
            &[string(stream_name), string("live")],
        )
    }

    /// A video message on chunk stream 6, stream 1.
    pub fn video(&mut self, timestamp: u32, tag: &[u8]) -> &mut Self {
        self.message(6, 9, 1, timestamp, tag)
    }

    /// An audio message on chunk stream 4, stream 1.
    pub fn audio(&mut self, timestamp: u32, tag: &[u8]) -> &mut Self {
        self.message(4, 8, 1, timestamp, tag)
    }
}

/// An AMF0 string.
pub fn string(text: &str) -> Amf0Value<'static> {
    Amf0Value::String(text.to_owned().into())
}

fn object_of(properties: &[(&str, Amf0Value<'static>)]) -> Amf0Object<'static> {
    properties
        .iter()
        .map(|(key, value)| (key.to_string().into(), value.clone()))
        .collect()
}

/// `@setDataFrame` `onMetaData` with an ECMA array whose count is too low,
/// as FFmpeg writes it when streaming.
pub fn set_data_frame(numbers: &[(&str, f64)], encoder: &str) -> Vec<u8> {
    let mut payload = Vec::new();
    let mut amf = Amf0Encoder::new(&mut payload);
    amf.encode_string("@setDataFrame").unwrap();
    amf.encode_string("onMetaData").unwrap();
    payload.extend_from_slice(&[0x08, 0, 0, 0, 1]);
    let key = |payload: &mut Vec<u8>, name: &str| {
        payload.extend_from_slice(&(name.len() as u16).to_be_bytes());
        payload.extend_from_slice(name.as_bytes());
    };
    for (name, number) in numbers {
        key(&mut payload, name);
        payload.push(0x00);
        payload.extend_from_slice(&number.to_be_bytes());
    }
    key(&mut payload, "encoder");
    Amf0Encoder::new(&mut payload)
        .encode_string(encoder)
        .unwrap();
    payload.extend_from_slice(&[0, 0, 9]);
    payload
}

/// A message the server sent.
#[derive(Debug)]
pub struct Reply {
    /// Its message type id.
    pub type_id: u8,
    /// Its message stream id.
    pub stream_id: u32,
    /// Its payload.
    pub payload: Bytes,
}

impl Reply {
    /// The AMF0 values of a command reply.
    pub fn values(&self) -> Vec<Amf0Value<'static>> {
        assert_eq!(self.type_id, 20, "not a command: {self:?}");
        let mut decoder = Amf0Decoder::from_buf(self.payload.clone());
        let values = decoder.decode_all().unwrap();
        values.into_iter().map(Amf0Value::into_owned).collect()
    }

    /// The command's name.
    pub fn name(&self) -> String {
        match &self.values()[0] {
            Amf0Value::String(name) => name.as_str().to_owned(),
            other => panic!("a command named {other:?}"),
        }
    }

    /// The 4-byte big-endian number a control message starts with.
    pub fn number(&self) -> u32 {
        u32::from_be_bytes(self.payload[..4].try_into().unwrap())
    }

    /// A string property of the command's `index`th value.
    pub fn property(&self, index: usize, key: &str) -> Option<String> {
        match &self.values()[index] {
            Amf0Value::Object(object) => object.iter().find_map(|(name, value)| match value {
                Amf0Value::String(text) if name.as_str() == key => Some(text.as_str().to_owned()),
                _ => None,
            }),
            _ => None,
        }
    }
}

/// Reads the server's messages (after its handshake) with scuffle-rtmp's
/// chunk reader, following the chunk size it announces.
#[derive(Default)]
pub struct ReplyReader {
    reader: ChunkReader,
    unread: BytesMut,
}

impl ReplyReader {
    /// Every whole message in `output`; nothing may be left mid-chunk.
    pub fn read(&mut self, output: &[u8]) -> Vec<Reply> {
        self.unread.extend_from_slice(output);
        let mut replies = Vec::new();
        while let Some(chunk) = self.reader.read_chunk(&mut self.unread).unwrap() {
            let reply = Reply {
                type_id: chunk.message_header.msg_type_id.0,
                stream_id: chunk.message_header.msg_stream_id,
                payload: chunk.payload,
            };
            if reply.type_id == 1 {
                assert!(self.reader.update_max_chunk_size(reply.number() as usize));
            }
            replies.push(reply);
        }
        assert!(self.unread.is_empty(), "the server's output ends mid-chunk");
        replies
    }
}

/// Feeds `input` and returns the events it gave.
pub fn feed(session: &mut ServerSession, input: &[u8]) -> Result<Vec<SessionEvent>, SessionError> {
    let result = session.receive(input);
    let mut events = Vec::new();
    while let Some(event) = session.poll_event() {
        events.push(event);
    }
    result.map(|()| events)
}

/// A session past connect, releaseStream, FCPublish, createStream and an
/// accepted publish of "123-secret", and a reader that has read its replies.
pub fn publishing_session() -> (ServerSession, ReplyReader) {
    let mut session = ServerSession::new();
    let mut client = Client::new();
    client
        .connect("live")
        .prepare_stream("123-secret")
        .publish("123-secret");
    feed(&mut session, &client.take()).unwrap();
    session.accept_publish();
    let mut replies = ReplyReader::default();
    replies.read(&session.take_output()[SERVER_HANDSHAKE_LEN..]);
    (session, replies)
}

/// The first error status (`onStatus` with level "error") in `output`: its
/// code and description.
pub fn error_status(replies: &mut ReplyReader, output: &[u8]) -> Option<(String, String)> {
    let replies = replies.read(output);
    replies
        .iter()
        .filter(|reply| reply.type_id == 20 && reply.name() == "onStatus")
        .find(|reply| reply.property(3, "level").as_deref() == Some("error"))
        .map(|reply| {
            (
                reply.property(3, "code").unwrap(),
                reply.property(3, "description").unwrap(),
            )
        })
}

/// Feeds a new session `input` (after a handshake) and returns its error.
pub fn error_of(input: &[u8]) -> SessionError {
    let mut session = ServerSession::new();
    let mut bytes = Client::new().take();
    bytes.extend_from_slice(input);
    let error = feed(&mut session, &bytes).unwrap_err();
    assert!(matches!(session.receive(&[0]), Err(SessionError::Closed)));
    error
}

/// Sends `build`'s messages on a publishing session; returns the error and
/// the error status the session queued, if any.
pub fn publishing_error(
    build: impl FnOnce(&mut Client),
) -> (SessionError, Option<(String, String)>) {
    let (mut session, mut replies) = publishing_session();
    let mut client = Client::after_handshake();
    build(&mut client);
    let error = feed(&mut session, &client.take()).unwrap_err();
    let status = error_status(&mut replies, &session.take_output());
    assert!(matches!(session.receive(&[0]), Err(SessionError::Closed)));
    (error, status)
}

/// A client after connect, then `build`'s messages.
pub fn connected(build: impl FnOnce(&mut Client)) -> Vec<u8> {
    let mut client = Client::after_handshake();
    client.connect("live");
    build(&mut client);
    client.take()
}
