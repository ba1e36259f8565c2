//! The command line: every flag has the default a single node needs.

use std::net::{IpAddr, SocketAddr};

use clap::Parser;

use crate::NodeConfig;

/// Waveguide: a low-latency live-streaming forwarding engine. FTL in, WHEP out.
#[derive(Debug, Parser)]
#[command(name = "waveguide-engine", version)]
pub struct Cli {
    /// HTTP address (WHEP, player page at /stream/{channel}, /healthz).
    #[arg(long, default_value = "0.0.0.0:8091")]
    pub http: SocketAddr,
    /// FTL control address; encoders always connect to port 8084.
    #[arg(long, default_value = "0.0.0.0:8084")]
    pub ftl: SocketAddr,
    /// Worker threads (default: one per core).
    #[arg(long)]
    pub workers: Option<usize>,
    /// First WebRTC UDP port; worker k uses this plus k.
    #[arg(long, default_value_t = 8200)]
    pub webrtc_port: u16,
    /// IP announced to viewers in ICE candidates.
    #[arg(long, default_value = "127.0.0.1")]
    pub public_ip: IpAddr,
    /// First UDP port handed to FTL streams for media.
    #[arg(long, default_value_t = 9000)]
    pub ftl_media_port_min: u16,
    /// Last UDP port handed to FTL streams for media.
    #[arg(long, default_value_t = 9999)]
    pub ftl_media_port_max: u16,
    /// Let a WHIP publisher replace a live stream (default: 409 Conflict).
    #[arg(long)]
    pub whip_takeover: bool,
}

impl Cli {
    /// The node configuration these flags describe.
    pub fn node_config(&self) -> NodeConfig {
        let mut config = NodeConfig {
            http: self.http,
            ftl: self.ftl,
            ..NodeConfig::default()
        };
        if let Some(workers) = self.workers {
            config.engine.workers = workers;
        }
        config.engine.webrtc_port_base = self.webrtc_port;
        config.engine.public_ip = self.public_ip;
        config.whip_takeover = self.whip_takeover;
        config.engine.ftl_media_ports =
            self.ftl_media_port_min..=self.ftl_media_port_max.max(self.ftl_media_port_min);
        config
    }
}
