//! `[hls]`: HLS and LL-HLS on the HTTP server: on/off, the segment and
//! part targets, the window, and the limits on idle windows and held
//! (blocking) requests.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::error::{ConfigError, invalid};
use crate::outputs::hls::HlsSettings;

/// `[hls]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HlsSection {
    /// Whether `/hls/{channel}/index.m3u8` is served.
    pub enabled: bool,
    /// A segment's target duration in milliseconds (segments start at
    /// keyframes, so a longer GOP makes longer segments): 500 to 30000.
    pub segment_target_ms: u64,
    /// A part's target duration in milliseconds: 100 to half the segment
    /// target (a segment holds at least two parts).
    pub part_target_ms: u64,
    /// Complete segments in a playlist: 3 to 100.
    pub window_segments: usize,
    /// A stream's HLS window with no request for this long is dropped, in
    /// milliseconds: 1000 to 3600000.
    pub idle_timeout_ms: u64,
    /// Most blocking playlist and part requests held at once: 1 to 1000000.
    pub max_blocking_requests: usize,
}

impl Default for HlsSection {
    fn default() -> Self {
        let settings = HlsSettings::default();
        Self {
            enabled: settings.enabled,
            segment_target_ms: settings.segment_target.as_millis() as u64,
            part_target_ms: settings.part_target.as_millis() as u64,
            window_segments: settings.window_segments,
            idle_timeout_ms: settings.idle_timeout.as_millis() as u64,
            max_blocking_requests: settings.max_blocking_requests,
        }
    }
}

impl HlsSection {
    /// Checks the values and builds the HLS settings.
    pub fn settings(&self) -> Result<HlsSettings, ConfigError> {
        if !(500..=30_000).contains(&self.segment_target_ms) {
            return Err(invalid("hls.segment_target_ms", "must be 500 to 30000"));
        }
        if !(100..=self.segment_target_ms / 2).contains(&self.part_target_ms) {
            return Err(invalid(
                "hls.part_target_ms",
                "must be 100 to half of hls.segment_target_ms",
            ));
        }
        if !(3..=100).contains(&self.window_segments) {
            return Err(invalid("hls.window_segments", "must be 3 to 100"));
        }
        if !(1_000..=3_600_000).contains(&self.idle_timeout_ms) {
            return Err(invalid("hls.idle_timeout_ms", "must be 1000 to 3600000"));
        }
        if !(1..=1_000_000).contains(&self.max_blocking_requests) {
            return Err(invalid("hls.max_blocking_requests", "must be 1 to 1000000"));
        }
        Ok(HlsSettings {
            enabled: self.enabled,
            segment_target: Duration::from_millis(self.segment_target_ms),
            part_target: Duration::from_millis(self.part_target_ms),
            window_segments: self.window_segments,
            idle_timeout: Duration::from_millis(self.idle_timeout_ms),
            max_blocking_requests: self.max_blocking_requests,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key_of(error: ConfigError) -> &'static str {
        match error {
            ConfigError::Invalid { key, .. } => key,
            other => panic!("not an invalid value: {other}"),
        }
    }

    #[test]
    fn defaults_are_valid_and_round_trip() {
        let settings = HlsSection::default().settings().unwrap();
        assert_eq!(settings, HlsSettings::default());
    }

    #[test]
    fn out_of_range_values_name_their_key() {
        type Adjust = fn(&mut HlsSection);
        let cases: [(Adjust, &str); 10] = [
            (
                |s| {
                    s.segment_target_ms = 500;
                    s.part_target_ms = 251;
                },
                "hls.part_target_ms",
            ),
            (|s| s.idle_timeout_ms = 3_600_001, "hls.idle_timeout_ms"),
            (|s| s.segment_target_ms = 499, "hls.segment_target_ms"),
            (|s| s.segment_target_ms = 30_001, "hls.segment_target_ms"),
            (|s| s.part_target_ms = 99, "hls.part_target_ms"),
            (|s| s.part_target_ms = 1_001, "hls.part_target_ms"),
            (|s| s.window_segments = 2, "hls.window_segments"),
            (|s| s.idle_timeout_ms = 999, "hls.idle_timeout_ms"),
            (|s| s.max_blocking_requests = 0, "hls.max_blocking_requests"),
            (|s| s.window_segments = 101, "hls.window_segments"),
        ];
        for (adjust, key) in cases {
            let mut section = HlsSection::default();
            adjust(&mut section);
            assert_eq!(key_of(section.settings().unwrap_err()), key);
        }
    }

    #[test]
    fn limits_themselves_are_accepted() {
        let section = HlsSection {
            enabled: false,
            segment_target_ms: 500,
            part_target_ms: 250,
            window_segments: 3,
            idle_timeout_ms: 1_000,
            max_blocking_requests: 1,
        };
        let settings = section.settings().unwrap();
        assert!(!settings.enabled);
        assert_eq!(settings.part_target, Duration::from_millis(250));
        let half = HlsSection {
            part_target_ms: 1_000,
            ..HlsSection::default()
        };
        assert_eq!(half.settings().unwrap().part_target, Duration::from_secs(1));
    }

    #[test]
    fn unknown_keys_are_refused() {
        assert!(toml::from_str::<HlsSection>("segment_target = 2").is_err());
        let section: HlsSection = toml::from_str("part_target_ms = 333").unwrap();
        assert_eq!(section.part_target_ms, 333);
        assert_eq!(section.segment_target_ms, 2_000);
    }
}
