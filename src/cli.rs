//! The command line: a config file, and flags that override it. With
//! neither, every option has the default a single node needs.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::config::{Config, ConfigError};

/// Waveguide: a low-latency live-streaming forwarding engine. FTL and WHIP
/// in, WHEP out.
#[derive(Debug, Parser)]
#[command(name = "waveguide-engine", version)]
pub struct Cli {
    /// What to run: a node (the default) or the orchestrator.
    #[command(subcommand)]
    pub role: Option<Role>,
    /// A TOML configuration file (see the README for every option).
    #[arg(long, global = true)]
    pub config: Option<PathBuf>,
    /// Print the effective configuration as TOML and exit.
    #[arg(long, global = true)]
    pub print_config: bool,
    /// HTTP address (WHIP, WHEP, pages, API, metrics) [default: 0.0.0.0:8091].
    #[arg(long)]
    pub http: Option<SocketAddr>,
    /// FTL control address; encoders always connect to port 8084 [default: 0.0.0.0:8084].
    #[arg(long)]
    pub ftl: Option<SocketAddr>,
    /// RTMP address (OBS's and FFmpeg's default protocol) [default: 0.0.0.0:1935].
    #[arg(long)]
    pub rtmp: Option<SocketAddr>,
    /// Worker threads [default: one per core].
    #[arg(long)]
    pub workers: Option<usize>,
    /// First WebRTC UDP port; worker k uses this plus k [default: 8200].
    #[arg(long)]
    pub webrtc_port: Option<u16>,
    /// IP announced to viewers in ICE candidates [default: 127.0.0.1].
    #[arg(long)]
    pub public_ip: Option<IpAddr>,
    /// First UDP port handed to FTL streams for media [default: 9000].
    #[arg(long)]
    pub ftl_media_port_min: Option<u16>,
    /// Last UDP port handed to FTL streams for media [default: 9999].
    #[arg(long)]
    pub ftl_media_port_max: Option<u16>,
    /// Let a WHIP publisher replace a live stream (default: 409 Conflict).
    #[arg(long)]
    pub whip_takeover: bool,
}

/// The roles one binary plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Subcommand)]
pub enum Role {
    /// Run the cluster's orchestrator (`[orchestrator]` and
    /// `[orchestrator.server]` in the config) instead of a node.
    Orchestrator,
}

impl Cli {
    /// The configuration: the file's (or the defaults), then the flags on top.
    pub fn config(&self) -> Result<Config, ConfigError> {
        let mut config = match &self.config {
            Some(path) => Config::load(path)?,
            None => Config::default(),
        };
        if let Some(http) = self.http {
            config.http.address = http;
        }
        if let Some(ftl) = self.ftl {
            config.ftl.address = ftl;
        }
        if let Some(rtmp) = self.rtmp {
            config.rtmp.address = rtmp;
        }
        if let Some(workers) = self.workers {
            config.workers.count = workers;
        }
        if let Some(port) = self.webrtc_port {
            config.webrtc.port_base = port;
        }
        if let Some(ip) = self.public_ip {
            config.webrtc.public_ip = ip;
        }
        if let Some(port) = self.ftl_media_port_min {
            config.ftl.media_port_min = port;
        }
        if let Some(port) = self.ftl_media_port_max {
            config.ftl.media_port_max = port;
        }
        if self.whip_takeover {
            config.whip.takeover = true;
        }
        Ok(config)
    }
}
