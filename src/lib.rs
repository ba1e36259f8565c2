//! The Waveguide node: wires the `engine` data plane to the FTL control
//! listener and the HTTP signalling server on a small tokio runtime. Thin:
//! packet-level work lives in `engine` and `ftl`.

pub mod cli;
pub mod cluster;
pub mod config;
pub mod http;
pub mod ingest_ftl;
pub mod orchestrator;
pub mod service;
pub mod state;

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;

use engine::{Engine, EngineConfig, EngineHandle};

use crate::service::Service;
use crate::state::AppState;

/// Longest wait for FTL connections to say goodbye when the node stops.
pub const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(2);

/// Where a node listens and how its engine runs.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// HTTP: WHEP, the player page, health.
    pub http: SocketAddr,
    /// FTL control (TCP). ftl-sdk hard-codes port 8084.
    pub ftl: SocketAddr,
    /// The data plane.
    pub engine: EngineConfig,
    /// Who may stream.
    pub service: Service,
    /// FTL control limits and deadlines (handshake 5 s, PING 30 s, ...).
    pub ftl_control: ftl::ServerConfig,
    /// Whether a WHIP publisher may replace a live stream; if not, `409`.
    pub whip_takeover: bool,
    /// Largest HTTP request body, in bytes.
    pub max_body_bytes: usize,
    /// An HTTP/1 connection whose request head has not fully arrived this
    /// long after it started is closed (slow-loris).
    pub http_header_timeout: std::time::Duration,
    /// Serve HTTPS with this PEM certificate chain and key (WHIP's Bearer
    /// keys must not cross the network in clear).
    pub tls: Option<TlsFiles>,
    /// Membership of a cluster; `None` for a single node (its orchestrator
    /// is then embedded: it holds every stream itself).
    pub cluster: Option<cluster::ClusterConfig>,
}

/// A PEM certificate chain and its private key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// The certificate chain.
    pub cert: std::path::PathBuf,
    /// The private key.
    pub key: std::path::PathBuf,
}

impl Default for NodeConfig {
    fn default() -> Self {
        Self {
            http: SocketAddr::from((Ipv4Addr::UNSPECIFIED, 8091)),
            ftl: SocketAddr::from((Ipv4Addr::UNSPECIFIED, 8084)),
            engine: EngineConfig::default(),
            service: Service::Dummy,
            ftl_control: ftl::ServerConfig::default(),
            whip_takeover: false,
            max_body_bytes: http::MAX_BODY_BYTES,
            http_header_timeout: http::HEADER_TIMEOUT,
            tls: None,
            cluster: None,
        }
    }
}

/// Waits for SIGINT or SIGTERM.
pub async fn wait_for_signal() -> io::Result<()> {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
    }
    Ok(())
}

/// A running node. Dropping it without [`stop`](Self::stop) leaks its threads.
pub struct Node {
    runtime: tokio::runtime::Runtime,
    engine: Engine,
    state: Arc<AppState>,
    http_addr: SocketAddr,
    ftl_addr: SocketAddr,
}

