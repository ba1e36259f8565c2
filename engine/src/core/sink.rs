//! Sink: where the core's output goes. The worker's sink sends for real
//! (its sockets, its ICE-TCP connections, the other workers' wakers); a
//! test's keeps everything in memory for the test to hand to its clients.

use crate::id::SocketId;
use crate::stats::WorkerStats;
use crate::stream::Stream;
use crate::udp::SendBatch;

/// What the core asks of the side that owns the sockets.
pub(crate) trait Sink {
    /// The batch for the WebRTC sockets: the main one, the extra
    /// interfaces' (as alternates, by source address), and ICE-TCP messages.
    fn webrtc(&mut self) -> &mut SendBatch;

    /// The batch for a socket of its own: an FTL media socket or a relay's.
    fn socket(&mut self, socket: SocketId) -> &mut SendBatch;

    /// The WebRTC batch is full enough: send what is queued now.
    fn flush_webrtc(&mut self);

    /// The core is done with `socket`: send what is queued for it, then stop
    /// watching it and close it.
    fn release(&mut self, socket: SocketId);

    /// `stream` has new packets: wake the other workers with viewers of it.
    fn wake_followers(&mut self, stream: &Stream);

    /// Adds the sending side's counters (sends, ICE-TCP connections).
    fn add_stats(&self, stats: &mut WorkerStats);
}
