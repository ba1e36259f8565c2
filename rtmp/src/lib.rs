//! RTMP ingest, sans-IO: the server side of a publishing session.
//!
//! RTMP is what OBS, FFmpeg, GStreamer's `rtmp2sink`, vMix and hardware
//! encoders send by default: a TCP connection (port 1935) carrying a
//! handshake, then a chunk stream of messages: AMF0 commands (`connect`,
//! `createStream`, `publish`, ...), `onMetaData`, and FLV audio and video
//! tags (RTMP 1.0; FLV 10.1 Annex E; Enhanced RTMP v2 for FourCC codecs).
//!
//! This crate owns the protocol and nothing else. It has no sockets, threads
//! or clock: bytes from the client go in; events and bytes to send come out.
//! It does not know stream keys, the engine, or what happens to the media;
//! the caller decides whether a `publish` is allowed.
//!
//! ```text
//!   bytes from TCP ─▶ ┌───────────────┐ ─▶ bytes to TCP (take_output)
//!                     │ ServerSession │ ─▶ events (poll_event): Connect, Publish,
//!   accept / reject ─▶ └───────────────┘    Metadata, Video, Audio, Unpublish
//! ```
//!
//! The calling contract: after each `receive`, drain `poll_event` (answer a
//! `Publish` with `accept_publish` or `reject_publish`) and write what
//! `take_output` returns. On `Err` the session is over: write what
//! `take_output` still holds, which may be an error status the client logs,
//! then close.
//!
//! ```no_run
//! use std::io::{Read, Write};
//! use rtmp::{ServerSession, SessionEvent};
//!
//! # fn allowed(_key: &str) -> bool { true }
//! # fn run(mut tcp: std::net::TcpStream) -> std::io::Result<()> {
//! let mut session = ServerSession::new();
//! let mut buf = [0u8; 16 * 1024];
//! loop {
//!     let n = tcp.read(&mut buf)?;
//!     if n == 0 {
//!         return Ok(());
//!     }
//!     let result = session.receive(&buf[..n]);
//!     while let Some(event) = session.poll_event() {
//!         match event {
//!             SessionEvent::Publish { stream_name } if allowed(&stream_name) => {
//!                 session.accept_publish()
//!             }
//!             SessionEvent::Publish { .. } => {
//!                 session.reject_publish("NetStream.Publish.BadName", "unknown stream key")
//!             }
//!             _ => {} // hand media and metadata on
//!         }
//!     }
//!     tcp.write_all(&session.take_output())?;
//!     if result.is_err() {
//!         return Ok(()); // log the error, then close
//!     }
//! }
//! # }
//! ```
//!
//! What is built on the scuffle crates and what is not: scuffle-rtmp
//! answers the handshake (simple and digest) and writes every reply
//! (chunks, protocol control messages, command results); scuffle-flv reads
//! the FLV audio and video tag headers and bodies. Where hostile input
//! reaches their arithmetic, allocation or recursion unchecked, it is read
//! here instead, and each module says why: the chunk stream
//! (`chunk_reader.rs`; scuffle's reader also mistimes type 3 chunks), AMF0
//! (`amf0.rs`) and AVC configuration records (`avc_record.rs`).
//!
//! Limits, per session: chunk sizes `128..=65536`; messages up to 10 MiB,
//! at most 4 in progress and 11 MiB buffered together; 100 chunk streams;
//! AMF0 messages up to 64 KiB nested 16 deep. Unread input never exceeds one
//! chunk, so a session holds at most about 11.1 MiB, plus the events and
//! output of one `receive` call (no more than that call's input, and a small
//! reply per message), which the caller drains.
#![forbid(unsafe_code)]

mod amf0;
mod audio;
mod avc_record;
mod chunk_header;
mod chunk_reader;
mod codec_name;
mod command;
mod error;
mod event;
mod handshake;
mod metadata;
mod mod_ex;
mod reply;
mod session;
mod video;

#[cfg(feature = "fuzzing")]
pub mod fuzzing;

pub use amf0::MAX_DEPTH as MAX_AMF_DEPTH;
pub use chunk_reader::{MAX_BUFFERED, MAX_CHUNK_STREAMS, MAX_MESSAGE_LEN, MAX_PARTIAL_MESSAGES};
pub use error::{
    AmfError, ChunkError, CommandError, HandshakeError, ReplyError, SessionError, TagError,
};
pub use event::{AudioTag, AvcConfig, SessionEvent, StreamMetadata, VideoTag};
pub use mod_ex::MAX_MODIFIER_EXTENSIONS;
pub use session::{MAX_AMF_MESSAGE_LEN, MAX_CHUNK_SIZE, MIN_CHUNK_SIZE, ServerSession};
