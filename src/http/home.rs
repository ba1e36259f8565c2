//! The home page, `GET /`: the live streams with their thumbnails, and how
//! to publish to this server when nothing is live.

use std::net::SocketAddr;

/// Where this node takes streams in, as the home page tells publishers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IngestAddresses {
    /// FTL control (TCP).
    pub ftl: SocketAddr,
    /// Plain RTMP, if on.
    pub rtmp: Option<SocketAddr>,
    /// RTMPS, if on.
    pub rtmps: Option<SocketAddr>,
    /// Whether HTTP (so WHIP and WHEP) is served over TLS.
    pub https: bool,
}
