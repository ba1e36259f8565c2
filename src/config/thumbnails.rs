//! `[thumbnails]`: whether a JPEG of each live stream is made, how often
//! and how wide.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::error::{ConfigError, invalid};
use crate::outputs::thumbnails::ThumbnailSettings;

/// `[thumbnails]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ThumbnailsSection {
    /// Whether thumbnails are made.
    pub enabled: bool,
    /// How often each stream's newest keyframe becomes its thumbnail, in
    /// milliseconds: 1000 to 3600000.
    pub interval_ms: u64,
    /// The JPEG's width in pixels, the height keeping the aspect ratio:
    /// 16 to 3840.
    pub width: u32,
}

impl Default for ThumbnailsSection {
    fn default() -> Self {
        let settings = ThumbnailSettings::default();
        Self {
            enabled: settings.enabled,
            interval_ms: settings.interval.as_millis() as u64,
            width: settings.width,
        }
    }
}

impl ThumbnailsSection {
    /// Checks the values and builds the thumbnail settings.
    pub fn settings(&self) -> Result<ThumbnailSettings, ConfigError> {
        if !(1_000..=3_600_000).contains(&self.interval_ms) {
            return Err(invalid("thumbnails.interval_ms", "must be 1000 to 3600000"));
        }
        if !(16..=3840).contains(&self.width) {
            return Err(invalid("thumbnails.width", "must be 16 to 3840"));
        }
        Ok(ThumbnailSettings {
            enabled: self.enabled,
            interval: Duration::from_millis(self.interval_ms),
            width: self.width,
        })
    }
}
