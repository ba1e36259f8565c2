//! WorkerStats: one worker's counters, as values (a snapshot, not shared atomics).

use std::net::SocketAddr;

use crate::udp::SendStats;

/// Counters of one worker, as values.
#[derive(Debug, Clone, Default)]
pub struct WorkerStats {
    /// The worker's index.
    pub index: usize,
    /// Its WebRTC address as announced.
    pub address: Option<SocketAddr>,
    /// Viewers open.
    pub viewers: usize,
    /// Viewers connected.
    pub connected_viewers: usize,
    /// FTL media sockets read.
    pub ftl_streams: usize,
    /// RTP packets handed to viewers' `Rtc`s.
    pub forwarded: u64,
    /// Times a viewer fell a whole ring behind and skipped to a keyframe.
    pub laps: u64,
    /// Datagrams on the WebRTC socket (and ICE-TCP connections) that
    /// matched no viewer.
    pub unroutable: u64,
    /// ICE-TCP connections open.
    pub ice_tcp_connections: usize,
    /// Keyframe requests from viewers.
    pub keyframe_requests: u64,
    /// Loop turns.
    pub turns: u64,
    /// Nanoseconds spent working (not waiting in `poll`); divided by wall
    /// time, the loop's utilisation.
    pub busy_nanos: u64,
    /// The send batch's counters.
    pub send: SendStats,
}
