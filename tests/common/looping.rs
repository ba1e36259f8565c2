//! Looping: a publisher that sends the shipped clip at 30 fps, looped, on a
//! thread of its own until dropped (any of the load tool's media sinks: the
//! FTL client, the WHIP publisher, or a test's wrapper around one).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

use waveguide_load::ftl_publisher::FtlPublisher;
use waveguide_load::publisher::{MediaSink, publish};
use waveguide_load::send_log::SendLog;

/// The clip, looped through a sink until dropped.
pub struct Looping {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Looping {
    /// Loops the clip through `sink`.
    pub fn start(mut sink: impl MediaSink + Send + 'static) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                publish(&mut sink, &super::media::clip(), 30, &SendLog::new(), &stop);
            })
        };
        Self {
            stop,
            thread: Some(thread),
        }
    }

    /// Loops the clip over FTL to `node` on `channel` (its example key).
    pub fn ftl(node: &waveguide::Node, channel: &str) -> Self {
        let key = node.service().example_stream_key(channel).unwrap();
        Self::start(FtlPublisher::connect(node.ftl_addr(), &key).expect("FTL handshake"))
    }
}

impl Drop for Looping {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
