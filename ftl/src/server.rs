//! ServerSession: the ingest side of one FTL control connection, sans-IO.
//! Bytes and time in; reply bytes, events and a deadline out (FTL-SPEC §3).
//!
//! States are named after what they wait for:
//! `ExpectHmac → ExpectConnect → AwaitKey → ExpectAttributes →
//! AwaitMediaPort → Streaming → Closed`. `AwaitKey` and `AwaitMediaPort`
//! wait on the caller (a key lookup, a media port); lines that arrive
//! meanwhile stay buffered, bounded, and are read once the caller answers.

use std::collections::VecDeque;
use std::num::NonZeroU16;
use std::time::{Duration, Instant};

use crate::command::Command;
use crate::error::ControlError;
use crate::hmac::{self, Challenge, Digest};
use crate::line::{LineSplitter, MAX_LINE_LEN};
use crate::metadata::{AttributeSet, StreamMetadata};
use crate::status::StatusCode;

/// Limits and deadlines of a server session. Every field has the default the
/// spec recommends (FTL-SPEC §3.6).
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// From the session's creation (TCP accept) until the media port is sent.
    /// janus uses 5 s; the client itself gives up after 5 s per reply.
    pub handshake_timeout: Duration,
    /// Longest time without a `PING` once streaming. ftl-sdk pings every 5 s.
    pub ping_timeout: Duration,
    /// Longest control line, without its terminator.
    pub max_line_len: usize,
    /// Most attribute lines before `.` (ftl-sdk sends 13).
    pub max_attributes: usize,
    /// Most unknown or ignored lines over the session's life.
    pub max_ignored_lines: usize,
    /// PINGs answered in a burst; more are counted, not answered, and do not
    /// end the session.
    pub ping_burst: u32,
    /// One more PING may be answered per this interval.
    pub ping_refill: Duration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            handshake_timeout: Duration::from_secs(5),
            ping_timeout: Duration::from_secs(30),
            max_line_len: MAX_LINE_LEN,
            max_attributes: 64,
            max_ignored_lines: 32,
            ping_burst: 4,
            ping_refill: Duration::from_secs(1),
        }
    }
}

/// Something the caller must know or act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A well-formed `CONNECT` arrived. Look up the channel's stream key and
    /// call [`ServerSession::verify_key`], or [`ServerSession::terminate`]
    /// (e.g. with [`StatusCode::InvalidStreamKey`] for an unknown channel).
    KeyRequired {
        /// The channel the client claims.
        channel: u32,
    },
    /// The digest matched the key; `200` was sent.
    Authenticated {
        /// The authenticated channel.
        channel: u32,
    },
    /// `.` arrived with valid attributes. Open a media port and call
    /// [`ServerSession::start_media`], or [`ServerSession::terminate`].
    MediaRequested {
        /// The authenticated channel.
        channel: u32,
        /// What the client announced.
        metadata: StreamMetadata,
    },
    /// A `PING` was answered with `201`.
    Ping,
    /// A line was ignored: unknown, or a PING for another channel. PINGs over
    /// the rate limit make no event (a storm must not grow the queue); see
    /// [`ServerSession::pings_rate_limited`].
    Ignored(Ignored),
}

/// Why a line was ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ignored {
    /// Not a command this server knows.
    UnknownCommand,
    /// A `PING` naming another channel.
    PingForOtherChannel,
}

/// Why the session ended. The connection should be closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    /// The client sent `DISCONNECT`.
    ClientDisconnected,
    /// The client broke the protocol or a deadline passed; the error's status
    /// code was sent.
    Error(ControlError),
    /// The caller ended it with [`ServerSession::terminate`]; that code was sent.
    Terminated(StatusCode),
}

/// What the session wants done next. Drain with [`ServerSession::poll_output`]
/// until it returns `Timeout` or `Close`.
#[derive(Debug, PartialEq, Eq)]
pub enum Output<'a> {
    /// Write these bytes to the connection.
    Send(&'a [u8]),
    /// Act on this event.
    Event(Event),
    /// Close the connection, after writing everything sent before. Returned
    /// again on every later poll.
    Close(CloseReason),
    /// Call [`ServerSession::handle_timeout`] at this instant if nothing else
    /// happens first.
    Timeout(Instant),
}

