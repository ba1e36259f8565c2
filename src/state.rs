//! AppState: what the control runtime's tasks share: the engine handle, the
//! service, the WHIP and WHEP resources, and which FTL connection waits to
//! hear that its stream ended.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use engine::{EngineEvent, EngineHandle, PeerId};
use ftl::StatusCode;
use parking_lot::Mutex;
use tokio::sync::oneshot;

use serde_json::json;

use crate::cluster::Cluster;
use crate::cluster::local::LocalNode;
use crate::service::{Service, ServiceClient};

/// Shared by the HTTP handlers and the FTL connections.
pub struct AppState {
    /// The data plane.
    pub engine: EngineHandle,
    /// Who may stream, and who hears about streams.
    pub service: ServiceClient,
    /// Runs the service calls made from outside the runtime.
    runtime: tokio::runtime::Handle,
    /// This node as the registry sees it (served on `/v1/` by a single node).
    pub local: Arc<LocalNode>,
    /// This node's cluster membership, if it is in one.
    pub cluster: Option<Arc<Cluster>>,
    /// What the service is told about each live stream, by stream id.
    started: Mutex<HashMap<u64, StartedStream>>,
    /// Limits of every FTL control session.
    pub ftl_control: ftl::ServerConfig,
    /// Whether a WHIP publisher may replace a live stream (else `409`).
    pub whip_takeover: bool,
    resources: Mutex<Resources>,
    /// FTL connections waiting to be told their stream ended, by stream id.
    ftl_endings: Mutex<HashMap<u64, oneshot::Sender<StatusCode>>>,
    /// Set once when the node stops; every FTL connection then sends 410.
    shutdown: tokio::sync::watch::Sender<bool>,
    /// FTL control connections open now.
    ftl_connections: AtomicUsize,
}

/// Which route family a resource id belongs to: a WHEP id is no WHIP id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ResourceKind {
    /// `/whep/resource/{id}`: a viewer.
    Whep,
    /// `/whip/resource/{id}`: a publisher.
    Whip,
}

/// A stream the service was told about.
#[derive(Debug, Clone)]
struct StartedStream {
    channel: String,
    ingest: &'static str,
    vendor_name: Option<String>,
    vendor_version: Option<String>,
    since: std::time::Instant,
    last_bytes: u64,
    failed_heartbeats: u32,
}

#[derive(Default)]
struct Resources {
    by_id: HashMap<(ResourceKind, String), PeerId>,
    by_peer: HashMap<PeerId, (ResourceKind, String)>,
}

impl AppState {
    /// State around an engine.
    pub fn new(
        engine: EngineHandle,
        service: Service,
        ftl_control: ftl::ServerConfig,
        whip_takeover: bool,
        runtime: tokio::runtime::Handle,
        local: Arc<LocalNode>,
        cluster: Option<Arc<Cluster>>,
    ) -> std::io::Result<Self> {
        Ok(Self {
            engine,
            service: ServiceClient::new(service)?,
            runtime,
            local,
            cluster,
            started: Mutex::new(HashMap::new()),
            ftl_control,
            whip_takeover,
            resources: Mutex::new(Resources::default()),
            ftl_endings: Mutex::new(HashMap::new()),
            shutdown: tokio::sync::watch::Sender::new(false),
            ftl_connections: AtomicUsize::new(0),
        })
    }

    /// Registers a peer under a new unguessable resource id (128 random bits).
    pub fn add_resource(&self, kind: ResourceKind, peer: PeerId) -> Option<String> {
        let mut bytes = [0u8; 16];
        getrandom::fill(&mut bytes).ok()?;
        let id: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        let mut resources = self.resources.lock();
        resources.by_id.insert((kind, id.clone()), peer);
        resources.by_peer.insert(peer, (kind, id.clone()));
        Some(id)
    }

    /// The `Location` of a new resource: relative on a single node,
    /// absolute in a cluster (see [`Cluster::resource_url`]).
    pub fn resource_location(&self, kind: ResourceKind, id: &str) -> String {
        let kind = match kind {
            ResourceKind::Whep => "whep",
            ResourceKind::Whip => "whip",
        };
        match &self.cluster {
            Some(cluster) => cluster.resource_url(kind, id),
            None => format!("/{kind}/resource/{id}"),
        }
    }

