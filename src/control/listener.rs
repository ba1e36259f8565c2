//! StreamListener: who else hears about this node's streams besides the
//! Service. Control knows no cluster: in a cluster the node wires the
//! cluster's membership in here at start-up, and control runs what it
//! returns on the node's runtime.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

/// A report a listener makes, run by control on the node's runtime.
pub type ListenerTask = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// Hears when this node's streams start and stop.
pub trait StreamListener: Send + Sync {
    /// A stream published here started on `channel`.
    fn stream_started(self: Arc<Self>, channel: String) -> ListenerTask;

    /// The stream published here on `channel` stopped (the service heard
    /// it once, however it stopped).
    fn stream_stopped(self: Arc<Self>, channel: String) -> ListenerTask;

    /// The relayed stream `stream_id` on `channel` ended.
    fn relay_closed(self: Arc<Self>, channel: String, stream_id: u64) -> ListenerTask;
}