#[derive(Debug)]
enum State {
    ExpectHmac,
    ExpectConnect,
    AwaitKey {
        channel: u32,
        digest: Digest,
    },
    ExpectAttributes {
        channel: u32,
        attributes: Box<AttributeSet>,
        count: usize,
    },
    AwaitMediaPort {
        channel: u32,
    },
    Streaming {
        channel: u32,
        ping_deadline: Instant,
    },
    Closed(CloseReason),
}

impl State {
    fn describe(&self) -> &'static str {
        match self {
            Self::ExpectHmac => "expecting HMAC",
            Self::ExpectConnect => "expecting CONNECT",
            Self::AwaitKey { .. } => "checking the key",
            Self::ExpectAttributes { .. } => "expecting attributes",
            Self::AwaitMediaPort { .. } => "opening the media port",
            Self::Streaming { .. } => "streaming",
            Self::Closed(_) => "closed",
        }
    }

    fn awaits_caller(&self) -> bool {
        matches!(self, Self::AwaitKey { .. } | Self::AwaitMediaPort { .. })
    }
}

/// The server side of one FTL control connection.
///
/// Contract: after every call to `handle_input`, `handle_timeout`,
/// `verify_key`, `start_media` or `terminate`, drain
/// [`poll_output`](Self::poll_output) until it returns `Timeout` or `Close`.
#[derive(Debug)]
pub struct ServerSession {
    config: ServerConfig,
    challenge: Challenge,
    state: State,
    handshake_deadline: Instant,
    lines: LineSplitter,
    tx: Vec<u8>,
    /// Bytes at the front of `tx` already returned by `poll_output`.
    tx_handed_out: usize,
    events: VecDeque<Event>,
    ignored_lines: usize,
    pings_rate_limited: u64,
    ping_tokens: u32,
    ping_refilled_at: Instant,
}

impl ServerSession {
    /// A session for a connection accepted at `now`. `challenge` must be
    /// fresh random bytes (the crate has no rng of its own).
    pub fn new(now: Instant, challenge: Challenge, config: ServerConfig) -> Self {
        Self {
            handshake_deadline: now + config.handshake_timeout,
            lines: LineSplitter::new(config.max_line_len),
            ping_tokens: config.ping_burst,
            ping_refilled_at: now,
            config,
            challenge,
            state: State::ExpectHmac,
            tx: Vec::with_capacity(2 * hmac::CHALLENGE_LEN + 8),
            tx_handed_out: 0,
            events: VecDeque::new(),
            ignored_lines: 0,
            pings_rate_limited: 0,
        }
    }

    /// The channel, once `CONNECT` named one.
    pub fn channel(&self) -> Option<u32> {
        match self.state {
            State::AwaitKey { channel, .. }
            | State::ExpectAttributes { channel, .. }
            | State::AwaitMediaPort { channel }
            | State::Streaming { channel, .. } => Some(channel),
            _ => None,
        }
    }

    /// PINGs not answered because they came faster than the rate limit.
    pub fn pings_rate_limited(&self) -> u64 {
        self.pings_rate_limited
    }

    /// Whether the media port was sent and the stream is live.
    pub fn is_streaming(&self) -> bool {
        matches!(self.state, State::Streaming { .. })
    }

    /// Feeds bytes read from the connection at `now`, split anywhere.
    pub fn handle_input(&mut self, now: Instant, mut data: &[u8]) {
        self.handle_timeout(now);
        while !data.is_empty() && !self.is_closed() {
            let taken = self.lines.push(data);
            data = &data[taken..];
            self.read_lines(now);
            if taken == 0 && !self.is_closed() {
                // Only a paused session can run out of room: a running one
                // reads lines out or fails with LineTooLong first.
                self.fail(ControlError::InputWhileWaiting);
            }
        }
    }