    /// The peer behind a resource id.
    pub fn resource(&self, kind: ResourceKind, id: &str) -> Option<PeerId> {
        self.resources
            .lock()
            .by_id
            .get(&(kind, id.to_owned()))
            .copied()
    }

    /// Forgets a resource; returns its peer.
    pub fn remove_resource(&self, kind: ResourceKind, id: &str) -> Option<PeerId> {
        let mut resources = self.resources.lock();
        let peer = resources.by_id.remove(&(kind, id.to_owned()))?;
        resources.by_peer.remove(&peer);
        Some(peer)
    }

    fn forget_peer(&self, peer: PeerId) {
        let mut resources = self.resources.lock();
        if let Some(key) = resources.by_peer.remove(&peer) {
            resources.by_id.remove(&key);
        }
    }

    /// A receiver that fires with the code to send when `stream_id` ends
    /// from outside its connection (media timeout: 408; takeover: 410).
    pub fn watch_stream_end(&self, stream_id: u64) -> oneshot::Receiver<StatusCode> {
        let (sender, receiver) = oneshot::channel();
        self.ftl_endings.lock().insert(stream_id, sender);
        receiver
    }

    /// Stops watching a stream's end.
    pub fn forget_stream_end(&self, stream_id: u64) {
        self.ftl_endings.lock().remove(&stream_id);
    }

    /// A receiver that changes when the node begins to stop.
    pub fn shutdown_signal(&self) -> tokio::sync::watch::Receiver<bool> {
        self.shutdown.subscribe()
    }

    /// Tells every connection the node is stopping.
    pub fn begin_shutdown(&self) {
        self.shutdown.send_replace(true);
    }

    /// Counts an FTL connection in (`opened`) or out; returns how many are open.
    pub fn count_ftl_connection(&self, opened: bool) -> usize {
        if opened {
            self.ftl_connections.fetch_add(1, Ordering::AcqRel) + 1
        } else {
            self.ftl_connections.fetch_sub(1, Ordering::AcqRel) - 1
        }
    }

    /// FTL control connections open now.
    pub fn ftl_connections(&self) -> usize {
        self.ftl_connections.load(Ordering::Acquire)
    }

    /// Tells the connection of `stream_id` that its stream ended, with `status`.
    pub fn end_stream(&self, stream_id: u64, status: StatusCode) {
        if let Some(sender) = self.ftl_endings.lock().remove(&stream_id) {
            let _ = sender.send(status);
        }
    }

    /// Tells the service a stream started.
    pub fn stream_started(
        &self,
        stream_id: u64,
        channel: &str,
        ingest: &'static str,
        vendor: (Option<String>, Option<String>),
    ) {
        let started = StartedStream {
            channel: channel.to_owned(),
            ingest,
            vendor_name: vendor.0,
            vendor_version: vendor.1,
            since: std::time::Instant::now(),
            last_bytes: 0,
            failed_heartbeats: 0,
        };
        let event = json!({
            "event": "stream_started",
            "channel": channel,
            "stream_id": stream_id,
            "ingest": ingest,
            "vendor_name": started.vendor_name,
            "vendor_version": started.vendor_version,
        });
        self.started.lock().insert(stream_id, started);
        self.notify(event);
        if let Some(cluster) = &self.cluster {
            let cluster = Arc::clone(cluster);
            let channel = channel.to_owned();
            self.runtime
                .spawn(async move { cluster.stream_started(&channel).await });
        }
    }

    /// Tells the service a stream stopped (once, however it stopped).
    pub fn stream_stopped(&self, stream_id: u64) {
        let stopped = self.started.lock().remove(&stream_id);
        if let Some(stopped) = stopped {
            self.notify(stopped_event(stream_id, &stopped));
            if let Some(cluster) = &self.cluster {
                let cluster = Arc::clone(cluster);
                let engine = self.engine.clone();
                self.runtime.spawn(async move {
                    cluster.stream_stopped(&engine, &stopped.channel).await;
                });
            }
        }
    }

    /// Tells the service every live stream stopped, waiting for the calls.
    pub async fn all_streams_stopped(&self) {
        let stopped: Vec<(u64, StartedStream)> = self.started.lock().drain().collect();
        for (stream_id, stopped) in stopped {
            self.service
                .notify(&stopped_event(stream_id, &stopped))
                .await;
        }
    }

