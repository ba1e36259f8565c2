//! `[orchestrator]` and `[orchestrator.server]`: a node's cluster
//! membership, the secret nodes and orchestrators share, and how the
//! orchestrator role runs; each checked and turned into the cluster's or
//! the orchestrator's configuration.

use std::net::SocketAddr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::error::{ConfigError, invalid};
use super::http::HttpSection;
use crate::cluster::ClusterConfig;
use crate::orchestrator::{OrchestratorConfig, Store};

/// `[orchestrator]`: cluster membership of a node (with `urls`), the
/// secret shared by nodes and orchestrators, and, in `[orchestrator.server]`,
/// how `waveguide-engine orchestrator` runs.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OrchestratorSection {
    /// Orchestrator base URLs this node reports to, tried in turn; empty
    /// means a single node with its orchestrator embedded.
    pub urls: Vec<String>,
    /// The secret nodes and orchestrators share (`Authorization: Bearer`).
    pub secret: String,
    /// This node's id in the cluster; empty: its public IP and HTTP port.
    pub node_id: String,
    /// This node's region.
    pub region: String,
    /// This node's public HTTP base URL; empty: `http://<public_ip>:<port>`.
    pub public_url: String,
    /// Viewers this node announces it takes; 0: `limits.max_viewers_total`.
    pub capacity: u64,
    /// How often the node reports itself and its streams, in milliseconds.
    pub heartbeat_ms: u64,
    /// Longest wait for one orchestrator or upstream call, in milliseconds.
    pub timeout_ms: u64,
    /// A relay with no local viewer for this long closes, in milliseconds.
    pub relay_grace_ms: u64,
    /// More certificate authorities (a PEM file) to trust for `https://`
    /// orchestrators and nodes, besides the system's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<std::path::PathBuf>,
    /// `[orchestrator.server]`
    pub server: OrchestratorServerSection,
}

/// `[orchestrator.server]`: the orchestrator role.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OrchestratorServerSection {
    /// Where the orchestrator's HTTP API listens.
    pub listen: SocketAddr,
    /// `memory` (one orchestrator) or `redis` (several share one registry).
    pub store: StoreKind,
    /// The Redis server of the `redis` store.
    pub redis_url: String,
    /// A node silent this long is forgotten, in milliseconds.
    pub node_ttl_ms: u64,
    /// A stream not reported this long is forgotten, in milliseconds.
    pub stream_ttl_ms: u64,
    /// The region of requests that name none (`?region=`).
    pub region: String,
}

/// Where the orchestrator keeps its registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StoreKind {
    /// In the orchestrator's memory.
    Memory,
    /// In Redis.
    Redis,
}

impl Default for OrchestratorSection {
    fn default() -> Self {
        Self {
            urls: Vec::new(),
            secret: String::new(),
            node_id: String::new(),
            region: String::new(),
            public_url: String::new(),
            capacity: 0,
            heartbeat_ms: 2000,
            timeout_ms: 2000,
            relay_grace_ms: engine::EngineConfig::default().relay_idle_grace.as_millis() as u64,
            ca_file: None,
            server: OrchestratorServerSection::default(),
        }
    }
}

impl Default for OrchestratorServerSection {
    fn default() -> Self {
        let defaults = OrchestratorConfig::default();
        Self {
            listen: defaults.listen,
            store: StoreKind::Memory,
            redis_url: "redis://127.0.0.1:6379/".into(),
            node_ttl_ms: defaults.node_ttl.as_millis() as u64,
            stream_ttl_ms: defaults.stream_ttl.as_millis() as u64,
            region: String::new(),
        }
    }
}

fn is_http_url(url: &str) -> bool {
    url.starts_with("http://") || url.starts_with("https://")
}

impl OrchestratorSection {
    /// A node's membership (`None` without `urls`); a capacity of 0 is
    /// `max_viewers_total`.
    pub(super) fn cluster_config(
        &self,
        max_viewers_total: usize,
    ) -> Result<Option<ClusterConfig>, ConfigError> {
        if self.urls.is_empty() {
            return Ok(None);
        }
        if let Some(url) = self.urls.iter().find(|url| !is_http_url(url)) {
            return Err(invalid(
                "orchestrator.urls",
                format!("{url} is not an http:// or https:// URL"),
            ));
        }
        if self.secret.is_empty() {
            return Err(invalid(
                "orchestrator.secret",
                "a node in a cluster needs the cluster's secret",
            ));
        }
        if !self.public_url.is_empty() && !is_http_url(&self.public_url) {
            return Err(invalid(
                "orchestrator.public_url",
                "must be an http:// or https:// URL",
            ));
        }
        if self.heartbeat_ms < 100 {
            return Err(invalid("orchestrator.heartbeat_ms", "must be at least 100"));
        }
        if self.timeout_ms == 0 {
            return Err(invalid("orchestrator.timeout_ms", "must be above 0"));
        }
        let non_empty = |value: &str| (!value.is_empty()).then(|| value.to_owned());
        Ok(Some(ClusterConfig {
            orchestrators: self.urls.clone(),
            secret: self.secret.clone(),
            node_id: non_empty(&self.node_id),
            region: self.region.clone(),
            public_url: non_empty(&self.public_url),
            capacity: if self.capacity == 0 {
                max_viewers_total as u64
            } else {
                self.capacity
            },
            heartbeat: Duration::from_millis(self.heartbeat_ms),
            timeout: Duration::from_millis(self.timeout_ms),
            ca_file: self.ca_file.clone(),
        }))
    }

    /// How long a relay without viewers lives, which must be above 0.
    pub(super) fn relay_grace(&self) -> Result<Duration, ConfigError> {
        if self.relay_grace_ms == 0 {
            return Err(invalid("orchestrator.relay_grace_ms", "must be above 0"));
        }
        Ok(Duration::from_millis(self.relay_grace_ms))
    }

    /// The orchestrator role's configuration; it serves with `http`'s
    /// header deadline and certificate.
    pub(super) fn orchestrator_config(
        &self,
        http: &HttpSection,
    ) -> Result<OrchestratorConfig, ConfigError> {
        let server = &self.server;
        if self.secret.is_empty() {
            return Err(invalid(
                "orchestrator.secret",
                "the orchestrator needs the secret its nodes send",
            ));
        }
        if server.node_ttl_ms == 0 || server.stream_ttl_ms == 0 {
            return Err(invalid(
                "orchestrator.server.node_ttl_ms",
                "node_ttl_ms and stream_ttl_ms must be above 0",
            ));
        }
        let store = match server.store {
            StoreKind::Memory => Store::Memory,
            StoreKind::Redis => {
                if !(server.redis_url.starts_with("redis://")
                    || server.redis_url.starts_with("rediss://")
                    || server.redis_url.starts_with("unix://"))
                {
                    return Err(invalid(
                        "orchestrator.server.redis_url",
                        "must be a redis://, rediss:// or unix:// URL",
                    ));
                }
                Store::Redis(server.redis_url.clone())
            }
        };
        Ok(OrchestratorConfig {
            listen: server.listen,
            store,
            secret: self.secret.clone(),
            node_ttl: Duration::from_millis(server.node_ttl_ms),
            stream_ttl: Duration::from_millis(server.stream_ttl_ms),
            region: server.region.clone(),
            header_timeout: Duration::from_millis(http.header_timeout_ms),
            tls: http.tls_files()?,
        })
    }
}
