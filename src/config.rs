//! The configuration file (TOML): every option, its default, and its check.
//! Parsed into `Config`, validated with errors that name the key, and turned
//! into the `NodeConfig` the node runs with.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::NodeConfig;

/// Why a configuration could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The reason.
        source: std::io::Error,
    },
    /// The file is not valid TOML for this schema (unknown key, wrong type).
    #[error("{path}: {message}")]
    Parse {
        /// The file.
        path: String,
        /// toml's message, which names the key and the line.
        message: String,
    },
    /// A value is out of range.
    #[error("invalid value for {key}: {reason}")]
    Invalid {
        /// The key, as `section.name`.
        key: &'static str,
        /// What is wrong.
        reason: String,
    },
}

/// `[http]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpSection {
    /// Where WHIP, WHEP, the pages, the API and metrics are served.
    pub address: SocketAddr,
    /// Largest request body, in bytes.
    pub max_body_bytes: usize,
    /// A connection whose next request head is not complete this long after
    /// it opened or after its last response (slow-loris, and the idle limit
    /// of kept-alive connections) is closed, in milliseconds.
    pub header_timeout_ms: u64,
    /// A PEM certificate chain: with `tls_key`, HTTPS instead of HTTP.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_cert: Option<std::path::PathBuf>,
    /// The certificate's PEM private key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_key: Option<std::path::PathBuf>,
}

/// `[ftl]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FtlSection {
    /// FTL control address; encoders always connect to port 8084.
    pub address: SocketAddr,
    /// First UDP port handed to FTL streams.
    pub media_port_min: u16,
    /// Last UDP port handed to FTL streams.
    pub media_port_max: u16,
    /// Address FTL media sockets bind to.
    pub media_bind: IpAddr,
    /// From accept until the media port is sent, in milliseconds.
    pub handshake_timeout_ms: u64,
    /// Longest time without a PING once streaming, in milliseconds.
    pub ping_timeout_ms: u64,
    /// Longest control line, in bytes.
    pub max_line_bytes: usize,
}

/// `[webrtc]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebRtcSection {
    /// Address the WebRTC sockets bind to.
    pub bind: IpAddr,
    /// Worker k's UDP port is this plus k; 0 picks free ports.
    pub port_base: u16,
    /// The IP announced in ICE candidates (behind 1:1 NAT: the public one).
    pub public_ip: IpAddr,
    /// Also accept ICE over TCP (RFC 6544, passive) on each worker's port.
    pub ice_tcp: bool,
    /// More interfaces to serve WebRTC on, each announced with its own IP
    /// (several public IPs behind 1:1 NAT, or IPv4 and IPv6).
    pub extra_interfaces: Vec<InterfaceEntry>,
}

/// One entry of `webrtc.extra_interfaces`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InterfaceEntry {
    /// The local address its sockets bind to.
    pub bind: IpAddr,
    /// The IP announced for it.
    pub public_ip: IpAddr,
}

/// `[workers]`
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WorkersSection {
    /// Worker threads; 0 means one per core.
    pub count: usize,
}

/// `[limits]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitsSection {
    /// Most peers (viewers and publishers) on one worker.
    pub max_peers_per_worker: usize,
    /// Most live streams.
    pub max_streams: usize,
    /// Most viewers of one stream.
    pub max_viewers_per_stream: usize,
    /// Most viewers in total.
    pub max_viewers_total: usize,
    /// A peer that has not connected by then is dropped, in milliseconds.
    pub connect_timeout_ms: u64,
    /// A stream with no media for this long ends, in milliseconds.
    pub media_timeout_ms: u64,
    /// Video packets held per stream (about 4 s at 6 Mbps by default).
    pub video_ring_packets: usize,
    /// Audio packets held per stream.
    pub audio_ring_packets: usize,
    /// SO_RCVBUF and SO_SNDBUF of every UDP socket, in bytes.
    pub socket_buffer_bytes: usize,
}

/// `[whip]`
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WhipSection {
    /// Whether a publisher may replace a live stream (else 409).
    pub takeover: bool,
}

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

/// `[logging]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LoggingSection {
    /// A tracing filter such as `info` or `waveguide=debug`; `RUST_LOG` wins.
    pub level: String,
    /// `text` or `json`.
    pub format: LogFormat,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// The whole file. Every section and key is optional.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// `[http]`
    pub http: HttpSection,
    /// `[ftl]`
    pub ftl: FtlSection,
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
    pub service: crate::service::Service,
    /// `[orchestrator]`
    pub orchestrator: OrchestratorSection,
    /// `[logging]`
    pub logging: LoggingSection,
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
        let defaults = crate::orchestrator::OrchestratorConfig::default();
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

