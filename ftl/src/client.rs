//! ClientSession: the encoder side of an FTL control connection, sans-IO,
//! speaking exactly what ftl-sdk sends (FTL-SPEC §3.2). Tests and relays use
//! it instead of a second implementation.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::command::MAX_TEXT_ATTRIBUTE_LEN;
use crate::hmac;
use crate::line::{LineSplitter, MAX_LINE_LEN};
use crate::metadata::StreamMetadata;
use crate::status::StatusCode;
use crate::stream_key::StreamKey;

/// Longest challenge the client accepts, in bytes (ftl-sdk reads the line into
/// a 2048-byte buffer).
pub const MAX_CHALLENGE_LEN: usize = 500;

/// Deadlines of a client session, as ftl-sdk has them (FTL-SPEC §3.6).
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Longest wait for each handshake reply (`SOCKET_RECV_TIMEOUT_MS`).
    pub reply_timeout: Duration,
    /// How often `PING` is sent once streaming (`KEEPALIVE_FREQUENCY_MS`).
    pub ping_interval: Duration,
    /// Longest time without a `201` before giving up.
    pub ping_timeout: Duration,
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            reply_timeout: Duration::from_secs(5),
            ping_interval: Duration::from_secs(5),
            ping_timeout: Duration::from_secs(30),
        }
    }
}

/// Something the client's caller must know.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientEvent {
    /// The handshake finished: send media to this UDP port on the server's IP.
    MediaPort(u16),
    /// The server answered a `PING`.
    Pong,
}

/// Why the client session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ClientError {
    /// The server answered with a status other than the one expected.
    #[error("server answered {0}")]
    Refused(StatusCode),
    /// The server sent a line that is not an FTL reply.
    #[error("server sent an unreadable reply")]
    MalformedReply,
    /// The server sent a line longer than the cap.
    #[error("server sent a reply line over the length cap")]
    LineTooLong,
    /// A handshake reply did not come in time.
    #[error("server did not answer in time")]
    ReplyTimeout,
    /// No `201` for too long while streaming.
    #[error("server stopped answering PING")]
    PingTimeout,
    /// The caller called [`ClientSession::disconnect`].
    #[error("disconnected by the caller")]
    Disconnected,
}

/// What the client wants done next; drain until `Timeout` or `Close`.
#[derive(Debug, PartialEq, Eq)]
pub enum ClientOutput<'a> {
    /// Write these bytes to the connection.
    Send(&'a [u8]),
    /// Act on this event.
    Event(ClientEvent),
    /// Close the connection after writing what was sent before; repeated.
    Close(ClientError),
    /// Call [`ClientSession::handle_timeout`] at this instant.
    Timeout(Instant),
}

#[derive(Debug)]
enum ClientState {
    ExpectChallenge {
        deadline: Instant,
    },
    ExpectConnectOk {
        deadline: Instant,
    },
    ExpectPort {
        deadline: Instant,
    },
    Streaming {
        next_ping: Instant,
        pong_deadline: Instant,
    },
    Closed(ClientError),
}

/// The encoder side of one FTL control connection.
#[derive(Debug)]
pub struct ClientSession {
    config: ClientConfig,
    key: StreamKey,
    metadata: StreamMetadata,
    state: ClientState,
    lines: LineSplitter,
    tx: Vec<u8>,
    /// Bytes at the front of `tx` already returned by `poll_output`.
    tx_handed_out: usize,
    events: VecDeque<ClientEvent>,
}

impl ClientSession {
    /// Starts a handshake at `now` for `key`, announcing `metadata` (its
    /// tracks' SSRCs are normally `key.audio_ssrc()` and `key.video_ssrc()`).
    /// The first output is `HMAC`.
    pub fn new(
        now: Instant,
        key: StreamKey,
        metadata: StreamMetadata,
        config: ClientConfig,
    ) -> Self {
        let mut session = Self {
            state: ClientState::ExpectChallenge {
                deadline: now + config.reply_timeout,
            },
            config,
            key,
            metadata,
            lines: LineSplitter::new(MAX_LINE_LEN),
            tx: Vec::with_capacity(512),
            tx_handed_out: 0,
            events: VecDeque::new(),
        };
        session.send_command(b"HMAC");
        session
    }

    /// Feeds bytes read from the connection at `now`.
    pub fn handle_input(&mut self, now: Instant, mut data: &[u8]) {
        self.handle_timeout(now);
        while !data.is_empty() && !self.is_closed() {
            let taken = self.lines.push(data);
            data = &data[taken..];
            while !self.is_closed() {
                let line = match self.lines.next_line() {
                    None => break,
                    Some(Err(_)) => {
                        self.close(ClientError::LineTooLong);
                        break;
                    }
                    Some(Ok(range)) => self.lines.line(range).to_vec(),
                };
                self.handle_line(now, &line);
            }
        }
    }

