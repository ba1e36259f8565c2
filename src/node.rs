//! The node: its configuration and its start-up wiring. It binds the
//! sockets, starts the engine, puts control between the inputs, the outputs
//! and the engine, joins the cluster if configured to (as control's
//! listener), and serves until stopped.

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;

use engine::{Engine, EngineConfig, EngineHandle};

use crate::cluster::local::{Identity, LocalNode};
use crate::cluster::{Cluster, ClusterConfig};
use crate::control::listener::StreamListener;
use crate::control::service::Service;
use crate::control::state::Control;
use crate::http::RouterState;
use crate::http::dashboard::DashboardHistory;
use crate::http::home::IngestAddresses;
use crate::inputs::rtmp::RtmpSettings;
use crate::net::signal::wait_for_signal;
use crate::net::tls::{TlsFiles, install_crypto_provider, load_tls};
use crate::outputs::MediaOutputs;
use crate::outputs::hls::{HlsOutput, HlsSettings};
use crate::outputs::packager::{PackagerSettings, Packagers};
use crate::outputs::recording::{RecordingSettings, Recordings};
use crate::outputs::thumbnails::{ThumbnailSettings, Thumbnails};

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
    /// RTMP and RTMPS ingest.
    pub rtmp: RtmpSettings,
    /// HLS and LL-HLS out (its segment and part targets also cut
    /// recordings).
    pub hls: HlsSettings,
    /// Recording to disk (off without a dir).
    pub recording: RecordingSettings,
    /// JPEG thumbnails of every live stream.
    pub thumbnails: ThumbnailSettings,
    /// Membership of a cluster; `None` for a single node (its orchestrator
    /// is then embedded: it holds every stream itself).
    pub cluster: Option<ClusterConfig>,
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
            max_body_bytes: crate::http::MAX_BODY_BYTES,
            http_header_timeout: crate::net::server::HEADER_TIMEOUT,
            tls: None,
            rtmp: RtmpSettings::default(),
            hls: HlsSettings::default(),
            recording: RecordingSettings::default(),
            thumbnails: ThumbnailSettings::default(),
            cluster: None,
        }
    }
}

/// Who this node is in the registry: as configured, else its public IP
/// and HTTP port, reached over `scheme`.
fn identity(config: &NodeConfig, http_port: u16, scheme: &str) -> Identity {
    let public = SocketAddr::new(config.engine.public_ip, http_port);
    let settings = config.cluster.as_ref();
    Identity {
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
    }
}

