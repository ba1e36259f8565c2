//! The server side of one publishing connection: the handshake, then
//! messages off the chunk stream, each answered or turned into an event.

use std::collections::VecDeque;

use crate::chunk_reader::{ChunkReader, Message};
use crate::command::Command;
use crate::error::{CommandError, ReplyError, SessionError};
use crate::event::SessionEvent;
use crate::handshake::Handshake;
use crate::reply::Replies;
use crate::{audio, metadata, video};

/// The smallest Set Chunk Size we accept (RTMP's default chunk size).
pub const MIN_CHUNK_SIZE: u32 = 128;
/// The largest Set Chunk Size we accept.
pub const MAX_CHUNK_SIZE: u32 = 64 * 1024;
/// Longest command or data (AMF0) message accepted; real ones take a few
/// hundred bytes.
pub const MAX_AMF_MESSAGE_LEN: usize = 64 * 1024;

/// Our chunk size, announced after connect.
const SERVER_CHUNK_SIZE: u32 = 4096;
/// The window we ask the client to acknowledge and limit it to, as FFmpeg's
/// and nginx-rtmp's servers do.
const WINDOW_SIZE: u32 = 2_500_000;
/// The one stream a connection publishes, as createStream answers.
const STREAM_ID: u32 = 1;

const SET_CHUNK_SIZE: u8 = 1;
const ABORT: u8 = 2;
const USER_CONTROL: u8 = 4;
const WINDOW_ACKNOWLEDGEMENT_SIZE: u8 = 5;
const AUDIO: u8 = 8;
const VIDEO: u8 = 9;
const DATA_AMF3: u8 = 15;
const COMMAND_AMF3: u8 = 17;
const DATA_AMF0: u8 = 18;
const COMMAND_AMF0: u8 = 20;
const AGGREGATE: u8 = 22;
/// User Control event type of a PingRequest (RTMP 1.0 §7.1.7).
const PING_REQUEST: u16 = 6;

/// Where the session stands, named after what it waits for.
#[derive(Debug, Clone, Copy, PartialEq)]
enum State {
    ExpectConnect,
    ExpectPublish,
    /// `Publish` was reported; the caller accepts or rejects it.
    ExpectPublishAnswer,
    Publishing,
    /// The client unpublished; it closes next.
    Unpublished,
    Ended,
}

/// A publishing client's session, sans-IO: bytes from the socket go into
/// [`receive`](Self::receive); events come out of
/// [`poll_event`](Self::poll_event) and bytes to send out of
/// [`take_output`](Self::take_output).
pub struct ServerSession {
    handshake: Handshake,
    chunks: ChunkReader,
    replies: Replies,
    state: State,
    events: VecDeque<SessionEvent>,
    output: Vec<u8>,
    /// Bytes received so far, wrapping (the Acknowledgement's sequence number, §5.4.3).
    received: u32,
    acknowledged: u32,
    /// The client's Window Acknowledgement Size, once it sends one.
    acknowledgement_window: Option<u32>,
    /// A reply an answer method could not write; `receive` returns it.
    failed: Option<SessionError>,
}

impl Default for ServerSession {
    fn default() -> Self {
        Self::new()
    }
}

impl ServerSession {
    /// A session waiting for the client's C0.
    pub fn new() -> Self {
        Self {
            handshake: Handshake::default(),
            chunks: ChunkReader::default(),
            replies: Replies::default(),
            state: State::ExpectConnect,
            events: VecDeque::new(),
            output: Vec::new(),
            received: 0,
            acknowledged: 0,
            acknowledgement_window: None,
            failed: None,
        }
    }

    /// Feeds bytes read from the socket; parses as far as they go, queueing
    /// events and bytes to send. On `Err` the session is dead: send what
    /// `take_output` still holds (a final error status, if any), then close.
    /// Later calls return [`SessionError::Closed`]. Once the client has set a
    /// Window Acknowledgement Size, each call that completes a window queues
    /// one Acknowledgement counting every byte received so far.
    pub fn receive(&mut self, input: &[u8]) -> Result<(), SessionError> {
        if let Some(error) = self.failed.take() {
            return Err(error);
        }
        if self.state == State::Ended {
            return Err(SessionError::Closed);
        }
        let result = self.read(input);
        if result.is_err() {
            self.state = State::Ended;
        }
        result
    }

    /// The next event, in the order the client sent them.
    pub fn poll_event(&mut self) -> Option<SessionEvent> {
        self.events.pop_front()
    }

