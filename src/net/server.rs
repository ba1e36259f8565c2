//! The server spawn every HTTP service here uses (the node's and the
//! orchestrator's): HTTP or HTTPS on a bound listener, with a deadline on
//! the first bytes and on every request head, so slow-loris clients cannot
//! hold connections open.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;

use super::first_bytes::FirstBytesAcceptor;

/// Default time a client has to send a whole request head.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// Makes hyper close an HTTP/1 connection whose request head is still
/// incomplete `timeout` after it began.
fn limit_header_time(
    builder: &mut hyper_util::server::conn::auto::Builder<hyper_util::rt::TokioExecutor>,
    timeout: Duration,
) {
    builder
        .http1()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(timeout);
}

/// Serves `router` on `listener`, over HTTPS with `tls`, else HTTP. Both
/// close connections that have not sent a request head within
/// `header_timeout`; HTTPS offers only `http/1.1` (hyper has no header
/// timeout for HTTP/2).
pub fn spawn_server(
    runtime: &tokio::runtime::Handle,
    listener: std::net::TcpListener,
    router: Router,
    header_timeout: Duration,
    tls: Option<axum_server::tls_rustls::RustlsConfig>,
) {
    match tls {
        None => {
            runtime.spawn(async move {
                let mut server = axum_server::from_tcp(listener)
                    .map(|acceptor| FirstBytesAcceptor::new(acceptor, header_timeout));
                limit_header_time(server.http_builder(), header_timeout);
                if let Err(error) = server.serve(router.into_make_service()).await {
                    tracing::error!(%error, "HTTP server stopped");
                }
            });
        }
        Some(rustls_config) => {
            let mut tls = (*rustls_config.get_inner()).clone();
            tls.alpn_protocols = vec![b"http/1.1".to_vec()];
            rustls_config.reload_from_config(Arc::new(tls));
            runtime.spawn(async move {
                let mut server = axum_server::from_tcp_rustls(listener, rustls_config)
                    .map(|acceptor| FirstBytesAcceptor::new(acceptor, header_timeout));
                limit_header_time(server.http_builder(), header_timeout);
                if let Err(error) = server.serve(router.into_make_service()).await {
                    tracing::error!(%error, "HTTPS server stopped");
                }
            });
        }
    }
}