impl Default for HttpSection {
    fn default() -> Self {
        Self {
            address: SocketAddr::from((Ipv4Addr::UNSPECIFIED, 8091)),
            max_body_bytes: crate::http::MAX_BODY_BYTES,
            header_timeout_ms: crate::http::HEADER_TIMEOUT.as_millis() as u64,
            tls_cert: None,
            tls_key: None,
        }
    }
}

impl Default for FtlSection {
    fn default() -> Self {
        let control = ftl::ServerConfig::default();
        Self {
            address: SocketAddr::from((Ipv4Addr::UNSPECIFIED, 8084)),
            media_port_min: 9000,
            media_port_max: 9999,
            media_bind: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            handshake_timeout_ms: control.handshake_timeout.as_millis() as u64,
            ping_timeout_ms: control.ping_timeout.as_millis() as u64,
            max_line_bytes: control.max_line_len,
        }
    }
}

impl Default for WebRtcSection {
    fn default() -> Self {
        Self {
            bind: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            port_base: 8200,
            public_ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
            ice_tcp: engine::EngineConfig::default().ice_tcp,
            extra_interfaces: Vec::new(),
        }
    }
}

impl Default for LimitsSection {
    fn default() -> Self {
        let engine = engine::EngineConfig::default();
        Self {
            max_peers_per_worker: engine.max_viewers_per_worker,
            max_streams: engine.max_streams,
            max_viewers_per_stream: engine.max_viewers_per_stream,
            max_viewers_total: engine.max_viewers_total,
            connect_timeout_ms: engine.viewer_connect_timeout.as_millis() as u64,
            media_timeout_ms: engine.ftl_media_timeout.as_millis() as u64,
            video_ring_packets: engine.video_ring_packets,
            audio_ring_packets: engine.audio_ring_packets,
            socket_buffer_bytes: engine.socket_buffer_bytes,
        }
    }
}

impl Default for LoggingSection {
    fn default() -> Self {
        Self {
            level: "info".into(),
            format: LogFormat::Text,
        }
    }
}

fn is_http_url(url: &str) -> bool {
    url.starts_with("http://") || url.starts_with("https://")
}

