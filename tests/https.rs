//! HTTPS: with `http.tls_cert` and `http.tls_key`, the signalling server
//! speaks TLS (WHIP Bearer keys must not cross the network in clear).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a failed unwrap in a test is a failed test"
)]

mod common;

use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use waveguide::TlsFiles;

#[test]
fn the_http_server_speaks_tls_with_the_configured_certificate() {
    let (certified, TlsFiles { cert, key }, dir) = common::self_signed("localhost", "tls");
    let node = common::start_node_with(1, |config| {
        config.tls = Some(TlsFiles {
            cert: cert.clone(),
            key: key.clone(),
        })
    });

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let addr = node.http_addr();
    let reply = runtime.block_on(async move {
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let mut roots = rustls::RootCertStore::empty();
        roots.add(certified.cert.der().clone()).unwrap();
        let config = rustls::ClientConfig::builder()
            .with_root_certificates(roots)
            .with_no_client_auth();
        let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
        let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
        let mut tls = connector
            .connect(name, tcp)
            .await
            .expect("TLS handshake with the node");
        tls.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut reply = Vec::new();
        tls.read_to_end(&mut reply).await.unwrap();
        String::from_utf8_lossy(&reply).into_owned()
    });
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    assert!(reply.ends_with("ok\n"));

    // Plain HTTP on the TLS port gets no HTTP answer.
    let mut plain = std::net::TcpStream::connect(addr).unwrap();
    plain
        .set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .unwrap();
    std::io::Write::write_all(&mut plain, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut buf = [0u8; 64];
    let n = std::io::Read::read(&mut plain, &mut buf).unwrap_or(0);
    assert!(!buf[..n].starts_with(b"HTTP/1.1 200"));
    node.stop();

    // A missing key is a start-up error, not a silent plain-HTTP server.
    let mut config = waveguide::NodeConfig {
        http: "127.0.0.1:0".parse().unwrap(),
        ftl: "127.0.0.1:0".parse().unwrap(),
        ..waveguide::NodeConfig::default()
    };
    config.engine.webrtc_port_base = 0;
    config.engine.workers = 1;
    config.rtmp.address = Some("127.0.0.1:0".parse().unwrap());
    config.tls = Some(TlsFiles {
        cert,
        key: dir.join("missing.pem"),
    });
    assert!(waveguide::Node::start(config).is_err());
    std::fs::remove_dir_all(&dir).unwrap();
}