    fn notify(&self, event: serde_json::Value) {
        if self.service.webhook().is_some() {
            let service = self.service.clone();
            self.runtime.spawn(async move {
                service.notify(&event).await;
            });
        }
    }

    /// One round of metadata heartbeats: each live stream's figures go to the
    /// service; a stream whose heartbeats keep failing is stopped.
    pub async fn heartbeat(
        &self,
        ingest_server: &str,
        interval: std::time::Duration,
        max_failures: u32,
    ) {
        for info in self.engine.stream_infos() {
            let stream = &info.stream;
            let stats = stream.stats();
            let started = self.started.lock().get(&stream.id()).cloned();
            let Some(started) = started else {
                continue;
            };
            let bits = stats.bytes_in.saturating_sub(started.last_bytes) * 8;
            let bitrate = bits * 1000 / (interval.as_millis() as u64).max(1);
            let sps = stream.sps();
            let event = json!({
                "event": "metadata",
                "channel": stream.channel(),
                "stream_id": stream.id(),
                "ingest": info.ingest.as_str(),
                "ingest_server": ingest_server,
                "video_codec": stream.ring(engine::TrackKind::Video).map(|_| "H264"),
                "audio_codec": stream.ring(engine::TrackKind::Audio).map(|_| "OPUS"),
                "video_width": sps.map(|s| s.width),
                "video_height": sps.map(|s| s.height),
                "viewers": stream.viewers(),
                "packets_received": stats.packets_in,
                "packets_lost": stats.lost,
                "packets_nacked": stats.nacked,
                "source_bitrate": bitrate,
                "uptime_seconds": started.since.elapsed().as_secs(),
                "vendor_name": started.vendor_name,
                "vendor_version": started.vendor_version,
            });
            let delivered = self.service.notify(&event).await;
            let failures = if delivered {
                0
            } else {
                started.failed_heartbeats + 1
            };
            if let Some(entry) = self.started.lock().get_mut(&stream.id()) {
                entry.last_bytes = stats.bytes_in;
                entry.failed_heartbeats = failures;
            }
            if failures >= max_failures {
                tracing::warn!(channel = %stream.channel(), "service heartbeats keep failing; stopping the stream");
                self.engine.remove_stream(stream.channel(), stream.id());
                self.end_stream(stream.id(), StatusCode::ServerTerminate);
                self.stream_stopped(stream.id());
            }
        }
    }

    /// Acts on an engine event.
    pub fn on_engine_event(&self, event: EngineEvent) {
        match event {
            EngineEvent::ViewerClosed(viewer) => {
                self.forget_peer(viewer);
                tracing::debug!(%viewer, "viewer closed");
            }
            EngineEvent::PublisherClosed {
                id,
                channel,
                stream_id,
            } => {
                self.forget_peer(id);
                self.engine.remove_stream(&channel, stream_id);
                self.stream_stopped(stream_id);
                tracing::info!(%channel, publisher = %id, "WHIP publisher gone; stream ended");
            }
            EngineEvent::RelayClosed {
                id,
                channel,
                stream_id,
            } => {
                self.engine.remove_stream(&channel, stream_id);
                tracing::info!(%channel, relay = %id, "relay closed");
                if let Some(cluster) = &self.cluster {
                    let cluster = Arc::clone(cluster);
                    let engine = self.engine.clone();
                    self.runtime.spawn(async move {
                        cluster.relay_closed(&engine, &channel, stream_id).await;
                    });
                }
            }
            EngineEvent::ViewerConnected(viewer) => tracing::debug!(%viewer, "viewer connected"),
            EngineEvent::FtlMediaTimeout { channel, stream_id } => {
                tracing::info!(%channel, "FTL media timed out");
                self.end_stream(stream_id, StatusCode::NoMediaTimeout);
            }
        }
    }
}

fn stopped_event(stream_id: u64, stopped: &StartedStream) -> serde_json::Value {
    json!({
        "event": "stream_stopped",
        "channel": stopped.channel,
        "stream_id": stream_id,
        "ingest": stopped.ingest,
        "uptime_seconds": stopped.since.elapsed().as_secs(),
    })
}
