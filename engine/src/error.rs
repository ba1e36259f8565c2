//! Errors: why the engine refused a request ([`EngineError`]) and why a
//! peer's SDP could not be used ([`ViewerError`]).

use std::io;

use str0m::RtcError;

/// Why the engine refused a request.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// No live stream on that channel.
    #[error("no live stream on this channel")]
    NoSuchStream,
    /// The channel already has a live stream.
    #[error("the channel is already live")]
    ChannelLive,
    /// The stream has sent no SPS yet, so its H.264 profile is unknown.
    #[error("the stream has not sent a keyframe yet; retry shortly")]
    StreamNotReady,
    /// No viewer with that id.
    #[error("no such viewer")]
    NoSuchViewer,
    /// A viewer limit (per worker, per stream or in total) is reached.
    #[error("viewer limit reached")]
    TooManyViewers,
    /// The limit of live streams is reached.
    #[error("stream limit reached")]
    TooManyStreams,
    /// No free FTL media port in the configured range.
    #[error("no free media port")]
    NoFreePort,
    /// A worker did not answer in time or is gone.
    #[error("worker unavailable")]
    WorkerUnavailable,
    /// The viewer's SDP could not be used.
    #[error(transparent)]
    Viewer(#[from] ViewerError),
    /// A socket could not be set up.
    #[error("socket error: {0}")]
    Io(#[from] io::Error),
}

/// Why a viewer could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum ViewerError {
    /// The offer is not valid SDP.
    #[error("invalid SDP: {0}")]
    BadSdp(String),
    /// The offer has no H.264 this stream can feed (or no media at all).
    #[error(
        "the offer has no H.264 (packetization-mode 1, profile {0:06x}) to receive this stream"
    )]
    NoH264(u32),
    /// str0m refused the offer or answer.
    #[error("WebRTC negotiation failed: {0}")]
    Negotiation(#[from] RtcError),
    /// An answer came for a viewer that sent its own offer, or twice.
    #[error("this session is not waiting for an answer")]
    NotAwaitingAnswer,
    /// A publisher offered simulcast; Waveguide takes one encoding.
    #[error("simulcast is not supported: publish a single encoding")]
    Simulcast,
    /// A publisher's offer has no H.264 (packetization-mode 1) to send.
    #[error("the offer has no H.264 with packetization-mode 1 to publish")]
    NoH264ToPublish,
    /// The origin's answer to a relay's offer sends no H.264.
    #[error("the origin's answer has no H.264 to relay")]
    NoH264ToRelay,
}