    /// Fires whatever deadline has passed at `now`: a late reply, a due
    /// `PING`, or a server that stopped answering them.
    pub fn handle_timeout(&mut self, now: Instant) {
        match self.state {
            ClientState::ExpectChallenge { deadline }
            | ClientState::ExpectConnectOk { deadline }
            | ClientState::ExpectPort { deadline } => {
                if now >= deadline {
                    self.close(ClientError::ReplyTimeout);
                }
            }
            ClientState::Streaming {
                next_ping,
                pong_deadline,
            } => {
                if now >= pong_deadline {
                    self.close(ClientError::PingTimeout);
                } else if now >= next_ping {
                    self.send_ping();
                    self.state = ClientState::Streaming {
                        next_ping: now + self.config.ping_interval,
                        pong_deadline,
                    };
                }
            }
            ClientState::Closed(_) => {}
        }
    }

    /// The next deadline, or `None` once closed.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.state {
            ClientState::ExpectChallenge { deadline }
            | ClientState::ExpectConnectOk { deadline }
            | ClientState::ExpectPort { deadline } => Some(deadline),
            ClientState::Streaming {
                next_ping,
                pong_deadline,
            } => Some(next_ping.min(pong_deadline)),
            ClientState::Closed(_) => None,
        }
    }

    /// Sends `DISCONNECT` and closes, without waiting for a reply (as ftl-sdk).
    pub fn disconnect(&mut self) {
        if !self.is_closed() {
            self.send_command(b"DISCONNECT");
            self.state = ClientState::Closed(ClientError::Disconnected);
        }
    }

    /// The next thing to do. See [`ClientOutput`].
    pub fn poll_output(&mut self) -> ClientOutput<'_> {
        self.tx.drain(..self.tx_handed_out);
        self.tx_handed_out = self.tx.len();
        if !self.tx.is_empty() {
            return ClientOutput::Send(&self.tx);
        }
        if let Some(event) = self.events.pop_front() {
            return ClientOutput::Event(event);
        }
        match (&self.state, self.poll_timeout()) {
            (ClientState::Closed(error), _) => ClientOutput::Close(*error),
            (_, Some(deadline)) => ClientOutput::Timeout(deadline),
            (_, None) => unreachable!("only a closed session has no deadline"),
        }
    }

    fn is_closed(&self) -> bool {
        matches!(self.state, ClientState::Closed(_))
    }

    fn close(&mut self, error: ClientError) {
        self.state = ClientState::Closed(error);
    }

    fn handle_line(&mut self, now: Instant, line: &[u8]) {
        let Some((status, rest)) = parse_reply(line) else {
            self.close(ClientError::MalformedReply);
            return;
        };
        match self.state {
            ClientState::ExpectChallenge { .. } => {
                if status != StatusCode::Ok {
                    return self.close(ClientError::Refused(status));
                }
                let Some(hex) = rest.strip_prefix(b" ") else {
                    return self.close(ClientError::MalformedReply);
                };
                let mut challenge = [0u8; MAX_CHALLENGE_LEN];
                let Some(challenge) = challenge.get_mut(..hex.len() / 2) else {
                    return self.close(ClientError::MalformedReply);
                };
                if challenge.is_empty() || hmac::decode_hex(hex, challenge, false).is_none() {
                    return self.close(ClientError::MalformedReply);
                }
                let digest = hmac::sign(self.key.secret.as_bytes(), challenge);
                let mut command = Vec::with_capacity(160);
                command.extend_from_slice(b"CONNECT ");
                // `%d` of a uint32_t: ids ≥ 2^31 go out negative (FTL-SPEC §3.2 b).
                command.extend_from_slice((self.key.channel as i32).to_string().as_bytes());
                command.extend_from_slice(b" $");
                hmac::encode_hex(&digest, &mut command);
                self.send_command(&command);
                self.state = ClientState::ExpectConnectOk {
                    deadline: now + self.config.reply_timeout,
                };
            }
            ClientState::ExpectConnectOk { .. } => {
                if status != StatusCode::Ok {
                    return self.close(ClientError::Refused(status));
                }
                self.send_attributes();
                self.state = ClientState::ExpectPort {
                    deadline: now + self.config.reply_timeout,
                };
            }
            ClientState::ExpectPort { .. } => {
                if status != StatusCode::Ok {
                    return self.close(ClientError::Refused(status));
                }
                let Some(port) = parse_port(line) else {
                    return self.close(ClientError::MalformedReply);
                };
                self.events.push_back(ClientEvent::MediaPort(port));
                self.state = ClientState::Streaming {
                    next_ping: now + self.config.ping_interval,
                    pong_deadline: now + self.config.ping_timeout,
                };
            }
            ClientState::Streaming { next_ping, .. } => match status {
                StatusCode::Ping => {
                    self.events.push_back(ClientEvent::Pong);
                    self.state = ClientState::Streaming {
                        next_ping,
                        pong_deadline: now + self.config.ping_timeout,
                    };
                }
                StatusCode::Ok => {}
                other => self.close(ClientError::Refused(other)),
            },
            ClientState::Closed(_) => {}
        }
    }

    fn send_command(&mut self, command: &[u8]) {
        // `\r\n\r\n`, as ftl-sdk frames every command (FTL-SPEC §3.1).
        self.tx.extend_from_slice(command);
        self.tx.extend_from_slice(b"\r\n\r\n");
    }

    fn send_ping(&mut self) {
        let command = format!("PING {}", self.key.channel as i32);
        self.send_command(command.as_bytes());
    }

    /// The attribute lines in ftl-sdk's fixed order, then `.`.
    fn send_attributes(&mut self) {
        let metadata = &self.metadata;
        let text = |value: &Option<String>, default: &str| {
            let value = value.as_deref().unwrap_or(default);
            let mut end = value.len().min(MAX_TEXT_ATTRIBUTE_LEN);
            while !value.is_char_boundary(end) {
                end -= 1;
            }
            value[..end].to_owned()
        };
        let mut lines = vec![
            format!(
                "ProtocolVersion: {}",
                text(&metadata.protocol_version, "0.9")
            ),
            format!("VendorName: {}", text(&metadata.vendor_name, "waveguide")),
            format!(
                "VendorVersion: {}",
                text(&metadata.vendor_version, env!("CARGO_PKG_VERSION"))
            ),
        ];
        if let Some(video) = metadata.video {
            lines.push("Video: true".into());
            lines.push("VideoCodec: H264".into());
            lines.push(format!("VideoHeight: {}", video.height_hint.unwrap_or(720)));
            lines.push(format!("VideoWidth: {}", video.width_hint.unwrap_or(1280)));
            lines.push(format!("VideoPayloadType: {}", video.payload_type));
            lines.push(format!("VideoIngestSSRC: {}", video.ssrc as i32));
        }
        if let Some(audio) = metadata.audio {
            lines.push("Audio: true".into());
            lines.push("AudioCodec: OPUS".into());
            lines.push(format!("AudioPayloadType: {}", audio.payload_type));
            lines.push(format!("AudioIngestSSRC: {}", audio.ssrc as i32));
        }
        lines.push(".".into());
        for line in lines {
            self.send_command(line.as_bytes());
        }
    }
}