    /// Bytes to write to the client (drained; empty when none).
    pub fn take_output(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.output)
    }

    /// Answers the pending `Publish` with StreamBegin and
    /// NetStream.Publish.Start. Does nothing if no publish is pending.
    pub fn accept_publish(&mut self) {
        if self.state != State::ExpectPublishAnswer {
            return;
        }
        self.state = State::Publishing;
        let result = self
            .replies
            .stream_begin(&mut self.output, STREAM_ID)
            .and_then(|()| {
                self.replies.on_status(
                    &mut self.output,
                    STREAM_ID,
                    "status",
                    "NetStream.Publish.Start",
                    "Publishing started.",
                )
            });
        self.keep_failure(result);
    }

    /// Answers the pending `Publish` with an error status (level "error",
    /// the code, e.g. "NetStream.Publish.BadName" or
    /// "NetStream.Publish.Denied", and the description); the session ends.
    /// Does nothing if no publish is pending.
    pub fn reject_publish(&mut self, code: &str, description: &str) {
        if self.state != State::ExpectPublishAnswer {
            return;
        }
        self.state = State::Ended;
        let result =
            self.replies
                .on_status(&mut self.output, STREAM_ID, "error", code, description);
        self.keep_failure(result);
    }

    /// The server ends a publishing stream (e.g. taken over by another
    /// publisher): an error status NetConnection.Connect.Closed with the
    /// description, which the client logs; the session ends, close after
    /// sending. Does nothing unless a publish is pending or accepted.
    pub fn end_publish(&mut self, description: &str) {
        if !matches!(self.state, State::ExpectPublishAnswer | State::Publishing) {
            return;
        }
        self.state = State::Ended;
        let code = "NetConnection.Connect.Closed";
        let result =
            self.replies
                .on_status(&mut self.output, STREAM_ID, "error", code, description);
        self.keep_failure(result);
    }

    fn keep_failure(&mut self, result: Result<(), ReplyError>) {
        if let Err(error) = result {
            self.state = State::Ended;
            self.failed = Some(error.into());
        }
    }

    fn read(&mut self, input: &[u8]) -> Result<(), SessionError> {
        // Truncation is the wrap the sequence number has anyway.
        self.received = self.received.wrapping_add(input.len() as u32);
        let rest = self.handshake.receive(input, &mut self.output)?;
        if !self.handshake.is_done() {
            return Ok(());
        }
        self.chunks.push(rest);
        while let Some(message) = self.chunks.next_message()? {
            self.on_message(message)?;
        }
        if let Some(window) = self.acknowledgement_window
            && self.received.wrapping_sub(self.acknowledged) >= window
        {
            self.acknowledged = self.received;
            self.replies
                .acknowledgement(&mut self.output, self.received)?;
        }
        Ok(())
    }

    fn on_message(&mut self, message: Message) -> Result<(), SessionError> {
        let payload = &message.payload;
        match message.type_id {
            SET_CHUNK_SIZE => {
                let size = u32::from_be_bytes(field(payload, "Set Chunk Size")?);
                if !(MIN_CHUNK_SIZE..=MAX_CHUNK_SIZE).contains(&size) {
                    return Err(SessionError::InvalidChunkSize(size));
                }
                self.chunks
                    .set_chunk_size(usize::try_from(size).unwrap_or(usize::MAX));
            }
            ABORT => self
                .chunks
                .abort(u32::from_be_bytes(field(payload, "Abort")?)),
            USER_CONTROL => {
                let [high, low, rest @ ..] = &payload[..] else {
                    return Err(short("User Control", payload));
                };
                if u16::from_be_bytes([*high, *low]) == PING_REQUEST {
                    let timestamp = u32::from_be_bytes(field(rest, "PingRequest")?);
                    self.replies.ping_response(&mut self.output, timestamp)?;
                }
            }
            WINDOW_ACKNOWLEDGEMENT_SIZE => {
                // A window of 0 would ask for an acknowledgement per byte; ignore it.
                let size = u32::from_be_bytes(field(payload, "Window Acknowledgement Size")?);
                if size > 0 {
                    self.acknowledgement_window = Some(size);
                }
            }
            AUDIO | VIDEO => self.on_media(&message)?,
            DATA_AMF0 => self.on_data(payload)?,
            DATA_AMF3 => self.on_data(payload.get(1..).unwrap_or_default())?,
            COMMAND_AMF0 => self.on_command(payload)?,
            // An AMF3 command is AMF0 after a format byte (RTMP 1.0 §7.1.1).
            COMMAND_AMF3 => self.on_command(payload.get(1..).unwrap_or_default())?,
            AGGREGATE => return Err(SessionError::UnsupportedMessage("aggregate")),
            // Acknowledgement, Set Peer Bandwidth, shared objects and unknown
            // types: a publisher needs nothing from them.
            _ => {}
        }
        Ok(())
    }

    fn on_media(&mut self, message: &Message) -> Result<(), SessionError> {
        match self.state {
            State::ExpectConnect | State::ExpectPublish => {
                return Err(SessionError::OutOfOrder("media before publish"));
            }
            State::Unpublished | State::Ended => return Ok(()),
            State::ExpectPublishAnswer | State::Publishing => {}
        }
        let timestamp = message.timestamp;
        let event = if message.type_id == VIDEO {
            video::parse(&message.payload)
                .map(|tag| tag.map(|tag| SessionEvent::Video { timestamp, tag }))
        } else {
            audio::parse(&message.payload)
                .map(|tag| tag.map(|tag| SessionEvent::Audio { timestamp, tag }))
        };
        match event {
            Ok(event) => {
                self.events.extend(event);
                Ok(())
            }
            Err(
                error @ (SessionError::UnsupportedVideoCodec(_)
                | SessionError::UnsupportedAudioCodec(_)),
            ) => {
                let description = format!("{error}; this server takes H.264 with AAC or Opus");
                self.replies.on_status(
                    &mut self.output,
                    STREAM_ID,
                    "error",
                    "NetStream.Publish.Rejected",
                    &description,
                )?;
                Err(error)
            }
            Err(error) => Err(error),
        }
    }

    fn on_data(&mut self, payload: &[u8]) -> Result<(), SessionError> {
        if !matches!(self.state, State::ExpectPublishAnswer | State::Publishing) {
            return Ok(());
        }
        check_amf_length(payload)?;
        let metadata = metadata::parse(payload).map_err(SessionError::MalformedMetadata)?;
        self.events.extend(metadata.map(SessionEvent::Metadata));
        Ok(())
    }

    fn on_command(&mut self, payload: &[u8]) -> Result<(), SessionError> {
        check_amf_length(payload)?;
        let command = Command::parse(payload)?;
        if self.state == State::ExpectConnect
            && let Some(misplaced) = before_connect(&command)
        {
            return Err(SessionError::OutOfOrder(misplaced));
        }
        let out = &mut self.output;
        match command {
            Command::Connect {
                transaction_id,
                app,
                tc_url,
                flash_version,
            } => {
                if self.state != State::ExpectConnect {
                    return Err(SessionError::OutOfOrder("second connect"));
                }
                self.replies.window_acknowledgement_size(out, WINDOW_SIZE)?;
                self.replies.peer_bandwidth(out, WINDOW_SIZE)?;
                self.replies.chunk_size(out, SERVER_CHUNK_SIZE)?;
                self.replies.connect_result(out, transaction_id)?;
                self.state = State::ExpectPublish;
                self.events.push_back(SessionEvent::Connect {
                    app,
                    tc_url,
                    flash_version,
                });
            }
            Command::ReleaseStream { transaction_id } => {
                answer_call(&self.replies, out, transaction_id)?;
            }
            Command::FcPublish {
                transaction_id,
                stream_name,
            } => {
                self.replies
                    .on_fc_publish(out, stream_name.as_deref().unwrap_or_default())?;
                answer_call(&self.replies, out, transaction_id)?;
            }
            Command::CreateStream { transaction_id } => {
                self.replies
                    .create_stream_result(out, transaction_id, STREAM_ID)?;
            }
            Command::Publish { stream_name } => {
                if self.state != State::ExpectPublish {
                    return Err(SessionError::OutOfOrder("second publish"));
                }
                self.state = State::ExpectPublishAnswer;
                self.events.push_back(SessionEvent::Publish { stream_name });
            }
            Command::FcUnpublish | Command::DeleteStream | Command::CloseStream => {
                if matches!(self.state, State::ExpectPublishAnswer | State::Publishing) {
                    self.state = State::Unpublished;
                    self.events.push_back(SessionEvent::Unpublish);
                }
            }
            Command::Play => {
                self.replies.on_status(
                    out,
                    STREAM_ID,
                    "error",
                    "NetStream.Play.Failed",
                    "This server only accepts publishers.",
                )?;
                return Err(SessionError::PlayNotSupported);
            }
            Command::Other(_) => {}
        }
        Ok(())
    }
}

