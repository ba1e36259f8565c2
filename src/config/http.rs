//! `[http]`: where the node serves HTTP (or HTTPS), its body limit and its
//! header deadline.

use std::net::{Ipv4Addr, SocketAddr};

use serde::{Deserialize, Serialize};

use super::error::{ConfigError, invalid};
use crate::net::tls::TlsFiles;

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

impl Default for HttpSection {
    fn default() -> Self {
        Self {
            address: SocketAddr::from((Ipv4Addr::UNSPECIFIED, 8091)),
            max_body_bytes: crate::http::MAX_BODY_BYTES,
            header_timeout_ms: crate::net::server::HEADER_TIMEOUT.as_millis() as u64,
            tls_cert: None,
            tls_key: None,
        }
    }
}

impl HttpSection {
    /// Checks the body limit and the header deadline.
    pub(super) fn check(&self) -> Result<(), ConfigError> {
        if self.max_body_bytes < 1024 {
            return Err(invalid("http.max_body_bytes", "must be at least 1024"));
        }
        if !(1..=600_000).contains(&self.header_timeout_ms) {
            return Err(invalid("http.header_timeout_ms", "must be 1 to 600000"));
        }
        Ok(())
    }

    /// The certificate and key, which go together.
    pub(super) fn tls_files(&self) -> Result<Option<TlsFiles>, ConfigError> {
        match (&self.tls_cert, &self.tls_key) {
            (Some(cert), Some(key)) => Ok(Some(TlsFiles {
                cert: cert.clone(),
                key: key.clone(),
            })),
            (None, None) => Ok(None),
            _ => Err(invalid("http.tls_cert", "tls_cert and tls_key go together")),
        }
    }
}