/// A reply line: three digits naming a known status, then the rest.
fn parse_reply(line: &[u8]) -> Option<(StatusCode, &[u8])> {
    let digits = line.get(..3)?;
    if !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let code = digits
        .iter()
        .fold(0u16, |acc, &d| acc * 10 + u16::from(d - b'0'));
    Some((StatusCode::from_code(code)?, &line[3..]))
}

/// The port in a `200 ...` reply, read as ftl-sdk reads it with
/// `sscanf(resp, "%*[^.]. Use UDP port %d")`: one or more non-`.` chars, a
/// `.`, the words with any whitespace (or none) where the format has a space,
/// then a decimal number; anything after it is ignored.
fn parse_port(line: &[u8]) -> Option<u16> {
    let dot = line
        .iter()
        .position(|&b| b == b'.')
        .filter(|&dot| dot > 0)?;
    let mut rest = &line[dot + 1..];
    for word in [&b"Use"[..], b"UDP", b"port"] {
        rest = rest.trim_ascii_start().strip_prefix(word)?;
    }
    let rest = rest.trim_ascii_start();
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 || digits > 5 {
        return None;
    }
    let port = rest[..digits]
        .iter()
        .fold(0u32, |acc, &d| acc * 10 + u32::from(d - b'0'));
    u16::try_from(port).ok().filter(|&port| port != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_reply_forms_from_the_spec() {
        assert_eq!(parse_port(b"200 hi. Use UDP port 51517"), Some(51517));
        assert_eq!(parse_port(b"200. Use UDP port 9000"), Some(9000));
        assert_eq!(parse_port(b"200 OK. Use UDP port 9001"), Some(9001));
        assert_eq!(
            parse_port(b"200 hi.Use UDP  port 9002 trailing"),
            Some(9002)
        );
        assert_eq!(parse_port(b""), None);
        assert_eq!(parse_port(b"200"), None);
        assert_eq!(parse_port(b". Use UDP port 9000"), None);
        assert_eq!(parse_port(b"200 hi. Use UDP port 65536"), None);
        assert_eq!(parse_port(b"200 hi. Use UDP port 0"), None);
        assert_eq!(parse_port(b"200 hi. Use UDP port x"), None);
    }

    #[test]
    fn reply_codes() {
        assert_eq!(parse_reply(b"201"), Some((StatusCode::Ping, &b""[..])));
        assert_eq!(parse_reply(b"200 ab"), Some((StatusCode::Ok, &b" ab"[..])));
        assert_eq!(parse_reply(b"20"), None);
        assert_eq!(parse_reply(b"999"), None);
        assert_eq!(parse_reply(b"abc"), None);
    }
}
