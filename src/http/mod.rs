//! The HTTP signalling server: axum on the control runtime. Routes, CORS on
//! every WHEP route, a body limit, and errors as a status with a one-line
//! reason.

mod api;
pub mod first_bytes;
pub mod headers;
mod player;
mod registry_view;
mod whep;
mod whip;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderName, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tower_http::cors::{Any, CorsLayer};

use crate::state::AppState;
pub use whep::engine_error;

/// Default largest request body (an SDP offer is a few KiB).
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Default time a client has to send a whole request head.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// Makes hyper close an HTTP/1 connection whose request head is still
/// incomplete `timeout` after it began, so slow-loris clients cannot hold
/// connections open.
pub fn limit_header_time(
    builder: &mut hyper_util::server::conn::auto::Builder<hyper_util::rt::TokioExecutor>,
    timeout: Duration,
) {
    builder
        .http1()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(timeout);
}

/// Loads a PEM certificate chain and key for HTTPS (and installs the
/// process's TLS crypto provider, which HTTPS clients use too).
pub fn load_tls(
    runtime: &tokio::runtime::Runtime,
    tls: &crate::TlsFiles,
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
                    .map(|acceptor| first_bytes::FirstBytesAcceptor::new(acceptor, header_timeout));
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
                    .map(|acceptor| first_bytes::FirstBytesAcceptor::new(acceptor, header_timeout));
                limit_header_time(server.http_builder(), header_timeout);
                if let Err(error) = server.serve(router.into_make_service()).await {
                    tracing::error!(%error, "HTTPS server stopped");
                }
            });
        }
    }
}

/// An HTTP error: a status and a one-line reason, sent as plain text.
#[derive(Debug, Clone)]
pub struct HttpError {
    status: StatusCode,
    reason: String,
    retry_after: Option<u32>,
    /// Adds `WWW-Authenticate: Bearer` (a 401 must say how to authenticate).
    pub www_authenticate: bool,
    /// The `Allow` header of a `405` (RFC 9110 §15.5.6).
    pub allow: Option<&'static str>,
}

impl HttpError {
    /// An error with `status` and `reason`.
    pub fn new(status: StatusCode, reason: impl Into<String>) -> Self {
        Self {
            status,
            reason: reason.into(),
            retry_after: None,
            www_authenticate: false,
            allow: None,
        }
    }

    /// Adds `Retry-After: seconds`.
    pub fn retry_after(mut self, seconds: u32) -> Self {
        self.retry_after = Some(seconds);
        self
    }
}

impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        tracing::debug!(status = %self.status, reason = %self.reason, "HTTP request refused");
        let mut response = (
            self.status,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            format!("{}\n", self.reason),
        )
            .into_response();
        if self.www_authenticate {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer"),
            );
        }
        if let Some(allow) = self.allow {
            response
                .headers_mut()
                .insert(header::ALLOW, header::HeaderValue::from_static(allow));
        }
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, seconds.into());
        }
        response
    }
}

/// The router with every route.
pub fn router(state: Arc<AppState>, max_body_bytes: usize) -> Router {
    let cors = CorsLayer::new()
        .allow_origin(Any)
        .allow_methods([
            Method::GET,
            Method::POST,
            Method::PATCH,
            Method::DELETE,
            Method::OPTIONS,
        ])
        .allow_headers([
            header::CONTENT_TYPE,
            header::AUTHORIZATION,
            HeaderName::from_static("if-match"),
            HeaderName::from_static(crate::cluster::RELAY_VIA_HEADER),
        ])
        .expose_headers([header::LOCATION, header::ETAG, header::LINK]);
    let whep = Router::new()
        .route("/whep/endpoint/{channel}", post(whep::create))
        .route("/whep/watch/{channel}", post(whep::create))
        .route("/whip/endpoint/{channel}", post(whip::create))
        .route("/whip/stream/{stream_key}", post(whip::create_with_key))
        .route(
            "/whip/resource/{id}",
            axum::routing::patch(whip::patch).delete(whip::delete),
        )
        .route(
            "/whep/resource/{id}",
            axum::routing::patch(whep::patch).delete(whep::delete),
        )
        .layer(cors);
    Router::new()
        .merge(whep)
        .route("/stream/{channel}", get(player::page))
        .route("/publish/{channel}", get(player::publish_page))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/api/streams", get(api::streams))
        .route("/api/streams/{channel}", get(api::stream))
        .route("/metrics", get(api::metrics))
        .route("/v1/nodes", get(registry_view::nodes))
        .route("/v1/streams", get(registry_view::streams))
        .route("/v1/streams/{channel}", get(registry_view::stream))
        .layer(axum::extract::DefaultBodyLimit::max(max_body_bytes))
        .with_state(state)
}
