//! FtlConnections: what control knows of the FTL control connections: how
//! many are open, which waits to hear that its stream ended from outside
//! (media timeout, takeover, failed heartbeats) and with which status, and
//! the stop signal they all watch.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};

use ftl::StatusCode;
use parking_lot::Mutex;
use tokio::sync::{oneshot, watch};

/// The FTL control connections of this node.
pub struct FtlConnections {
    /// Connections waiting to be told their stream ended, by stream id.
    endings: Mutex<HashMap<u64, oneshot::Sender<StatusCode>>>,
    /// Set once when the node stops; every connection then sends 410.
    shutdown: watch::Sender<bool>,
    /// Connections open now.
    open: AtomicUsize,
}

impl Default for FtlConnections {
    fn default() -> Self {
        Self {
            endings: Mutex::new(HashMap::new()),
            shutdown: watch::Sender::new(false),
            open: AtomicUsize::new(0),
        }
    }
}

impl FtlConnections {
    /// A receiver that fires with the code to send when `stream_id` ends
    /// from outside its connection (media timeout: 408; takeover: 410).
    pub fn watch_stream_end(&self, stream_id: u64) -> oneshot::Receiver<StatusCode> {
        let (sender, receiver) = oneshot::channel();
        self.endings.lock().insert(stream_id, sender);
        receiver
    }

    /// Stops watching a stream's end.
    pub fn forget_stream_end(&self, stream_id: u64) {
        self.endings.lock().remove(&stream_id);
    }

    /// Tells the connection of `stream_id` that its stream ended, with `status`.
    pub fn end_stream(&self, stream_id: u64, status: StatusCode) {
        if let Some(sender) = self.endings.lock().remove(&stream_id) {
            let _ = sender.send(status);
        }
    }

    /// A receiver that changes when the node begins to stop.
    pub fn shutdown_signal(&self) -> watch::Receiver<bool> {
        self.shutdown.subscribe()
    }

    /// Tells every connection the node is stopping.
    pub fn begin_shutdown(&self) {
        self.shutdown.send_replace(true);
    }

    /// Counts a connection in (`opened`) or out; returns how many are open.
    pub fn count(&self, opened: bool) -> usize {
        if opened {
            self.open.fetch_add(1, Ordering::AcqRel) + 1
        } else {
            self.open.fetch_sub(1, Ordering::AcqRel) - 1
        }
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        self.open.load(Ordering::Acquire)
    }
}
