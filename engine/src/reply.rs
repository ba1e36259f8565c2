//! What the engine answers when it opens something: a viewer, a WHIP
//! publisher, a relay, an FTL media port.

use crate::id::PeerId;

/// A new viewer and the SDP to send it (our answer, or our offer).
pub type OpenedViewer = (PeerId, String);

/// A WHIP publisher, opened.
#[derive(Debug, Clone)]
pub struct OpenedPublisher {
    /// The publisher, for [`EngineHandle::close_publisher`](crate::EngineHandle::close_publisher).
    pub id: PeerId,
    /// Our SDP answer.
    pub answer: String,
    /// Its stream's id.
    pub stream_id: u64,
    /// The stream it replaced on the channel, if any.
    pub replaced: Option<u64>,
}

/// A relay, opened.
#[derive(Debug, Clone)]
pub struct OpenedRelay {
    /// The relay, for [`EngineHandle::accept_answer`](crate::EngineHandle::accept_answer) and
    /// [`EngineHandle::close_publisher`](crate::EngineHandle::close_publisher).
    pub id: PeerId,
    /// Our SDP offer, for the origin's WHEP endpoint.
    pub offer: String,
    /// Its local stream's id.
    pub stream_id: u64,
}

/// A stream's media port, handed to the FTL client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FtlMedia {
    /// The UDP port.
    pub port: u16,
    /// The stream's id, for [`EngineHandle::close_ftl_media`](crate::EngineHandle::close_ftl_media).
    pub stream_id: u64,
    /// The stream this one replaced on the channel, if any.
    pub replaced: Option<u64>,
}
