//! An RTMP publisher over a blocking TCP stream, driven step by step: the
//! simple handshake (RTMP 1.0 §5.2), messages cut into chunks of a size it
//! chooses (§5.3), AMF0 commands (§7.2), and FLV video and audio tags
//! (FLV 10.1 Annex E; Enhanced RTMP for FourCC video). Nothing is checked on
//! the way out, so a test can send any chunk size, length or tag. The
//! server's replies are read back far enough to report each status it sent
//! and whether it closed the connection. It shares no code with the server.

mod amf0;
mod chunk;
pub mod flv;
mod reply;

use std::io::{ErrorKind, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use chunk::{Incoming, MAX_FIELD, basic_header, message_header};
use reply::{Reply, answers, expect_status};

pub use reply::Status;

/// The chunk size both sides start with (RTMP 1.0 §5.4.1).
pub const DEFAULT_CHUNK_SIZE: u32 = 128;
/// Longest a step waits for the server's reply.
pub const REPLY_WAIT: Duration = Duration::from_secs(5);
/// C1, S1 and S2 are this long; C0 and S0 one byte.
const HANDSHAKE_SIZE: usize = 1536;
const RTMP_VERSION: u8 = 3;
const CONTROL_CHUNK_STREAM: u32 = 2;
const COMMAND_CHUNK_STREAM: u32 = 3;
const AUDIO_CHUNK_STREAM: u32 = 4;
const VIDEO_CHUNK_STREAM: u32 = 6;
const SET_CHUNK_SIZE: u8 = 1;
const USER_CONTROL: u8 = 4;
const AUDIO: u8 = 8;
const VIDEO: u8 = 9;
const COMMAND_AMF0: u8 = 20;
/// User Control events (§7.1.7).
const PING_REQUEST: u16 = 6;
const PING_RESPONSE: u16 = 7;

/// Why a step failed.
#[derive(Debug, thiserror::Error)]
pub enum RtmpError {
    /// The socket failed.
    #[error("RTMP connection failed: {0}")]
    Io(#[from] std::io::Error),
    /// The server closed the connection (or reset it).
    #[error("the server closed the connection")]
    Closed,
    /// The server said nothing that answers the step in time.
    #[error("no answer from the server within {0:?}")]
    TimedOut(Duration),
    /// S0 asks for a version other than 3.
    #[error("the server answered with RTMP version {0}")]
    Version(u8),
    /// The server answered with an error, or a status other than the one
    /// the step waits for.
    #[error("the server answered {code}: {description}")]
    Status {
        /// E.g. "NetStream.Publish.Denied".
        code: String,
        /// What the server said about it.
        description: String,
    },
    /// A reply that could not be read.
    #[error("malformed reply: {0}")]
    MalformedReply(&'static str),
    /// A length that the 24-bit message length field cannot hold.
    #[error("a message length of {0} does not fit the 24-bit field")]
    LengthField(u32),
}

/// One RTMP publishing connection.
pub struct RtmpPublisher {
    tcp: TcpStream,
    chunk_size: u32,
    transaction_id: f64,
    stream_id: u32,
    incoming: Incoming,
    statuses: Vec<Status>,
    closed: bool,
}

impl RtmpPublisher {
    /// Opens a TCP connection to `addr`; nothing is sent yet.
    pub fn open(addr: SocketAddr) -> Result<Self, RtmpError> {
        let tcp = TcpStream::connect_timeout(&addr, REPLY_WAIT)?;
        tcp.set_nodelay(true)?;
        tcp.set_write_timeout(Some(REPLY_WAIT))?;
        Ok(Self {
            tcp,
            chunk_size: DEFAULT_CHUNK_SIZE,
            transaction_id: 0.0,
            stream_id: 0,
            incoming: Incoming::default(),
            statuses: Vec::new(),
            closed: false,
        })
    }

    /// The whole simple handshake: C0+C1, then S0+S1+S2, then C2.
    pub fn handshake(&mut self) -> Result<(), RtmpError> {
        self.send_c0_c1()?;
        let s1 = self.read_s0_s1_s2()?;
        self.send_c2(&s1)
    }

    /// Sends C0 (version 3) and C1 (time 0, zeros, then fixed filler).
    pub fn send_c0_c1(&mut self) -> Result<(), RtmpError> {
        let mut bytes = vec![RTMP_VERSION];
        bytes.extend_from_slice(&[0; 8]);
        bytes.extend((0..HANDSHAKE_SIZE - 8).map(|i| (i as u8).wrapping_mul(31)));
        self.send_raw(&bytes)
    }

    /// Reads S0, S1 and S2; returns S1, which C2 echoes.
    pub fn read_s0_s1_s2(&mut self) -> Result<Vec<u8>, RtmpError> {
        let deadline = Instant::now() + REPLY_WAIT;
        while self.incoming.unread.len() < 1 + 2 * HANDSHAKE_SIZE {
            self.read_more(deadline)?;
        }
        let server: Vec<u8> = self
            .incoming
            .unread
            .drain(..1 + 2 * HANDSHAKE_SIZE)
            .collect();
        match server.split_first() {
            Some((&RTMP_VERSION, s1_s2)) => Ok(s1_s2[..HANDSHAKE_SIZE].to_vec()),
            Some((&version, _)) => Err(RtmpError::Version(version)),
            None => Err(RtmpError::MalformedReply("no S0")),
        }
    }

    /// Sends C2, echoing `s1`.
    pub fn send_c2(&mut self, s1: &[u8]) -> Result<(), RtmpError> {
        self.send_raw(s1)
    }

    /// Sends Set Chunk Size with any value, then cuts what follows into
    /// chunks of that size when it is a size at all (1 to 2^31 − 1).
    pub fn set_chunk_size(&mut self, size: u32) -> Result<(), RtmpError> {
        self.send_message(
            CONTROL_CHUNK_STREAM,
            SET_CHUNK_SIZE,
            0,
            0,
            &size.to_be_bytes(),
        )?;
        if (1..=i32::MAX as u32).contains(&size) {
            self.chunk_size = size;
        }
        Ok(())
    }

    /// Closes the sending side (a FIN), as a client that hangs up mid-step;
    /// what the server still sends can be read.
    pub fn shutdown_write(&mut self) -> Result<(), RtmpError> {
        self.tcp
            .shutdown(std::net::Shutdown::Write)
            .map_err(closed_or_io)
    }

    /// Writes `bytes` as they are.
    pub fn send_raw(&mut self, bytes: &[u8]) -> Result<(), RtmpError> {
        self.tcp.write_all(bytes).map_err(closed_or_io)
    }

    /// Writes one message on `chunk_stream` (2 to 65599, §5.3.1.1): a
    /// type 0 chunk, then type 3 chunks.
    pub fn send_message(
        &mut self,
        chunk_stream: u32,
        type_id: u8,
        stream_id: u32,
        timestamp: u32,
        payload: &[u8],
    ) -> Result<(), RtmpError> {
        let length = u32::try_from(payload.len()).unwrap_or(u32::MAX);
        let mut bytes = message_header(chunk_stream, type_id, stream_id, timestamp, length)?;
        let chunk_size = usize::try_from(self.chunk_size).unwrap_or(usize::MAX);
        for (index, chunk) in payload.chunks(chunk_size).enumerate() {
            if index > 0 {
                bytes.extend(basic_header(3, chunk_stream));
                if timestamp >= MAX_FIELD {
                    bytes.extend_from_slice(&timestamp.to_be_bytes());
                }
            }
            bytes.extend_from_slice(chunk);
        }
        self.send_raw(&bytes)
    }

    /// Writes a type 0 chunk header declaring `declared_length`, then `body`
    /// as it is: a message of any length, cut short or overlong.
    pub fn send_declared_message(
        &mut self,
        chunk_stream: u32,
        type_id: u8,
        declared_length: u32,
        body: &[u8],
    ) -> Result<(), RtmpError> {
        let mut bytes = message_header(chunk_stream, type_id, 0, 0, declared_length)?;
        bytes.extend_from_slice(body);
        self.send_raw(&bytes)
    }

    /// Sends an AMF0 command on message stream `stream_id`: its name, the
    /// next transaction id, a command object of string properties (null
    /// when `None`), then string arguments. Returns the transaction id.
    pub fn send_command(
        &mut self,
        stream_id: u32,
        name: &str,
        object: Option<&[(&str, &str)]>,
        arguments: &[&str],
    ) -> Result<f64, RtmpError> {
        self.transaction_id += 1.0;
        let mut payload = Vec::new();
        amf0::string(&mut payload, name);
        amf0::number(&mut payload, self.transaction_id);
        match object {
            Some(properties) => amf0::object(&mut payload, properties),
            None => payload.push(amf0::NULL),
        }
        for argument in arguments {
            amf0::string(&mut payload, argument);
        }
        self.send_message(COMMAND_CHUNK_STREAM, COMMAND_AMF0, stream_id, 0, &payload)?;
        Ok(self.transaction_id)
    }

    /// `connect`; Ok once the server answers NetConnection.Connect.Success.
    pub fn connect(
        &mut self,
        app: &str,
        tc_url: &str,
        flash_version: &str,
    ) -> Result<(), RtmpError> {
        let object = [
            ("app", app),
            ("type", "nonprivate"),
            ("flashVer", flash_version),
            ("tcUrl", tc_url),
        ];
        let id = self.send_command(0, "connect", Some(&object), &[])?;
        let reply = self.await_reply(|reply| answers(reply, id))?;
        expect_status(reply, "NetConnection.Connect.Success")
    }

    /// `releaseStream`, not waiting for its answer.
    pub fn release_stream(&mut self, stream_name: &str) -> Result<(), RtmpError> {
        self.send_command(0, "releaseStream", None, &[stream_name])
            .map(drop)
    }

    /// `FCPublish`, not waiting for its answer.
    pub fn fc_publish(&mut self, stream_name: &str) -> Result<(), RtmpError> {
        self.send_command(0, "FCPublish", None, &[stream_name])
            .map(drop)
    }

    /// `createStream`; the new stream's id, which later commands use.
    pub fn create_stream(&mut self) -> Result<u32, RtmpError> {
        let id = self.send_command(0, "createStream", None, &[])?;
        match self.await_reply(|reply| answers(reply, id))? {
            Reply::Command {
                number: Some(stream_id),
                ..
            } if stream_id >= 0.0 => {
                self.stream_id = stream_id as u32;
                Ok(self.stream_id)
            }
            _ => Err(RtmpError::MalformedReply(
                "createStream's _result without a stream id",
            )),
        }
    }

    /// `publish` (live); Ok once the server answers NetStream.Publish.Start,
    /// else the status it sent instead.
    pub fn publish(&mut self, stream_name: &str) -> Result<(), RtmpError> {
        self.send_command(self.stream_id, "publish", None, &[stream_name, "live"])?;
        let reply = self.await_reply(
            |reply| matches!(reply, Reply::Command { name, .. } if name == "onStatus"),
        )?;
        expect_status(reply, "NetStream.Publish.Start")
    }

    /// `FCUnpublish`.
    pub fn fc_unpublish(&mut self, stream_name: &str) -> Result<(), RtmpError> {
        self.send_command(0, "FCUnpublish", None, &[stream_name])
            .map(drop)
    }

    /// `deleteStream` of the created stream.
    pub fn delete_stream(&mut self) -> Result<(), RtmpError> {
        let mut payload = Vec::new();
        amf0::string(&mut payload, "deleteStream");
        amf0::number(&mut payload, 0.0);
        payload.push(amf0::NULL);
        amf0::number(&mut payload, f64::from(self.stream_id));
        self.send_message(COMMAND_CHUNK_STREAM, COMMAND_AMF0, 0, 0, &payload)
    }

    /// Sends a video message (an FLV tag body, see [`flv`]) stamped `timestamp` ms.
    pub fn video_tag(&mut self, timestamp: u32, tag: &[u8]) -> Result<(), RtmpError> {
        self.send_message(VIDEO_CHUNK_STREAM, VIDEO, self.stream_id, timestamp, tag)
    }

    /// Sends an audio message (an FLV tag body, see [`flv`]) stamped `timestamp` ms.
    pub fn audio_tag(&mut self, timestamp: u32, tag: &[u8]) -> Result<(), RtmpError> {
        self.send_message(AUDIO_CHUNK_STREAM, AUDIO, self.stream_id, timestamp, tag)
    }

    /// Sends a PingRequest and waits for the server's PingResponse: proof
    /// that the connection is served.
    pub fn ping(&mut self, timestamp: u32) -> Result<(), RtmpError> {
        self.send_message(
            CONTROL_CHUNK_STREAM,
            USER_CONTROL,
            0,
            0,
            &ping_request(timestamp),
        )?;
        self.await_reply(|reply| *reply == Reply::PingResponse(timestamp))
            .map(drop)
    }

    /// Sends PingRequests as fast as the socket takes them and never reads
    /// the answers, as a client that stopped reading would, until the
    /// server closes the connection or `until`. Returns when the server
    /// closed it, if it did.
    pub fn flood_ping_requests(&mut self, until: Instant) -> Result<Option<Instant>, RtmpError> {
        let mut requests = Vec::new();
        for timestamp in 0..256 {
            requests.extend(message_header(CONTROL_CHUNK_STREAM, USER_CONTROL, 0, 0, 6)?);
            requests.extend(ping_request(timestamp));
        }
        self.tcp
            .set_write_timeout(Some(Duration::from_millis(50)))?;
        let closed = self.write_until_closed(&requests, until);
        self.tcp.set_write_timeout(Some(REPLY_WAIT))?;
        closed
    }

    /// Writes `bytes` over and over until the server closes or `until`.
    fn write_until_closed(
        &mut self,
        bytes: &[u8],
        until: Instant,
    ) -> Result<Option<Instant>, RtmpError> {
        let mut at = 0;
        while Instant::now() < until {
            match self.tcp.write(&bytes[at..]) {
                Ok(0) => return Ok(Some(Instant::now())),
                Ok(n) => at = (at + n) % bytes.len(),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(e) => match closed_or_io(e) {
                    RtmpError::Closed => return Ok(Some(Instant::now())),
                    other => return Err(other),
                },
            }
        }
        Ok(None)
    }
}

/// A reset or broken pipe means the server closed the connection.
fn closed_or_io(error: std::io::Error) -> RtmpError {
    match error.kind() {
        ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted | ErrorKind::BrokenPipe => {
            RtmpError::Closed
        }
        _ => RtmpError::Io(error),
    }
}

fn ping_request(timestamp: u32) -> Vec<u8> {
    [&PING_REQUEST.to_be_bytes()[..], &timestamp.to_be_bytes()].concat()
}