/// The rule a stream command breaks when it comes before connect.
fn before_connect(command: &Command) -> Option<&'static str> {
    Some(match command {
        Command::ReleaseStream { .. } => "releaseStream before connect",
        Command::FcPublish { .. } => "FCPublish before connect",
        Command::CreateStream { .. } => "createStream before connect",
        Command::Publish { .. } => "publish before connect",
        Command::FcUnpublish => "FCUnpublish before connect",
        Command::DeleteStream => "deleteStream before connect",
        Command::CloseStream => "closeStream before connect",
        Command::Connect { .. } | Command::Play | Command::Other(_) => return None,
    })
}

/// A `_result` for a call the client numbered (0 means it expects none).
fn answer_call(
    replies: &Replies,
    out: &mut Vec<u8>,
    transaction_id: f64,
) -> Result<(), ReplyError> {
    if transaction_id == 0.0 {
        return Ok(());
    }
    replies.empty_result(out, transaction_id)
}

fn check_amf_length(payload: &[u8]) -> Result<(), CommandError> {
    if payload.len() > MAX_AMF_MESSAGE_LEN {
        return Err(CommandError::TooLarge {
            length: payload.len(),
            limit: MAX_AMF_MESSAGE_LEN,
        });
    }
    Ok(())
}

/// The four-byte field a control message starts with.
fn field(payload: &[u8], message: &'static str) -> Result<[u8; 4], SessionError> {
    payload
        .first_chunk::<4>()
        .copied()
        .ok_or_else(|| short(message, payload))
}

fn short(message: &'static str, payload: &[u8]) -> SessionError {
    SessionError::ShortControlMessage {
        message,
        length: payload.len(),
    }
}
