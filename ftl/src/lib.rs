//! The FTL ingest protocol, sans-IO.
//!
//! FTL ("Faster Than Light") is the ingest protocol of Mixer's ftl-sdk, still
//! spoken by OBS and `ftl_app`: a line-based TCP control channel on port 8084
//! and RTP media over UDP to a port the server hands out. The wire format,
//! with every quirk of the real client, is in `FTL-SPEC.md`.
//!
//! This crate owns the protocol and nothing else. It has no sockets, threads
//! or clock: bytes and an [`Instant`](std::time::Instant) go in; reply bytes,
//! events and the next deadline come out. It does not know the engine, str0m
//! or how keys are stored.
//!
//! ```text
//!              bytes from TCP ─▶ ┌───────────────┐ ─▶ reply bytes to TCP
//!                    now ──────▶ │ ServerSession │ ─▶ events (key needed, media requested, ping)
//!      key / port / terminate ─▶ └───────────────┘ ─▶ next deadline
//!
//!   one UDP datagram ─▶ classify() ─▶ Ping | SenderReport | Video | Audio | Drop(reason)
//!   video sequence numbers ─▶ NackTracker ─▶ RTCP NACK bytes into your buffer
//! ```
//!
//! The calling contract, for [`ServerSession`] as for [`ClientSession`]: after
//! each input (bytes, a timeout, or an answer from the caller), drain
//! `poll_output` until it returns `Timeout` (wait until then or for more
//! bytes) or `Close` (write what was sent, then close).
//!
//! ```no_run
//! use std::io::{Read, Write};
//! use std::time::Instant;
//! use ftl::{Event, Output, ServerConfig, ServerSession, StatusCode};
//!
//! # fn random_challenge() -> ftl::Challenge { [7; 128] }
//! # fn key_for(_channel: u32) -> Option<Vec<u8>> { None }
//! # fn open_media_port() -> std::num::NonZeroU16 { std::num::NonZeroU16::MIN }
//! # fn run(mut tcp: std::net::TcpStream) -> std::io::Result<()> {
//! let mut session = ServerSession::new(Instant::now(), random_challenge(), ServerConfig::default());
//! let mut buf = [0u8; 1024];
//! loop {
//!     loop {
//!         match session.poll_output() {
//!             Output::Send(bytes) => tcp.write_all(bytes)?,
//!             Output::Event(Event::KeyRequired { channel }) => match key_for(channel) {
//!                 Some(key) => session.verify_key(Instant::now(), &key),
//!                 None => session.terminate(StatusCode::InvalidStreamKey),
//!             },
//!             Output::Event(Event::MediaRequested { .. }) => {
//!                 session.start_media(Instant::now(), open_media_port())
//!             }
//!             Output::Event(_) => {}
//!             Output::Close(_) => return Ok(()),
//!             Output::Timeout(_deadline) => break, // a real loop waits with this deadline
//!         }
//!     }
//!     let n = tcp.read(&mut buf)?;
//!     if n == 0 {
//!         return Ok(());
//!     }
//!     session.handle_input(Instant::now(), &buf[..n]);
//! }
//! # }
//! ```
#![forbid(unsafe_code)]

mod client;
mod command;
mod error;
mod hmac;
mod line;
mod media;
mod metadata;
mod nack;
pub mod reference;
mod server;
mod status;
mod stream_key;

#[cfg(feature = "fuzzing")]
pub mod fuzzing;

pub use client::{
    ClientConfig, ClientError, ClientEvent, ClientOutput, ClientSession, MAX_CHALLENGE_LEN,
};
pub use command::{
    Attribute, AttributeKey, Codec, Command, CommandError, CommandKind, MAX_TEXT_ATTRIBUTE_LEN,
};
pub use error::ControlError;
pub use hmac::{CHALLENGE_LEN, Challenge, DIGEST_LEN, Digest, sign, verify};
pub use line::{LineSplitter, LineTooLong, MAX_LINE_LEN};
pub use media::{
    Datagram, DropReason, MAX_DATAGRAM_LEN, MediaParams, PING_MARKER, RtpPacket, SENDER_REPORT_LEN,
    SENDER_REPORT_MARKER, SenderReport, TrackParams, classify, parse_rtp,
};
pub use metadata::{AudioTrack, MetadataError, StreamMetadata, VideoTrack};
pub use nack::{Arrival, MAX_OUTSTANDING_LIMIT, NackConfig, NackStats, NackTracker};
pub use server::{CloseReason, Event, Ignored, Output, ServerConfig, ServerSession};
pub use status::StatusCode;
pub use stream_key::{MAX_KEY_LEN, StreamKey, StreamKeyError};
