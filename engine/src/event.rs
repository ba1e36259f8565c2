//! EngineEvent: what the engine tells its owner about peers and streams
//! that ended (or connected) on their own.

use crate::id::PeerId;

/// Something the engine tells its owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EngineEvent {
    /// A viewer finished ICE and DTLS.
    ViewerConnected(PeerId),
    /// A viewer is gone (left, timed out, or its stream ended).
    ViewerClosed(PeerId),
    /// A WHIP publisher is gone (DELETE, ICE/DTLS timeout, or its media
    /// stopped); its stream has ended with it.
    PublisherClosed {
        /// The publisher.
        id: PeerId,
        /// Its channel.
        channel: String,
        /// Its stream.
        stream_id: u64,
    },
    /// A relay's session with its origin is gone (the origin's stream
    /// ended, its media stopped, or nobody watched it for the grace period);
    /// its local stream has ended with it.
    RelayClosed {
        /// The relay.
        id: PeerId,
        /// Its channel.
        channel: String,
        /// Its local stream.
        stream_id: u64,
    },
    /// An FTL stream's media stopped arriving.
    FtlMediaTimeout {
        /// The channel.
        channel: String,
        /// The stream, as [`FtlMedia::stream_id`](crate::FtlMedia::stream_id) named it.
        stream_id: u64,
    },
}
