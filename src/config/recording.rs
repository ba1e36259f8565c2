//! `[recording]`: where streams are recorded, which channels, and how long
//! recordings are kept (by age and by total size).

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::error::{ConfigError, invalid};
use crate::outputs::recording::{RecordedChannels, RecordingSettings};

/// The longest `max_age_hours` (100 years).
const MAX_AGE_HOURS: u64 = 876_000;

/// `[recording]`
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RecordingSection {
    /// The directory recordings go to; recording is off when not set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dir: Option<PathBuf>,
    /// The channels recorded; empty or `["*"]` records every channel.
    pub channels: Vec<String>,
    /// Finished recordings older than this many hours are deleted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_age_hours: Option<u64>,
    /// The oldest finished recordings are deleted while all of them take
    /// more than this many MiB.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_total_mb: Option<u64>,
}

impl RecordingSection {
    /// Checks the values and builds the recordings' settings.
    pub fn settings(&self) -> Result<RecordingSettings, ConfigError> {
        if let Some(dir) = &self.dir
            && dir.as_os_str().is_empty()
        {
            return Err(invalid("recording.dir", "must not be empty"));
        }
        let all = self.channels.is_empty() || self.channels == ["*"];
        let channels = if all {
            RecordedChannels::All
        } else {
            if self.channels.iter().any(|channel| channel == "*") {
                return Err(invalid(
                    "recording.channels",
                    "\"*\" (every channel) cannot be listed with other channels",
                ));
            }
            if self.channels.iter().any(String::is_empty) {
                return Err(invalid("recording.channels", "a channel name is empty"));
            }
            let mut names = self.channels.clone();
            names.sort();
            names.dedup();
            RecordedChannels::Only(names)
        };
        let max_age = match self.max_age_hours {
            None => None,
            Some(hours) if (1..=MAX_AGE_HOURS).contains(&hours) => {
                Some(Duration::from_secs(hours * 3600))
            }
            Some(_) => {
                return Err(invalid(
                    "recording.max_age_hours",
                    format!("must be 1 to {MAX_AGE_HOURS}"),
                ));
            }
        };
        let max_total_bytes = match self.max_total_mb {
            None => None,
            Some(0) => return Err(invalid("recording.max_total_mb", "must be above 0")),
            Some(mb) => Some(
                mb.checked_mul(1024 * 1024)
                    .ok_or_else(|| invalid("recording.max_total_mb", "too large"))?,
            ),
        };
        Ok(RecordingSettings {
            dir: self.dir.clone(),
            channels,
            max_age,
            max_total_bytes,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<RecordingSection, toml::de::Error> {
        toml::from_str(text)
    }

    fn key_of(error: ConfigError) -> &'static str {
        match error {
            ConfigError::Invalid { key, .. } => key,
            other => panic!("not an invalid value: {other}"),
        }
    }

    #[test]
    fn default_records_nothing() {
        let settings = RecordingSection::default().settings().unwrap();
        assert_eq!(settings, RecordingSettings::default());
        assert_eq!(settings.dir, None);
    }

    #[test]
    fn full_section_becomes_settings() {
        let section = parse(
            r#"
            dir = "/var/lib/waveguide"
            channels = ["b", "a", "b"]
            max_age_hours = 48
            max_total_mb = 2
            "#,
        )
        .unwrap();
        let settings = section.settings().unwrap();
        assert_eq!(settings.dir, Some(PathBuf::from("/var/lib/waveguide")));
        assert_eq!(
            settings.channels,
            RecordedChannels::Only(vec!["a".into(), "b".into()])
        );
        assert_eq!(settings.max_age, Some(Duration::from_secs(48 * 3600)));
        assert_eq!(settings.max_total_bytes, Some(2 * 1024 * 1024));
    }

    #[test]
    fn star_alone_is_every_channel() {
        let section = parse(
            r#"dir = "r"
channels = ["*"]"#,
        )
        .unwrap();
        assert_eq!(section.settings().unwrap().channels, RecordedChannels::All);
        let mixed = parse(r#"channels = ["*", "a"]"#).unwrap();
        assert_eq!(key_of(mixed.settings().unwrap_err()), "recording.channels");
        let empty = parse(r#"channels = [""]"#).unwrap();
        assert_eq!(key_of(empty.settings().unwrap_err()), "recording.channels");
    }

    #[test]
    fn bad_values_name_their_key() {
        let cases = [
            (r#"dir = """#, "recording.dir"),
            ("max_age_hours = 0", "recording.max_age_hours"),
            ("max_age_hours = 876001", "recording.max_age_hours"),
            ("max_total_mb = 0", "recording.max_total_mb"),
            (
                "max_total_mb = 18446744073709551615",
                "recording.max_total_mb",
            ),
        ];
        for (text, key) in cases {
            let section = parse(text).unwrap();
            assert_eq!(key_of(section.settings().unwrap_err()), key, "{text}");
        }
        assert_eq!(
            parse("max_age_hours = 1")
                .unwrap()
                .settings()
                .unwrap()
                .max_age,
            Some(Duration::from_secs(3600))
        );
    }

    #[test]
    fn unknown_key_is_refused() {
        assert!(parse("directory = \"x\"").is_err());
    }
}
