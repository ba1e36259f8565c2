//! Why a session ended. Each variant says what the client did: malformed
//! bytes (`Chunk`, `Command`, `Malformed*`), well-formed but out of place
//! (`OutOfOrder`, `InvalidChunkSize`), or something we do not support
//! (`PlayNotSupported`, `Unsupported*`).

use scuffle_flv::error::FlvError;

/// A fatal session error: the caller sends what `take_output` still holds,
/// then closes the connection.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// The client's handshake was not RTMP's.
    #[error("handshake: {0}")]
    Handshake(#[from] HandshakeError),
    /// The chunk stream broke a rule or a limit.
    #[error("chunk stream: {0}")]
    Chunk(#[from] ChunkError),
    /// A Set Chunk Size outside what we accept (`128..=65536`).
    #[error("Set Chunk Size {0} is outside {min}..={max}", min = crate::MIN_CHUNK_SIZE, max = crate::MAX_CHUNK_SIZE)]
    InvalidChunkSize(u32),
    /// A protocol control or user control message too short for its type.
    #[error("{message} message of {length} bytes is too short")]
    ShortControlMessage {
        /// The message's name, e.g. "Set Chunk Size".
        message: &'static str,
        /// Its length in bytes.
        length: usize,
    },
    /// A command message that could not be read.
    #[error("command: {0}")]
    Command(#[from] CommandError),
    /// An `@setDataFrame`/`onMetaData` message that could not be read.
    #[error("metadata: {0}")]
    MalformedMetadata(AmfError),
    /// A command or media where the session does not allow it, named by
    /// what happened, e.g. "publish before connect".
    #[error("out of order: {0}")]
    OutOfOrder(&'static str),
    /// The client asked to play; this server only takes publishers.
    #[error("play is not supported: this server only accepts publishers")]
    PlayNotSupported,
    /// Video in a codec other than H.264, named (e.g. "Sorenson H.263", "hvc1").
    #[error("unsupported video codec: {0}")]
    UnsupportedVideoCodec(String),
    /// Audio in a codec other than AAC or Opus, named (e.g. "MP3").
    #[error("unsupported audio codec: {0}")]
    UnsupportedAudioCodec(String),
    /// A video tag that could not be read.
    #[error("malformed video tag: {0}")]
    MalformedVideoTag(TagError),
    /// An audio tag that could not be read.
    #[error("malformed audio tag: {0}")]
    MalformedAudioTag(TagError),
    /// A message type we cannot take, e.g. "aggregate".
    #[error("unsupported message: {0}")]
    UnsupportedMessage(&'static str),
    /// A reply could not be encoded (never expected: replies go to memory).
    #[error("reply: {0}")]
    Reply(#[from] ReplyError),
    /// The session had already ended (by an error, or by `reject_publish` or
    /// `end_publish`); nothing more is read.
    #[error("the session has ended")]
    Closed,
}

/// What was wrong with the handshake.
#[derive(Debug, thiserror::Error)]
pub enum HandshakeError {
    /// C0 did not ask for RTMP version 3.
    #[error("{}", describe_version(*.0))]
    UnsupportedVersion(u8),
    /// The answer to C1 could not be written.
    #[error("could not answer C1: {0}")]
    Answer(scuffle_rtmp::error::RtmpError),
}

fn describe_version(version: u8) -> String {
    let guess = match version {
        6 | 8 => "RTMPE (encrypted RTMP) is not supported; use rtmp:// or rtmps://",
        0x16 => "this looks like TLS: rtmps:// sent to a plain RTMP port?",
        b'G' | b'P' | b'H' | b'O' => "this looks like HTTP, not RTMP",
        _ => "not an RTMP client",
    };
    format!("first byte {version:#04x} is not RTMP version 3: {guess}")
}

/// A broken chunk stream (RTMP 1.0 §5.3) or one over our limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ChunkError {
    /// A type 1, 2 or 3 chunk header on a chunk stream that never had a
    /// type 0 header to refer to.
    #[error("chunk stream {0} refers to a previous header it never sent")]
    MissingPreviousHeader(u32),
    /// A type 0, 1 or 2 header while the chunk stream's message is still
    /// incomplete.
    #[error("chunk stream {0} started a new message before finishing the last one")]
    HeaderMidMessage(u32),
    /// A message longer than the limit.
    #[error("a message of {length} bytes exceeds the {limit}-byte limit")]
    MessageTooLarge {
        /// The length the header declared.
        length: u32,
        /// The limit.
        limit: u32,
    },
    /// More chunk streams than the limit.
    #[error("more than {0} chunk streams")]
    TooManyChunkStreams(usize),
    /// More messages in progress at once than the limit.
    #[error("more than {0} messages in progress at once")]
    TooManyPartialMessages(usize),
    /// Messages in progress would hold more bytes than the limit.
    #[error("messages in progress would hold more than {0} bytes")]
    TooMuchBuffered(usize),
}

/// Why an AMF0 payload could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AmfError {
    /// The payload ends inside a value.
    #[error("AMF0 value cut short")]
    Truncated,
    /// A marker we do not read (references, AMF3 switch, unknown).
    #[error("unsupported AMF0 marker {0:#04x}")]
    UnsupportedMarker(u8),
    /// Objects and arrays nested deeper than the limit.
    #[error("AMF0 nested deeper than {} levels", crate::amf0::MAX_DEPTH)]
    TooDeep,
}

/// Why a command message could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    /// Its AMF0 is malformed.
    #[error("{0}")]
    Amf(#[from] AmfError),
    /// It does not start with the command's name.
    #[error("a command message without a command name")]
    NoName,
    /// A required argument is missing or has the wrong type.
    #[error("{command} without {field}")]
    MissingField {
        /// The command, e.g. "publish".
        command: &'static str,
        /// The argument, e.g. "a stream name".
        field: &'static str,
    },
    /// An AMF0 message longer than the limit.
    #[error("an AMF0 message of {length} bytes exceeds the {limit}-byte limit")]
    TooLarge {
        /// Its length.
        length: usize,
        /// The limit.
        limit: usize,
    },
}

/// What was wrong with an FLV audio or video tag.
#[derive(Debug, thiserror::Error)]
pub enum TagError {
    /// The FLV demuxer refused it (cut short, bad configuration record).
    #[error("{0}")]
    Flv(#[from] FlvError),
    /// A packet type the tag's format does not define.
    #[error("unknown packet type {0}")]
    UnknownPacketType(u8),
    /// More Enhanced RTMP modifier extensions than the limit.
    #[error("more than {0} modifier extensions")]
    TooManyModifierExtensions(usize),
    /// An AVC configuration record cut short.
    #[error("AVC configuration record cut short")]
    TruncatedAvcConfig,
    /// An AVC configuration record whose NAL length size is not 1, 2 or 4.
    #[error("NAL length size {0} is not 1, 2 or 4")]
    InvalidNalLengthSize(u8),
    /// An AAC sequence header shorter than an AudioSpecificConfig (2 bytes).
    #[error("AAC sequence header of {0} bytes is too short")]
    ShortAacConfig(usize),
}

/// A reply that could not be encoded.
#[derive(Debug, thiserror::Error)]
pub enum ReplyError {
    /// An AMF0 value could not be encoded.
    #[error("{0}")]
    Amf0(#[from] scuffle_amf0::Amf0Error),
    /// A scuffle writer failed.
    #[error("{0}")]
    Rtmp(#[from] scuffle_rtmp::error::RtmpError),
    /// A chunk could not be written.
    #[error("{0}")]
    Io(#[from] std::io::Error),
}
