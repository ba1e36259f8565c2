//! `[ftl]`: the FTL control address, the media ports handed to streams,
//! and the control session's deadlines and line limit.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::error::{ConfigError, invalid};

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

impl FtlSection {
    /// Checks the port range, the deadlines and the line limit.
    pub(super) fn check(&self) -> Result<(), ConfigError> {
        if self.media_port_min > self.media_port_max {
            return Err(invalid(
                "ftl.media_port_min",
                "must not be above ftl.media_port_max",
            ));
        }
        if self.handshake_timeout_ms == 0 {
            return Err(invalid("ftl.handshake_timeout_ms", "must be above 0"));
        }
        if self.ping_timeout_ms == 0 {
            return Err(invalid("ftl.ping_timeout_ms", "must be above 0"));
        }
        if !(16..=65_536).contains(&self.max_line_bytes) {
            return Err(invalid(
                "ftl.max_line_bytes",
                "must be between 16 and 65536",
            ));
        }
        Ok(())
    }

    /// Sets the control sessions' limits and the engine's media ports.
    pub(super) fn apply(&self, control: &mut ftl::ServerConfig, engine: &mut engine::EngineConfig) {
        control.handshake_timeout = Duration::from_millis(self.handshake_timeout_ms);
        control.ping_timeout = Duration::from_millis(self.ping_timeout_ms);
        control.max_line_len = self.max_line_bytes;
        engine.ftl_media_ports = self.media_port_min..=self.media_port_max;
        engine.ftl_media_bind = self.media_bind;
    }
}