/// A running node. Dropping it without [`stop`](Self::stop) leaks its threads.
pub struct Node {
    runtime: tokio::runtime::Runtime,
    engine: Engine,
    control: Arc<Control>,
    cluster: Option<Arc<Cluster>>,
    http_addr: SocketAddr,
    ftl_addr: SocketAddr,
    rtmp_addrs: (Option<SocketAddr>, Option<SocketAddr>),
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
        install_crypto_provider();
        // Checked before anything starts: a bad certificate is a start-up error.
        let rustls_config = match &config.tls {
            Some(tls) => Some(load_tls(&runtime, tls)?),
            None => None,
        };
        let engine = Engine::start(config.engine.clone())?;
        let (http_listener, ftl_listener) = runtime.block_on(async {
            let http = bind_http(config.http)?;
            let ftl = tokio::net::TcpListener::bind(config.ftl).await?;
            Ok::<_, io::Error>((http, ftl))
        })?;
        let http_addr = http_listener.local_addr()?;
        let ftl_addr = ftl_listener.local_addr()?;
        let rtmp_listeners = crate::inputs::rtmp::bind(&runtime, &config.rtmp)?;
        let rtmp_addrs = (rtmp_listeners.plain_addr(), rtmp_listeners.tls_addr());
        let scheme = if config.tls.is_some() {
            "https"
        } else {
            "http"
        };
        let local = Arc::new(LocalNode::new(identity(&config, http_addr.port(), scheme)));
        let cluster = match &config.cluster {
            Some(settings) => Some(Arc::new(Cluster::new(
                settings,
                Arc::clone(&local),
                engine.handle(),
            )?)),
            None => None,
        };
        let control = Arc::new(Control::new(
            engine.handle(),
            config.service.clone(),
            config.whip_takeover,
            runtime.handle().clone(),
            cluster.as_ref().map(|cluster| cluster.url().to_owned()),
            cluster
                .clone()
                .map(|cluster| cluster as Arc<dyn StreamListener>),
        )?);
        let packagers = Packagers::new(PackagerSettings {
            segment_target: config.hls.segment_target,
            part_target: config.hls.part_target,
        });
        let outputs = Arc::new(MediaOutputs {
            hls: runtime.block_on(async {
                HlsOutput::new(Arc::clone(&control), Arc::clone(&packagers), config.hls)
            }),
            recordings: Recordings::start(
                Arc::clone(&control),
                Arc::clone(&packagers),
                config.recording.clone(),
                runtime.handle(),
            ),
            thumbnails: Thumbnails::start(
                Arc::clone(&control),
                config.thumbnails,
                runtime.handle(),
            ),
            packagers,
        });
        let router = crate::http::router(
            RouterState {
                control: Arc::clone(&control),
                outputs,
                local,
                cluster: cluster.clone(),
                ingest: IngestAddresses {
                    ftl: ftl_addr,
                    rtmp: rtmp_addrs.0,
                    rtmps: rtmp_addrs.1,
                    https: config.tls.is_some(),
                },
                dashboard: DashboardHistory::start(Arc::clone(&control), runtime.handle()),
            },
            config.max_body_bytes,
        );
        crate::net::server::spawn_server(
            runtime.handle(),
            http_listener.into_std()?,
            router,
            config.http_header_timeout,
            rustls_config,
        );
        runtime.spawn(crate::inputs::ftl::serve(
            ftl_listener,
            Arc::clone(&control),
            config.ftl_control.clone(),
        ));
        crate::inputs::rtmp::serve(
            runtime.handle(),
            rtmp_listeners,
            Arc::clone(&control),
            config.rtmp.clone(),
        );
        crate::control::heartbeat::spawn(&control, runtime.handle(), http_addr.to_string());
        if let (Some(cluster), Some(settings)) = (&cluster, &config.cluster) {
            tracing::info!(node = %cluster.id(), url = %cluster.url(), orchestrators = ?settings.orchestrators, "joining the cluster");
            cluster.spawn_heartbeats(runtime.handle(), settings.heartbeat);
        }
        crate::control::events::spawn(&control, engine.events())?;
        Ok(Self {
            runtime,
            engine,
            control,
            cluster,
            http_addr,
            ftl_addr,
            rtmp_addrs,
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

    /// The plain RTMP address actually bound, if on.
    pub fn rtmp_addr(&self) -> Option<SocketAddr> {
        self.rtmp_addrs.0
    }

    /// The RTMPS address actually bound, if on.
    pub fn rtmps_addr(&self) -> Option<SocketAddr> {
        self.rtmp_addrs.1
    }

    /// The engine's handle.
    pub fn engine(&self) -> EngineHandle {
        self.control.engine.clone()
    }

    /// The service in use.
    pub fn service(&self) -> &Service {
        self.control.service.service()
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
        self.control.ftl.begin_shutdown();
        let control = Arc::clone(&self.control);
        let cluster = self.cluster.clone();
        self.runtime.block_on(async move {
            let deadline = tokio::time::Instant::now() + SHUTDOWN_GRACE;
            while control.ftl.open() > 0 && tokio::time::Instant::now() < deadline {
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
            // The service hears that every stream ended.
            let _ = tokio::time::timeout_at(deadline, control.all_streams_stopped()).await;
            // The orchestrators forget this node and its streams at once.
            if let Some(cluster) = &cluster {
                let _ = tokio::time::timeout_at(deadline, cluster.leave()).await;
            }
        });
        self.runtime.shutdown_background();
        self.engine.shutdown();
    }
}

/// Pending connections the HTTP listener queues: a thousand HLS players
/// (re)connecting at once are queued, not dropped as SYNs (tokio's default
/// is 128).
const HTTP_BACKLOG: u32 = 4096;

/// The HTTP listener, with [`HTTP_BACKLOG`].
fn bind_http(address: SocketAddr) -> io::Result<tokio::net::TcpListener> {
    let socket = if address.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(address)?;
    socket.listen(HTTP_BACKLOG)
}
