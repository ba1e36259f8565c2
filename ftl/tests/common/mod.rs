//! A harness for driving sans-IO FTL sessions in tests: feed bytes, advance a
//! fake clock, collect what comes out.

#![allow(
    clippy::unwrap_used,
    reason = "a failed unwrap in a test is a failed test"
)]
#![allow(
    dead_code,
    reason = "each test file uses a different part of the harness"
)]
#![allow(
    clippy::disallowed_methods,
    reason = "a test takes one Instant and adds to it"
)]

use std::time::{Duration, Instant};

use ftl::{CloseReason, Event, Output, ServerConfig, ServerSession, StatusCode};

/// The challenge every test session hands out: bytes 0x00..0x7f (FTL-SPEC §3.4).
pub fn spec_challenge() -> ftl::Challenge {
    std::array::from_fn(|i| i as u8)
}

/// The media port the harness assigns.
pub const MEDIA_PORT: u16 = 51517;

fn media_port() -> std::num::NonZeroU16 {
    std::num::NonZeroU16::new(MEDIA_PORT).unwrap()
}

/// One thing the session produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Out {
    Sent(Vec<u8>),
    Event(Event),
    Close(CloseReason),
}

/// A server session with a fake clock that answers key lookups for channel
/// 123 with `secretkey` and media requests with [`MEDIA_PORT`].
pub struct Harness {
    pub session: ServerSession,
    pub now: Instant,
    pub t0: Instant,
    pub answer_caller: bool,
}

impl Harness {
    pub fn new() -> Self {
        Self::with_config(ServerConfig::default())
    }

    pub fn with_config(config: ServerConfig) -> Self {
        let t0 = Instant::now();
        Self {
            session: ServerSession::new(t0, spec_challenge(), config),
            now: t0,
            t0,
            answer_caller: true,
        }
    }

    pub fn feed(&mut self, bytes: &[u8]) -> Vec<Out> {
        self.session.handle_input(self.now, bytes);
        self.drain()
    }

    pub fn advance(&mut self, by: Duration) -> Vec<Out> {
        self.now += by;
        self.session.handle_timeout(self.now);
        self.drain()
    }

    pub fn drain(&mut self) -> Vec<Out> {
        let mut outs = Vec::new();
        loop {
            match self.session.poll_output() {
                Output::Send(bytes) => outs.push(Out::Sent(bytes.to_vec())),
                Output::Event(event) => {
                    if self.answer_caller {
                        match &event {
                            Event::KeyRequired { channel: 123 } => {
                                self.session.verify_key(self.now, b"secretkey")
                            }
                            Event::KeyRequired { .. } => {
                                self.session.terminate(StatusCode::InvalidStreamKey)
                            }
                            Event::MediaRequested { .. } => {
                                self.session.start_media(self.now, media_port())
                            }
                            _ => {}
                        }
                    }
                    outs.push(Out::Event(event));
                }
                Output::Close(reason) => {
                    outs.push(Out::Close(reason));
                    return outs;
                }
                Output::Timeout(deadline) => {
                    assert!(deadline > self.now, "poll_output returned a due deadline");
                    return outs;
                }
            }
        }
    }

    /// Runs the handshake up to streaming; returns everything it produced.
    pub fn stream(&mut self) -> Vec<Out> {
        let outs = self.feed(&handshake_bytes("123", "secretkey"));
        assert!(self.session.is_streaming(), "{outs:?}");
        outs
    }
}

/// All bytes the session sent, concatenated.
pub fn sent(outs: &[Out]) -> Vec<u8> {
    outs.iter()
        .filter_map(|out| match out {
            Out::Sent(bytes) => Some(bytes.as_slice()),
            _ => None,
        })
        .flatten()
        .copied()
        .collect()
}

/// The close reason, if the session closed.
pub fn closed(outs: &[Out]) -> Option<CloseReason> {
    outs.iter().find_map(|out| match out {
        Out::Close(reason) => Some(*reason),
        _ => None,
    })
}

/// The lowercase hex CONNECT digest for `key` over the spec challenge.
pub fn digest_hex(key: &str) -> String {
    ftl::sign(key.as_bytes(), &spec_challenge())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

pub use ftl::reference::FTL_APP_ATTRIBUTES;

/// Frames commands the way ftl-sdk does: `\r\n\r\n` after each.
pub fn framed<S: AsRef<str>>(commands: &[S]) -> Vec<u8> {
    commands
        .iter()
        .flat_map(|c| format!("{}\r\n\r\n", c.as_ref()).into_bytes())
        .collect()
}

/// HMAC, CONNECT, ftl_app's attributes and `.`, as ftl_app sends them.
pub fn handshake_bytes(channel: &str, key: &str) -> Vec<u8> {
    let mut commands = vec![
        "HMAC".to_string(),
        format!("CONNECT {channel} ${}", digest_hex(key)),
    ];
    commands.extend(FTL_APP_ATTRIBUTES.iter().map(|s| s.to_string()));
    commands.push(".".into());
    framed(&commands)
}
