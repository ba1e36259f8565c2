//! RTMP ingest: the listeners (RTMP and RTMPS), each publisher's connection
//! driven through the sans-IO `rtmp` crate, its H.264 repacketized into
//! RTP and its AAC transcoded to Opus on a thread of its own, off the
//! workers.

pub mod aac_to_opus;
mod audio;
mod connection;
mod listener;
mod publish;
mod video;

use std::net::SocketAddr;
use std::time::Duration;

pub use listener::{RtmpListeners, bind, serve};

use crate::net::tls::TlsFiles;

/// Largest RTP payload made from RTMP video: an RTP packet of it, with
/// header extensions and the SRTP tag, stays under a 1280-byte IPv6 MTU.
pub const MAX_RTP_PAYLOAD: usize = 1200;

/// How the node serves RTMP publishers.
#[derive(Debug, Clone)]
pub struct RtmpSettings {
    /// Plain RTMP's address (OBS and FFmpeg use port 1935); `None` when off.
    pub address: Option<SocketAddr>,
    /// RTMPS's address and certificate, when on.
    pub tls: Option<(SocketAddr, TlsFiles)>,
    /// Whether a publisher may replace a live stream of its channel (an
    /// encoder reconnecting after a network blip must not be locked out by
    /// its own half-open connection); if not, it is refused.
    pub takeover: bool,
    /// Most RTMP connections open at once; more are closed at accept.
    pub max_connections: usize,
    /// From accept until publishing starts.
    pub handshake_timeout: Duration,
    /// Longest silence from a publishing client.
    pub idle_timeout: Duration,
    /// Longest wait to write to a client that stopped reading.
    pub write_timeout: Duration,
}

impl Default for RtmpSettings {
    fn default() -> Self {
        Self {
            address: Some(SocketAddr::from(([0, 0, 0, 0], 1935))),
            tls: None,
            takeover: true,
            max_connections: 64,
            handshake_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(10),
            write_timeout: Duration::from_secs(5),
        }
    }
}
