//! The orchestrator's process: its configuration, its route table, and
//! starting and stopping it.

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::http::{Method, header};
use axum::routing::{delete, get, post};
use tower_http::cors::{Any, CorsLayer};

use super::registry::Registry;
use super::routes::{self, OrchestratorState};
use crate::net::server::{HEADER_TIMEOUT, spawn_server};
use crate::net::signal::wait_for_signal;
use crate::net::tls::{TlsFiles, load_tls};

/// Where the orchestrator keeps its registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Store {
    /// In this process (one orchestrator).
    Memory,
    /// In the Redis server at this URL (several orchestrators share it).
    Redis(String),
}

/// How an orchestrator runs.
#[derive(Debug, Clone)]
pub struct OrchestratorConfig {
    /// Its HTTP address.
    pub listen: SocketAddr,
    /// Its registry.
    pub store: Store,
    /// The secret nodes send as `Authorization: Bearer`.
    pub secret: String,
    /// A node that has not sent a heartbeat this long is forgotten.
    pub node_ttl: Duration,
    /// A stream its node has not reported this long is forgotten.
    pub stream_ttl: Duration,
    /// The region of requests that name none (`?region=`).
    pub region: String,
    /// A connection whose request head is incomplete this long is closed.
    pub header_timeout: Duration,
    /// Serve HTTPS with this certificate chain and key.
    pub tls: Option<TlsFiles>,
}

impl Default for OrchestratorConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from((Ipv4Addr::UNSPECIFIED, 8090)),
            store: Store::Memory,
            secret: String::new(),
            node_ttl: Duration::from_secs(10),
            stream_ttl: Duration::from_secs(10),
            region: String::new(),
            header_timeout: HEADER_TIMEOUT,
            tls: None,
        }
    }
}

/// A running orchestrator.
pub struct Orchestrator {
    runtime: tokio::runtime::Runtime,
    address: SocketAddr,
}

/// The orchestrator's routes.
pub fn router(state: Arc<OrchestratorState>) -> Router {
    // Browser players follow the redirects (publishers use the key-in-path
    // route, since fetch drops Authorization on a cross-origin redirect).
    let cors = CorsLayer::new()
        .allow_origin(Any)
        .allow_methods([Method::GET, Method::POST, Method::OPTIONS])
        .allow_headers([header::CONTENT_TYPE, header::AUTHORIZATION])
        .expose_headers([header::LOCATION]);
    let redirects = Router::new()
        .route("/whip/endpoint/{channel}", post(routes::whip))
        .route("/whip/stream/{stream_key}", post(routes::whip_with_key))
        .route("/whep/endpoint/{channel}", post(routes::whep))
        .route("/whep/watch/{channel}", post(routes::whep))
        .layer(cors);
    Router::new()
        .merge(redirects)
        .route("/v1/nodes", get(routes::nodes))
        .route("/v1/nodes/{id}", delete(routes::node_leave))
        .route("/v1/nodes/{id}/heartbeat", post(routes::node_heartbeat))
        .route("/v1/streams", get(routes::streams))
        .route("/v1/streams/{channel}", get(routes::stream))
        .route("/v1/streams/{channel}/start", post(routes::stream_report))
        .route(
            "/v1/streams/{channel}/heartbeat",
            post(routes::stream_report),
        )
        .route("/v1/streams/{channel}/stop", post(routes::stream_stop))
        .route("/healthz", get(|| async { "ok\n" }))
        .layer(axum::extract::DefaultBodyLimit::max(64 * 1024))
        .with_state(state)
}

impl Orchestrator {
    /// Connects the registry, binds and starts serving.
    pub fn start(config: OrchestratorConfig) -> io::Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("waveguide-orchestrator")
            .enable_all()
            .build()?;
        let registry = match &config.store {
            Store::Memory => Registry::memory(),
            Store::Redis(url) => runtime
                .block_on(Registry::redis(url))
                .map_err(|error| io::Error::other(format!("registry: {error}")))?,
        };
        let state = Arc::new(OrchestratorState {
            registry,
            secret: config.secret.clone(),
            node_ttl: config.node_ttl,
            stream_ttl: config.stream_ttl,
            region: config.region.clone(),
        });
        let tls = match &config.tls {
            Some(tls) => Some(load_tls(&runtime, tls)?),
            None => None,
        };
        let listener = runtime.block_on(tokio::net::TcpListener::bind(config.listen))?;
        let address = listener.local_addr()?;
        spawn_server(
            runtime.handle(),
            listener.into_std()?,
            router(state),
            config.header_timeout,
            tls,
        );
        Ok(Self { runtime, address })
    }

    /// The address actually bound.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Serves until SIGINT or SIGTERM.
    pub fn run_until_signal(self) -> io::Result<()> {
        self.runtime.block_on(wait_for_signal())?;
        tracing::info!("signal received; orchestrator stopping");
        self.runtime.shutdown_background();
        Ok(())
    }

    /// Stops serving at once.
    pub fn stop(self) {
        self.runtime.shutdown_background();
    }
}