    /// Fires whatever deadline has passed at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        match self.state {
            State::Closed(_) => {}
            State::Streaming { ping_deadline, .. } => {
                if now >= ping_deadline {
                    self.fail(ControlError::PingTimeout);
                }
            }
            _ => {
                if now >= self.handshake_deadline {
                    self.fail(ControlError::HandshakeTimeout);
                }
            }
        }
    }

    /// The next deadline, or `None` once closed.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.state {
            State::Closed(_) => None,
            State::Streaming { ping_deadline, .. } => Some(ping_deadline),
            _ => Some(self.handshake_deadline),
        }
    }

    /// Answers [`Event::KeyRequired`] with the channel's stream key (the part
    /// after the separator). Sends `200` and reads on if the digest matches,
    /// `405` and closes if not. Does nothing unless a key is awaited, so a late
    /// answer to a session that already timed out is harmless.
    pub fn verify_key(&mut self, now: Instant, key: &[u8]) {
        let State::AwaitKey { channel, digest } = self.state else {
            return;
        };
        if !hmac::verify(key, &self.challenge, &digest) {
            self.fail(ControlError::HmacMismatch);
            return;
        }
        self.tx.extend_from_slice(StatusCode::Ok.line());
        self.events.push_back(Event::Authenticated { channel });
        self.state = State::ExpectAttributes {
            channel,
            attributes: Box::default(),
            count: 0,
        };
        self.read_lines(now);
    }

    /// Answers [`Event::MediaRequested`] with the UDP port media goes to.
    /// Sends `200 hi. Use UDP port <port>`, the form every known client parses
    /// (FTL-SPEC §3.2 d). Does nothing unless a port is awaited.
    pub fn start_media(&mut self, now: Instant, port: NonZeroU16) {
        let State::AwaitMediaPort { channel } = self.state else {
            return;
        };
        self.tx.extend_from_slice(b"200 hi. Use UDP port ");
        push_decimal(&mut self.tx, u32::from(port.get()));
        self.tx.push(b'\n');
        self.state = State::Streaming {
            channel,
            ping_deadline: now + self.config.ping_timeout,
        };
        self.read_lines(now);
    }

    /// Ends the session with `status`: the code line is sent, then `Close`.
    /// Use it to refuse (unknown channel: 405, channel live: 406, no port: 500)
    /// or to stop a live stream (no media: 408, shutdown or takeover: 410).
    pub fn terminate(&mut self, status: StatusCode) {
        if !self.is_closed() {
            // ftl-sdk reads one code per chunk: a `201` not yet written would
            // hide the closing code, so it is dropped (FTL-SPEC §3.5).
            let unsent = &self.tx[self.tx_handed_out..];
            if unsent.chunks(4).all(|line| line == StatusCode::Ping.line()) {
                self.tx.truncate(self.tx_handed_out);
            }
            self.tx.extend_from_slice(status.line());
            self.state = State::Closed(CloseReason::Terminated(status));
        }
    }

    /// The next thing to do. See [`Output`].
    pub fn poll_output(&mut self) -> Output<'_> {
        // Only what was handed out is gone: a reply queued between two polls
        // (by `terminate`, say) is still sent.
        self.tx.drain(..self.tx_handed_out);
        self.tx_handed_out = self.tx.len();
        if !self.tx.is_empty() {
            return Output::Send(&self.tx);
        }
        if let Some(event) = self.events.pop_front() {
            return Output::Event(event);
        }
        match (&self.state, self.poll_timeout()) {
            (State::Closed(reason), _) => Output::Close(*reason),
            (_, Some(deadline)) => Output::Timeout(deadline),
            (_, None) => unreachable!("only a closed session has no deadline"),
        }
    }

    fn is_closed(&self) -> bool {
        matches!(self.state, State::Closed(_))
    }

    fn fail(&mut self, error: ControlError) {
        self.terminate(error.status());
        self.state = State::Closed(CloseReason::Error(error));
    }

    fn read_lines(&mut self, now: Instant) {
        while !self.is_closed() && !self.state.awaits_caller() {
            let Some(line) = self.lines.next_line() else {
                return;
            };
            let command = match line {
                Ok(range) => Command::parse(self.lines.line(range)),
                Err(_) => {
                    self.fail(ControlError::LineTooLong {
                        max: self.config.max_line_len,
                    });
                    return;
                }
            };
            match command {
                Ok(command) => self.handle_command(now, command),
                Err(error) => self.fail(error.into()),
            }
        }
    }

    fn handle_command(&mut self, now: Instant, command: Command) {
        let kind = command.kind();
        match (command, &mut self.state) {
            (Command::Disconnect, _) => {
                self.state = State::Closed(CloseReason::ClientDisconnected);
            }
            (Command::Hmac, State::ExpectHmac) => {
                self.tx.extend_from_slice(b"200 ");
                hmac::encode_hex(&self.challenge, &mut self.tx);
                self.tx.push(b'\n');
                self.state = State::ExpectConnect;
            }
            (Command::Connect { channel, digest }, State::ExpectConnect) => {
                self.events.push_back(Event::KeyRequired { channel });
                self.state = State::AwaitKey { channel, digest };
            }
            (
                Command::Attribute(attribute),
                State::ExpectAttributes {
                    attributes, count, ..
                },
            ) => {
                *count += 1;
                if *count > self.config.max_attributes {
                    let max = self.config.max_attributes;
                    self.fail(ControlError::TooManyAttributes { max });
                } else {
                    attributes.apply(attribute);
                }
            }
            (
                Command::Dot,
                State::ExpectAttributes {
                    channel,
                    attributes,
                    ..
                },
            ) => {
                let channel = *channel;
                match std::mem::take(attributes.as_mut()).finish() {
                    Ok(metadata) => {
                        self.events
                            .push_back(Event::MediaRequested { channel, metadata });
                        self.state = State::AwaitMediaPort { channel };
                    }
                    Err(error) => self.fail(error.into()),
                }
            }
            (Command::Ping { channel: pinged }, State::Streaming { channel, .. }) => {
                if pinged.is_some_and(|pinged| pinged != *channel) {
                    self.ignore(Ignored::PingForOtherChannel);
                } else {
                    self.answer_ping(now);
                }
            }
            (Command::Unknown, state) if !matches!(state, State::ExpectHmac) => {
                self.ignore(Ignored::UnknownCommand);
            }
            (_, state) => {
                let state = state.describe();
                self.fail(ControlError::UnexpectedCommand {
                    command: kind,
                    state,
                });
            }
        }
    }

    fn answer_ping(&mut self, now: Instant) {
        if let State::Streaming { ping_deadline, .. } = &mut self.state {
            *ping_deadline = now + self.config.ping_timeout;
        }
        let refill = self.config.ping_refill.max(Duration::from_millis(1));
        let earned = now
            .saturating_duration_since(self.ping_refilled_at)
            .as_nanos()
            / refill.as_nanos();
        if earned > 0 {
            let earned = u32::try_from(earned).unwrap_or(u32::MAX);
            self.ping_tokens = self
                .ping_tokens
                .saturating_add(earned)
                .min(self.config.ping_burst);
            self.ping_refilled_at = now;
        }
        if self.ping_tokens == 0 {
            self.pings_rate_limited += 1;
            return;
        }
        self.ping_tokens -= 1;
        self.tx.extend_from_slice(StatusCode::Ping.line());
        self.events.push_back(Event::Ping);
    }

    fn ignore(&mut self, why: Ignored) {
        self.ignored_lines += 1;
        if self.ignored_lines > self.config.max_ignored_lines {
            let max = self.config.max_ignored_lines;
            self.fail(ControlError::TooManyIgnoredLines { max });
        } else {
            self.events.push_back(Event::Ignored(why));
        }
    }
}

fn push_decimal(out: &mut Vec<u8>, value: u32) {
    let mut digits = [0u8; 10];
    let mut at = digits.len();
    let mut rest = value;
    loop {
        at -= 1;
        digits[at] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[at..]);
}
