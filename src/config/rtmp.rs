//! `[rtmp]`: the RTMP and RTMPS listeners, takeover, and the connection
//! limits and deadlines.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::error::{ConfigError, invalid};
use crate::inputs::rtmp::RtmpSettings;
use crate::net::tls::TlsFiles;

/// `[rtmp]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RtmpSection {
    /// Whether plain RTMP is served.
    pub enabled: bool,
    /// Plain RTMP's address; encoders default to port 1935.
    pub address: SocketAddr,
    /// RTMPS's address (OBS's presets use port 443), when set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_address: Option<SocketAddr>,
    /// RTMPS's PEM certificate chain; `[http]`'s when not set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_cert: Option<PathBuf>,
    /// RTMPS's PEM private key; `[http]`'s when not set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_key: Option<PathBuf>,
    /// Whether a publisher may replace a live stream of its channel (else
    /// it is refused with NetStream.Publish.BadName).
    pub takeover: bool,
    /// Most RTMP and RTMPS connections open at once.
    pub max_connections: usize,
    /// From accept until publishing starts, in milliseconds.
    pub handshake_timeout_ms: u64,
    /// Longest silence from a publishing client, in milliseconds.
    pub idle_timeout_ms: u64,
    /// Longest wait to write to a client that stopped reading, in milliseconds.
    pub write_timeout_ms: u64,
}

impl Default for RtmpSection {
    fn default() -> Self {
        let settings = RtmpSettings::default();
        Self {
            enabled: true,
            address: SocketAddr::from((Ipv4Addr::UNSPECIFIED, 1935)),
            tls_address: None,
            tls_cert: None,
            tls_key: None,
            takeover: settings.takeover,
            max_connections: settings.max_connections,
            handshake_timeout_ms: settings.handshake_timeout.as_millis() as u64,
            idle_timeout_ms: settings.idle_timeout.as_millis() as u64,
            write_timeout_ms: settings.write_timeout.as_millis() as u64,
        }
    }
}

impl RtmpSection {
    /// Checks the values and builds the listeners' settings; RTMPS takes
    /// `http_tls` (the HTTPS certificate) unless it has its own.
    pub(super) fn settings(
        &self,
        http_tls: Option<&TlsFiles>,
    ) -> Result<RtmpSettings, ConfigError> {
        if self.max_connections == 0 {
            return Err(invalid("rtmp.max_connections", "must be above 0"));
        }
        let millis = |key: &'static str, value: u64| {
            if (1..=600_000).contains(&value) {
                Ok(Duration::from_millis(value))
            } else {
                Err(invalid(key, "must be 1 to 600000"))
            }
        };
        let tls = match self.tls_address {
            None => None,
            Some(address) => {
                let files = match (&self.tls_cert, &self.tls_key) {
                    (Some(cert), Some(key)) => TlsFiles {
                        cert: cert.clone(),
                        key: key.clone(),
                    },
                    (None, None) => http_tls.cloned().ok_or_else(|| {
                        invalid(
                            "rtmp.tls_address",
                            "RTMPS needs a certificate: set rtmp.tls_cert and rtmp.tls_key, or http.tls_cert and http.tls_key",
                        )
                    })?,
                    _ => return Err(invalid("rtmp.tls_cert", "tls_cert and tls_key go together")),
                };
                Some((address, files))
            }
        };
        Ok(RtmpSettings {
            address: self.enabled.then_some(self.address),
            tls,
            takeover: self.takeover,
            max_connections: self.max_connections,
            handshake_timeout: millis("rtmp.handshake_timeout_ms", self.handshake_timeout_ms)?,
            idle_timeout: millis("rtmp.idle_timeout_ms", self.idle_timeout_ms)?,
            write_timeout: millis("rtmp.write_timeout_ms", self.write_timeout_ms)?,
        })
    }
}
