//! WindowSink: the packager's events into one stream's window, on the
//! packager's thread: apply, render, wake the held requests. It detaches
//! (returns false) once the window was dropped or went idle.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};

use super::{HlsOutput, Shared};
use crate::outputs::packager::{PackagerEvent, PackagerSink};

/// Feeds one window.
pub(super) struct WindowSink {
    shared: Arc<Shared>,
    output: Weak<HlsOutput>,
    channel: String,
}

impl WindowSink {
    pub(super) fn new(shared: Arc<Shared>, output: Weak<HlsOutput>, channel: String) -> Self {
        Self {
            shared,
            output,
            channel,
        }
    }
}

impl PackagerSink for WindowSink {
    fn deliver(&mut self, event: &PackagerEvent) -> bool {
        let Some(output) = self.output.upgrade() else {
            return false;
        };
        if self.shared.is_closed() {
            return false;
        }
        let now = output.now_ms();
        let idle = now.saturating_sub(self.shared.last_request.load(Ordering::Acquire));
        if idle >= output.settings.idle_timeout.as_millis() as u64 {
            tracing::debug!(channel = %self.channel, "HLS window idle, dropped");
            output.drop_window(&self.shared, &self.channel);
            return false;
        }
        let changed = {
            let mut window = self.shared.window.lock();
            // Checked again under the lock: a window is closed before its
            // numbers are read for the channel's next window.
            if self.shared.is_closed() {
                return false;
            }
            window.apply(event).then(|| window.version())
        };
        if matches!(event, PackagerEvent::Ended) {
            self.shared.ended_at.store(now + 1, Ordering::Release);
        }
        if let Some(version) = changed {
            self.shared.changes.send_replace(version);
        }
        output.sweep();
        true
    }
}

impl Drop for WindowSink {
    /// A packager that lets its sink go before `Ended` (it stopped, or
    /// failed) leaves a window that would never move: it is dropped, so
    /// the next request opens a fresh one.
    fn drop(&mut self) {
        if self.shared.ended_at.load(Ordering::Acquire) == 0
            && let Some(output) = self.output.upgrade()
        {
            output.drop_window(&self.shared, &self.channel);
        }
    }
}
