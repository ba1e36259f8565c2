//! TLS: the PEM files a server is given, loading them for HTTPS, and the
//! process's rustls crypto provider (servers and clients both need it).

/// A PEM certificate chain and its private key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// The certificate chain.
    pub cert: std::path::PathBuf,
    /// The private key.
    pub key: std::path::PathBuf,
}

/// Loads a PEM certificate chain and key for HTTPS (and installs the
/// process's TLS crypto provider, which HTTPS clients use too).
pub fn load_tls(
    runtime: &tokio::runtime::Runtime,
    tls: &TlsFiles,
) -> std::io::Result<axum_server::tls_rustls::RustlsConfig> {
    install_crypto_provider();
    runtime
        .block_on(axum_server::tls_rustls::RustlsConfig::from_pem_file(
            &tls.cert, &tls.key,
        ))
        .map_err(|error| {
            std::io::Error::new(error.kind(), format!("TLS certificate or key: {error}"))
        })
}

/// Installs aws-lc-rs as the process's rustls provider (a second install
/// is harmless): HTTPS servers and the clients that call other nodes use it.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}
