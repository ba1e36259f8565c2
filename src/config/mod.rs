//! The configuration file (TOML): every option, its default, and its check.
//! Parsed into `Config`, one file per section, validated with errors that
//! name the key, and turned into the `NodeConfig` the node runs with (or
//! the orchestrator role's configuration).

mod error;
mod ftl;
mod hls;
mod http;
mod limits;
mod logging;
mod orchestrator;
mod recording;
mod rtmp;
mod service;
#[cfg(test)]
mod tests;
mod thumbnails;
mod webrtc;
mod whip;

use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use self::error::ConfigError;
pub use self::ftl::FtlSection;
pub use self::hls::HlsSection;
pub use self::http::HttpSection;
pub use self::limits::{LimitsSection, WorkersSection};
pub use self::logging::{LogFormat, LoggingSection};
pub use self::orchestrator::{OrchestratorSection, OrchestratorServerSection, StoreKind};
pub use self::recording::RecordingSection;
pub use self::rtmp::RtmpSection;
pub use self::thumbnails::ThumbnailsSection;
pub use self::webrtc::{InterfaceEntry, WebRtcSection};
pub use self::whip::WhipSection;
use crate::node::NodeConfig;
use crate::orchestrator::OrchestratorConfig;

/// The whole file. Every section and key is optional.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// `[http]`
    pub http: HttpSection,
    /// `[ftl]`
    pub ftl: FtlSection,
    /// `[rtmp]`
    pub rtmp: RtmpSection,
    /// `[hls]`
    pub hls: HlsSection,
    /// `[recording]`
    pub recording: RecordingSection,
    /// `[thumbnails]`
    pub thumbnails: ThumbnailsSection,
    /// `[webrtc]`
    pub webrtc: WebRtcSection,
    /// `[workers]`
    pub workers: WorkersSection,
    /// `[limits]`
    pub limits: LimitsSection,
    /// `[whip]`
    pub whip: WhipSection,
    /// `[service]`: `kind = "dummy"` (default) or `kind = "static"` with a
    /// `[service.keys]` table of channel = "secret".
    pub service: crate::control::service::Service,
    /// `[orchestrator]`
    pub orchestrator: OrchestratorSection,
    /// `[logging]`
    pub logging: LoggingSection,
}

impl Config {
    /// Reads and parses a TOML file (not yet validated).
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse(&text).map_err(|error| match error {
            ConfigError::Parse { message, .. } => ConfigError::Parse {
                path: path.display().to_string(),
                message,
            },
            other => other,
        })
    }

    /// Parses TOML text (not yet validated).
    pub fn parse(text: &str) -> Result<Self, ConfigError> {
        toml::from_str(text).map_err(|error| ConfigError::Parse {
            path: "config".into(),
            message: error.to_string().trim().to_owned(),
        })
    }

    /// The effective configuration as TOML, for `--print-config`.
    pub fn to_toml(&self) -> String {
        toml::to_string(self).unwrap_or_default()
    }

    /// Checks every value, section by section (the first bad one is
    /// reported), and builds the node's configuration.
    pub fn node_config(&self) -> Result<NodeConfig, ConfigError> {
        self.ftl.check()?;
        self.workers.check()?;
        self.webrtc.check()?;
        self.limits.check()?;
        service::check(&self.service)?;
        self.http.check()?;
        let cluster = self
            .orchestrator
            .cluster_config(self.limits.max_viewers_total)?;
        let relay_grace = self.orchestrator.relay_grace()?;
        let tls = self.http.tls_files()?;
        let rtmp = self.rtmp.settings(tls.as_ref())?;
        let hls = self.hls.settings()?;
        let recording = self.recording.settings()?;
        let thumbnails = self.thumbnails.settings()?;
        let mut node = NodeConfig {
            cluster,
            http: self.http.address,
            ftl: self.ftl.address,
            whip_takeover: self.whip.takeover,
            service: self.service.clone(),
            max_body_bytes: self.http.max_body_bytes,
            http_header_timeout: Duration::from_millis(self.http.header_timeout_ms),
            tls,
            rtmp,
            hls,
            recording,
            thumbnails,
            ..NodeConfig::default()
        };
        self.ftl.apply(&mut node.ftl_control, &mut node.engine);
        self.workers.apply(&mut node.engine);
        self.webrtc.apply(&mut node.engine);
        self.limits.apply(&mut node.engine);
        node.engine.relay_idle_grace = relay_grace;
        Ok(node)
    }

    /// Checks the orchestrator role's values and builds its configuration.
    pub fn orchestrator_config(&self) -> Result<OrchestratorConfig, ConfigError> {
        self.orchestrator.orchestrator_config(&self.http)
    }
}