fn invalid(key: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key,
        reason: reason.into(),
    }
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

    /// Checks every value and builds the node's configuration.
    pub fn node_config(&self) -> Result<NodeConfig, ConfigError> {
        let ms = Duration::from_millis;
        if self.ftl.media_port_min > self.ftl.media_port_max {
            return Err(invalid(
                "ftl.media_port_min",
                "must not be above ftl.media_port_max",
            ));
        }
        if self.ftl.handshake_timeout_ms == 0 {
            return Err(invalid("ftl.handshake_timeout_ms", "must be above 0"));
        }
        if self.ftl.ping_timeout_ms == 0 {
            return Err(invalid("ftl.ping_timeout_ms", "must be above 0"));
        }
        if !(16..=65_536).contains(&self.ftl.max_line_bytes) {
            return Err(invalid(
                "ftl.max_line_bytes",
                "must be between 16 and 65536",
            ));
        }
        if self.workers.count > 64 {
            return Err(invalid("workers.count", "at most 64 workers"));
        }
        if self.webrtc.public_ip.is_unspecified() {
            return Err(invalid(
                "webrtc.public_ip",
                "must be an address viewers can reach, not 0.0.0.0",
            ));
        }
        let extra = &self.webrtc.extra_interfaces;
        // A wildcard holds the port on every address (an IPv6 one, on IPv4
        // too), so the extra interfaces' sockets could not bind.
        if !extra.is_empty() && self.webrtc.bind.is_unspecified() {
            return Err(invalid(
                "webrtc.bind",
                "with webrtc.extra_interfaces, bind the main interface to its own address (a wildcard would hold the port on every address)",
            ));
        }
        for (index, interface) in extra.iter().enumerate() {
            let earlier = &extra[..index];
            if interface.bind == self.webrtc.bind
                || interface.public_ip == self.webrtc.public_ip
                || earlier
                    .iter()
                    .any(|e| e.bind == interface.bind || e.public_ip == interface.public_ip)
            {
                return Err(invalid(
                    "webrtc.extra_interfaces",
                    format!(
                        "{} / {} repeats another interface",
                        interface.bind, interface.public_ip
                    ),
                ));
            }
            if interface.public_ip.is_unspecified() || interface.bind.is_unspecified() {
                return Err(invalid(
                    "webrtc.extra_interfaces",
                    "bind and public_ip must be specific addresses (the main interface already binds webrtc.bind)",
                ));
            }
            if interface.public_ip.is_ipv4() != interface.bind.is_ipv4() {
                return Err(invalid(
                    "webrtc.extra_interfaces",
                    format!(
                        "{} and {} are not of the same IP version",
                        interface.bind, interface.public_ip
                    ),
                ));
            }
        }
        if self.limits.video_ring_packets < 64 || self.limits.audio_ring_packets < 16 {
            return Err(invalid(
                "limits.video_ring_packets",
                "rings need at least 64 video and 16 audio packets",
            ));
        }
        if self.limits.max_peers_per_worker == 0 {
            return Err(invalid("limits.max_peers_per_worker", "must be above 0"));
        }
        if let crate::service::Service::Static { keys } = &self.service
            && let Some((channel, _)) = keys.iter().find(|(_, secret)| secret.is_empty())
        {
            return Err(invalid(
                "service.keys",
                format!("the key of channel {channel} is empty"),
            ));
        }
        if let crate::service::Service::Webhook(webhook) = &self.service {
            if !webhook.url.starts_with("http://") {
                return Err(invalid("service.url", "must be an http:// URL"));
            }
            if webhook.timeout_ms == 0 || webhook.heartbeat_ms < 100 {
                return Err(invalid(
                    "service.heartbeat_ms",
                    "timeout_ms above 0 and heartbeat_ms at least 100",
                ));
            }
        }
        if self.http.max_body_bytes < 1024 {
            return Err(invalid("http.max_body_bytes", "must be at least 1024"));
        }
        if !(1..=600_000).contains(&self.http.header_timeout_ms) {
            return Err(invalid("http.header_timeout_ms", "must be 1 to 600000"));
        }
        let cluster = self.cluster_config()?;
        if self.orchestrator.relay_grace_ms == 0 {
            return Err(invalid("orchestrator.relay_grace_ms", "must be above 0"));
        }
        let mut node = NodeConfig {
            cluster,
            http: self.http.address,
            ftl: self.ftl.address,
            whip_takeover: self.whip.takeover,
            service: self.service.clone(),
            max_body_bytes: self.http.max_body_bytes,
            http_header_timeout: Duration::from_millis(self.http.header_timeout_ms),
            tls: self.tls_files()?,
            ..NodeConfig::default()
        };
        node.ftl_control.handshake_timeout = ms(self.ftl.handshake_timeout_ms);
        node.ftl_control.ping_timeout = ms(self.ftl.ping_timeout_ms);
        node.ftl_control.max_line_len = self.ftl.max_line_bytes;
        let engine = &mut node.engine;
        if self.workers.count > 0 {
            engine.workers = self.workers.count;
        }
        engine.webrtc_bind = self.webrtc.bind;
        engine.webrtc_port_base = self.webrtc.port_base;
        engine.public_ip = self.webrtc.public_ip;
        engine.ice_tcp = self.webrtc.ice_tcp;
        engine.extra_interfaces = self
            .webrtc
            .extra_interfaces
            .iter()
            .map(|interface| engine::WebRtcInterface {
                bind: interface.bind,
                public_ip: interface.public_ip,
            })
            .collect();
        engine.ftl_media_ports = self.ftl.media_port_min..=self.ftl.media_port_max;
        engine.ftl_media_bind = self.ftl.media_bind;
        engine.max_viewers_per_worker = self.limits.max_peers_per_worker;
        engine.max_streams = self.limits.max_streams;
        engine.max_viewers_per_stream = self.limits.max_viewers_per_stream;
        engine.max_viewers_total = self.limits.max_viewers_total;
        engine.viewer_connect_timeout = ms(self.limits.connect_timeout_ms);
        engine.ftl_media_timeout = ms(self.limits.media_timeout_ms);
        engine.video_ring_packets = self.limits.video_ring_packets;
        engine.audio_ring_packets = self.limits.audio_ring_packets;
        engine.socket_buffer_bytes = self.limits.socket_buffer_bytes;
        engine.relay_idle_grace = ms(self.orchestrator.relay_grace_ms);
        Ok(node)
    }

    fn tls_files(&self) -> Result<Option<crate::TlsFiles>, ConfigError> {
        match (&self.http.tls_cert, &self.http.tls_key) {
            (Some(cert), Some(key)) => Ok(Some(crate::TlsFiles {
                cert: cert.clone(),
                key: key.clone(),
            })),
            (None, None) => Ok(None),
            _ => Err(invalid("http.tls_cert", "tls_cert and tls_key go together")),
        }
    }

    fn cluster_config(&self) -> Result<Option<crate::cluster::ClusterConfig>, ConfigError> {
        let section = &self.orchestrator;
        if section.urls.is_empty() {
            return Ok(None);
        }
        if let Some(url) = section.urls.iter().find(|url| !is_http_url(url)) {
            return Err(invalid(
                "orchestrator.urls",
                format!("{url} is not an http:// or https:// URL"),
            ));
        }
        if section.secret.is_empty() {
            return Err(invalid(
                "orchestrator.secret",
                "a node in a cluster needs the cluster's secret",
            ));
        }
        if !section.public_url.is_empty() && !is_http_url(&section.public_url) {
            return Err(invalid(
                "orchestrator.public_url",
                "must be an http:// or https:// URL",
            ));
        }
        if section.heartbeat_ms < 100 {
            return Err(invalid("orchestrator.heartbeat_ms", "must be at least 100"));
        }
        if section.timeout_ms == 0 {
            return Err(invalid("orchestrator.timeout_ms", "must be above 0"));
        }
        let non_empty = |value: &str| (!value.is_empty()).then(|| value.to_owned());
        Ok(Some(crate::cluster::ClusterConfig {
            orchestrators: section.urls.clone(),
            secret: section.secret.clone(),
            node_id: non_empty(&section.node_id),
            region: section.region.clone(),
            public_url: non_empty(&section.public_url),
            capacity: if section.capacity == 0 {
                self.limits.max_viewers_total as u64
            } else {
                section.capacity
            },
            heartbeat: Duration::from_millis(section.heartbeat_ms),
            timeout: Duration::from_millis(section.timeout_ms),
            ca_file: section.ca_file.clone(),
        }))
    }

    /// Checks the orchestrator role's values and builds its configuration.
    pub fn orchestrator_config(
        &self,
    ) -> Result<crate::orchestrator::OrchestratorConfig, ConfigError> {
        let section = &self.orchestrator;
        let server = &section.server;
        if section.secret.is_empty() {
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
            StoreKind::Memory => crate::orchestrator::Store::Memory,
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
                crate::orchestrator::Store::Redis(server.redis_url.clone())
            }
        };
        Ok(crate::orchestrator::OrchestratorConfig {
            listen: server.listen,
            store,
            secret: section.secret.clone(),
            node_ttl: Duration::from_millis(server.node_ttl_ms),
            stream_ttl: Duration::from_millis(server.stream_ttl_ms),
            region: server.region.clone(),
            header_timeout: Duration::from_millis(self.http.header_timeout_ms),
            tls: self.tls_files()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_file_is_the_defaults() {
        let config = Config::parse("").unwrap();
        let node = config.node_config().unwrap();
        assert_eq!(node.http.port(), 8091);
        assert_eq!(node.ftl.port(), 8084);
        assert_eq!(node.engine.webrtc_port_base, 8200);
        assert_eq!(node.engine.ftl_media_ports, 9000..=9999);
        assert!(!node.whip_takeover);
    }

    #[test]
    fn values_reach_the_node_config() {
        let config = Config::parse(
            "[http]\naddress = \"127.0.0.1:9091\"\n[ftl]\nhandshake_timeout_ms = 7000\nmedia_port_min = 20000\nmedia_port_max = 20010\n\
             [webrtc]\npublic_ip = \"203.0.113.7\"\nport_base = 30000\n[workers]\ncount = 3\n[whip]\ntakeover = true\n\
             [logging]\nformat = \"json\"\n",
        )
        .unwrap();
        let node = config.node_config().unwrap();
        assert_eq!(node.http, "127.0.0.1:9091".parse().unwrap());
        assert_eq!(node.ftl_control.handshake_timeout, Duration::from_secs(7));
        assert_eq!(node.engine.ftl_media_ports, 20000..=20010);
        assert_eq!(
            node.engine.public_ip,
            "203.0.113.7".parse::<IpAddr>().unwrap()
        );
        assert_eq!(node.engine.webrtc_port_base, 30000);
        assert_eq!(node.engine.workers, 3);
        assert!(node.whip_takeover);
        assert_eq!(config.logging.format, LogFormat::Json);
    }

    #[test]
    fn cluster_membership_and_the_orchestrator_role() {
        let config = Config::parse(
            "[orchestrator]\nurls = [\"http://10.0.0.9:8090\", \"http://10.0.0.10:8090\"]\nsecret = \"s3\"\n\
             region = \"eu\"\nheartbeat_ms = 500\nrelay_grace_ms = 3000\n\
             [orchestrator.server]\nlisten = \"127.0.0.1:9090\"\nstore = \"redis\"\nredis_url = \"redis://10.0.0.2:6379/\"\nnode_ttl_ms = 4000\n",
        )
        .unwrap();
        let node = config.node_config().unwrap();
        let cluster = node.cluster.unwrap();
        assert_eq!(cluster.orchestrators.len(), 2);
        assert_eq!(cluster.region, "eu");
        assert_eq!(cluster.capacity, node.engine.max_viewers_total as u64);
        assert_eq!(cluster.heartbeat, Duration::from_millis(500));
        assert_eq!(cluster.node_id, None);
        assert_eq!(node.engine.relay_idle_grace, Duration::from_secs(3));
        let role = config.orchestrator_config().unwrap();
        assert_eq!(role.listen, "127.0.0.1:9090".parse().unwrap());
        assert_eq!(
            role.store,
            crate::orchestrator::Store::Redis("redis://10.0.0.2:6379/".into())
        );
        assert_eq!(role.node_ttl, Duration::from_secs(4));
        // A single node needs none of it.
        assert!(Config::default().node_config().unwrap().cluster.is_none());
    }

    #[test]
    fn extra_interfaces_reach_the_engine_and_are_checked() {
        let config = Config::parse(
            "[webrtc]\nbind = \"10.0.0.7\"\npublic_ip = \"203.0.113.7\"\nextra_interfaces = [\n\
             { bind = \"10.0.0.8\", public_ip = \"203.0.113.8\" },\n\
             { bind = \"fd00::8\", public_ip = \"2001:db8::8\" },\n]\n",
        )
        .unwrap();
        let engine = config.node_config().unwrap().engine;
        assert_eq!(engine.extra_interfaces.len(), 2);
        assert_eq!(
            engine.extra_interfaces[1].public_ip,
            "2001:db8::8".parse::<IpAddr>().unwrap()
        );
        for (bad, key) in [
            (
                "bind = \"10.0.0.7\"\nextra_interfaces = [{ bind = \"10.0.0.8\", public_ip = \"2001:db8::8\" }]",
                "webrtc.extra_interfaces",
            ),
            (
                "bind = \"10.0.0.7\"\nextra_interfaces = [{ bind = \"0.0.0.0\", public_ip = \"203.0.113.8\" }]",
                "webrtc.extra_interfaces",
            ),
            (
                "bind = \"10.0.0.7\"\nextra_interfaces = [{ bind = \"10.0.0.7\", public_ip = \"203.0.113.8\" }]",
                "webrtc.extra_interfaces",
            ),
            // The default wildcard bind would hold the port on 10.0.0.8 too,
            // and so would an IPv6 one.
            (
                "extra_interfaces = [{ bind = \"10.0.0.8\", public_ip = \"203.0.113.8\" }]",
                "webrtc.bind",
            ),
            (
                "bind = \"::\"\npublic_ip = \"2001:db8::7\"\nextra_interfaces = [{ bind = \"10.0.0.8\", public_ip = \"203.0.113.8\" }]",
                "webrtc.bind",
            ),
        ] {
            let config = Config::parse(&format!("[webrtc]\n{bad}\n")).unwrap();
            match config.node_config() {
                Err(ConfigError::Invalid { key: found, .. }) => assert_eq!(found, key, "{bad}"),
                other => panic!("{bad}: {other:?}"),
            }
        }
    }

    #[test]
    fn cluster_values_are_checked_by_key() {
        let key_of = |text: &str, role: bool| {
            let config = Config::parse(text).unwrap();
            let error = if role {
                config.orchestrator_config().err()
            } else {
                config.node_config().err()
            };
            match error {
                Some(ConfigError::Invalid { key, .. }) => key,
                other => panic!("expected an invalid value, got {other:?}"),
            }
        };
        assert_eq!(
            key_of("[orchestrator]\nurls = [\"http://o\"]\n", false),
            "orchestrator.secret"
        );
        assert_eq!(
            key_of(
                "[orchestrator]\nurls = [\"o:8090\"]\nsecret = \"s\"\n",
                false
            ),
            "orchestrator.urls"
        );
        assert_eq!(key_of("", true), "orchestrator.secret");
        assert_eq!(
            key_of(
                "[orchestrator]\nsecret = \"s\"\n[orchestrator.server]\nstore = \"redis\"\nredis_url = \"10.0.0.2\"\n",
                true
            ),
            "orchestrator.server.redis_url"
        );
    }

    #[test]
    fn unknown_keys_and_wrong_types_name_the_key() {
        let unknown = Config::parse("[ftl]\nhandshake_timeout = 5\n")
            .unwrap_err()
            .to_string();
        assert!(unknown.contains("handshake_timeout"), "{unknown}");
        let wrong = Config::parse("[webrtc]\nport_base = \"eighty\"\n")
            .unwrap_err()
            .to_string();
        assert!(wrong.contains("port_base"), "{wrong}");
        let section = Config::parse("[nonsense]\nx = 1\n")
            .unwrap_err()
            .to_string();
        assert!(section.contains("nonsense"), "{section}");
    }

    #[test]
    fn out_of_range_values_name_the_key() {
        for (text, key) in [
            (
                "[ftl]\nmedia_port_min = 10\nmedia_port_max = 5\n",
                "ftl.media_port_min",
            ),
            ("[workers]\ncount = 65\n", "workers.count"),
            ("[webrtc]\npublic_ip = \"0.0.0.0\"\n", "webrtc.public_ip"),
            (
                "[ftl]\nhandshake_timeout_ms = 0\n",
                "ftl.handshake_timeout_ms",
            ),
            (
                "[limits]\nmax_peers_per_worker = 0\n",
                "limits.max_peers_per_worker",
            ),
        ] {
            let error = Config::parse(text)
                .unwrap()
                .node_config()
                .unwrap_err()
                .to_string();
            assert!(
                error.starts_with(&format!("invalid value for {key}")),
                "{error}"
            );
        }
    }

    #[test]
    fn static_service_keys() {
        let config =
            Config::parse("[service]\nkind = \"static\"\n[service.keys]\n42 = \"s3cret\"\n")
                .unwrap();
        let node = config.node_config().unwrap();
        assert_eq!(node.service.stream_secret("42").as_deref(), Some("s3cret"));
        assert_eq!(node.service.stream_secret("43"), None);
        let empty =
            Config::parse("[service]\nkind = \"static\"\n[service.keys]\n42 = \"\"\n").unwrap();
        assert!(
            empty
                .node_config()
                .unwrap_err()
                .to_string()
                .contains("service.keys")
        );
        let unknown = Config::parse("[service]\nkind = \"ldap\"\n")
            .unwrap_err()
            .to_string();
        assert!(unknown.contains("ldap"), "{unknown}");
    }

    #[test]
    fn webhook_service() {
        let config = Config::parse("[service]\nkind = \"webhook\"\nurl = \"http://127.0.0.1:9/hook\"\nheartbeat_ms = 1000\n").unwrap();
        let node = config.node_config().unwrap();
        let crate::service::Service::Webhook(webhook) = &node.service else {
            panic!("not a webhook: {:?}", node.service);
        };
        assert_eq!(webhook.url, "http://127.0.0.1:9/hook");
        assert_eq!(
            (webhook.heartbeat_ms, webhook.timeout_ms, webhook.retries),
            (1000, 2000, 2)
        );
        let typo = Config::parse("[service]\nkind = \"webhook\"\nurl = \"x\"\nheartbeat = 1\n")
            .unwrap_err();
        assert!(typo.to_string().contains("heartbeat"), "{typo}");
        let relative = Config::parse("[service]\nkind = \"webhook\"\nurl = \"hook\"\n").unwrap();
        assert!(
            relative
                .node_config()
                .unwrap_err()
                .to_string()
                .contains("service.url")
        );
    }

    #[test]
    fn printed_config_parses_back_to_the_same() {
        let config = Config::parse("[webrtc]\nport_base = 1234\n").unwrap();
        let again = Config::parse(&config.to_toml()).unwrap();
        assert_eq!(again.webrtc.port_base, 1234);
        assert_eq!(again.to_toml(), config.to_toml());
    }
}