impl Node {
    /// Binds every socket and starts serving.
    pub fn start(config: NodeConfig) -> io::Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("waveguide-control")
            .enable_all()
            .build()?;
        // Clients calling other nodes over HTTPS need it even without a certificate.
        http::install_crypto_provider();
        // Checked before anything starts: a bad certificate is a start-up error.
        let rustls_config = match &config.tls {
            Some(tls) => Some(http::load_tls(&runtime, tls)?),
            None => None,
        };
        let engine = Engine::start(config.engine.clone())?;
        let (http_listener, ftl_listener) = runtime.block_on(async {
            let http = tokio::net::TcpListener::bind(config.http).await?;
            let ftl = tokio::net::TcpListener::bind(config.ftl).await?;
            Ok::<_, io::Error>((http, ftl))
        })?;
        let http_addr = http_listener.local_addr()?;
        let ftl_addr = ftl_listener.local_addr()?;
        let public = SocketAddr::new(config.engine.public_ip, http_addr.port());
        let scheme = if config.tls.is_some() {
            "https"
        } else {
            "http"
        };
        let settings = config.cluster.as_ref();
        let local = Arc::new(cluster::local::LocalNode::new(cluster::local::Identity {
            id: settings
                .and_then(|c| c.node_id.clone())
                .unwrap_or_else(|| public.to_string()),
            url: settings
                .and_then(|c| c.public_url.clone())
                .unwrap_or_else(|| format!("{scheme}://{public}"))
                .trim_end_matches('/')
                .to_owned(),
            region: settings.map(|c| c.region.clone()).unwrap_or_default(),
            capacity: settings.map_or(config.engine.max_viewers_total as u64, |c| c.capacity),
        }));
        let cluster = match settings {
            Some(settings) => Some(Arc::new(cluster::Cluster::new(
                settings,
                Arc::clone(&local),
            )?)),
            None => None,
        };
        let state = Arc::new(AppState::new(
            engine.handle(),
            config.service.clone(),
            config.ftl_control.clone(),
            config.whip_takeover,
            runtime.handle().clone(),
            local,
            cluster.clone(),
        )?);
        let router = http::router(Arc::clone(&state), config.max_body_bytes);
        let listener = http_listener.into_std()?;
        http::spawn_server(
            runtime.handle(),
            listener,
            router,
            config.http_header_timeout,
            rustls_config,
        );
        runtime.spawn(ingest_ftl::serve(ftl_listener, Arc::clone(&state)));
        if let Some(webhook) = state.service.webhook() {
            let interval = std::time::Duration::from_millis(webhook.heartbeat_ms.max(100));
            let max_failures = webhook.max_failed_heartbeats.max(1);
            let heartbeat_state = Arc::clone(&state);
            let ingest_server = http_addr.to_string();
            runtime.spawn(async move {
                let mut ticks = tokio::time::interval(interval);
                ticks.tick().await;
                loop {
                    ticks.tick().await;
                    heartbeat_state
                        .heartbeat(&ingest_server, interval, max_failures)
                        .await;
                }
            });
        }
        if let (Some(cluster), Some(settings)) = (&cluster, &config.cluster) {
            let cluster = Arc::clone(cluster);
            let engine = engine.handle();
            let interval = settings.heartbeat;
            tracing::info!(node = %cluster.id(), url = %cluster.url(), orchestrators = ?settings.orchestrators, "joining the cluster");
            runtime.spawn(async move {
                let mut ticks = tokio::time::interval(interval);
                ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    ticks.tick().await;
                    cluster.heartbeat(&engine).await;
                }
            });
        }
        let events = engine.events();
        let event_state = Arc::clone(&state);
        std::thread::Builder::new()
            .name("waveguide-events".into())
            .spawn(move || {
                for event in events {
                    event_state.on_engine_event(event);
                }
            })?;
        Ok(Self {
            runtime,
            engine,
            state,
            http_addr,
            ftl_addr,
        })
    }

    /// The HTTP address actually bound.
    pub fn http_addr(&self) -> SocketAddr {
        self.http_addr
    }

    /// The FTL control address actually bound.
    pub fn ftl_addr(&self) -> SocketAddr {
        self.ftl_addr
    }

    /// The engine's handle.
    pub fn engine(&self) -> EngineHandle {
        self.state.engine.clone()
    }

    /// The service in use.
    pub fn service(&self) -> &Service {
        self.state.service.service()
    }

    /// Serves until SIGINT or SIGTERM, then stops.
    pub fn run_until_signal(self) -> io::Result<()> {
        self.runtime.block_on(wait_for_signal())?;
        tracing::info!("signal received; stopping");
        self.stop();
        Ok(())
    }

    /// Stops within a bounded time: FTL encoders are told `410` and their
    /// connections closed, the service hears every stream stopped, the HTTP
    /// and FTL listeners stop, and every worker closes its peers cleanly
    /// (DTLS close_notify) before it exits.
    pub fn stop(self) {
        self.state.begin_shutdown();
        let state = Arc::clone(&self.state);
        self.runtime.block_on(async move {
            let deadline = tokio::time::Instant::now() + SHUTDOWN_GRACE;
            while state.ftl_connections() > 0 && tokio::time::Instant::now() < deadline {
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
            // The service hears that every stream ended.
            let _ = tokio::time::timeout_at(deadline, state.all_streams_stopped()).await;
            // The orchestrators forget this node and its streams at once.
            if let Some(cluster) = &state.cluster {
                let _ = tokio::time::timeout_at(deadline, cluster.leave()).await;
            }
        });
        self.runtime.shutdown_background();
        self.engine.shutdown();
    }
}
