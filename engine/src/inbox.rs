//! Inbox: commands into a worker (a crossbeam channel plus the worker's
//! `mio::Waker`) and their replies back on one-shot channels.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender, bounded};
use ftl::MediaParams;

use crate::ring::RingWriter;
use crate::stream::Stream;
use crate::{EngineError, PeerId, WorkerStats};

/// A reply channel for one answer.
pub(crate) type Reply<T> = Sender<T>;

/// Waits for a worker's reply.
pub struct PendingReply<T> {
    receiver: Receiver<T>,
}

impl<T> PendingReply<T> {
    /// Waits up to `timeout` for the answer.
    pub fn wait(self, timeout: Duration) -> Result<T, EngineError> {
        self.receiver
            .recv_timeout(timeout)
            .map_err(|_| EngineError::WorkerUnavailable)
    }
}

/// A one-shot channel: the sender goes in a command, the receiver to the caller.
pub(crate) fn reply_channel<T>() -> (Reply<T>, PendingReply<T>) {
    let (sender, receiver) = bounded(1);
    (sender, PendingReply { receiver })
}

/// What the worker is asked to do.
pub(crate) enum Command {
    /// Start reading an FTL stream's media socket.
    OpenFtlMedia {
        socket: std::net::UdpSocket,
        client_ip: IpAddr,
        params: MediaParams,
        stream: Arc<Stream>,
        video: Option<RingWriter>,
        audio: Option<RingWriter>,
    },
    /// Stop reading a stream's media socket.
    CloseFtlMedia { stream_id: u64 },
    /// Open a viewer; with `offer`, answer it, without, make an offer.
    OpenViewer {
        stream: Arc<Stream>,
        offer: Option<String>,
        reply: Reply<Result<crate::OpenedViewer, EngineError>>,
    },
    /// Open a WHIP publisher of `stream` answering `offer`.
    OpenPublisher {
        stream: Arc<Stream>,
        writers: (Option<RingWriter>, Option<RingWriter>),
        offer: String,
        reply: Reply<Result<crate::OpenedViewer, EngineError>>,
    },
    /// Open a relay feeding `stream` from another node; the reply carries
    /// our offer for the origin.
    OpenRelay {
        stream: Arc<Stream>,
        writers: (Option<RingWriter>, Option<RingWriter>),
        reply: Reply<Result<crate::OpenedViewer, EngineError>>,
    },
    /// The viewer's (or a relay's origin's) answer to our offer.
    AcceptAnswer {
        viewer: PeerId,
        answer: String,
        reply: Reply<Result<(), EngineError>>,
    },
    /// Close a viewer or publisher.
    ClosePeer { peer: PeerId },
    /// Report counters.
    Stats { reply: Reply<WorkerStats> },
    /// Stop the worker.
    Shutdown,
}
