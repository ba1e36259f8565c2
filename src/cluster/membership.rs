//! Cluster: this node's membership, as configured: its reports to the
//! orchestrators and its relays, and what control's stream lifecycle tells
//! them (the node wires it in as control's listener).

use std::sync::Arc;
use std::time::Duration;

use engine::EngineHandle;

use super::client::OrchestratorClient;
use super::local::LocalNode;
use super::relay::Relays;
use super::relay_error::RelayError;
use super::reports::Reporter;
use super::upstream::Upstream;
use crate::control::listener::{ListenerTask, StreamListener};

/// How a node takes part in a cluster.
#[derive(Debug, Clone)]
pub struct ClusterConfig {
    /// The orchestrators' base URLs, tried in turn.
    pub orchestrators: Vec<String>,
    /// The secret shared with the orchestrators and the other nodes.
    pub secret: String,
    /// This node's id; by default its public IP and HTTP port.
    pub node_id: Option<String>,
    /// This node's region.
    pub region: String,
    /// This node's public HTTP base URL; by default from its public IP and
    /// HTTP port.
    pub public_url: Option<String>,
    /// Most viewers it announces it takes.
    pub capacity: u64,
    /// How often it reports.
    pub heartbeat: Duration,
    /// Longest wait for one orchestrator or upstream call.
    pub timeout: Duration,
    /// More certificate authorities (PEM) to trust for `https://`
    /// orchestrators and nodes, besides the system's.
    pub ca_file: Option<std::path::PathBuf>,
}

/// This node's membership.
pub struct Cluster {
    local: Arc<LocalNode>,
    reports: Reporter,
    relays: Arc<Relays>,
}

impl Cluster {
    /// Membership of `local`, whose streams are `engine`'s, as `config`
    /// says; fails if `ca_file` cannot be read.
    pub fn new(
        config: &ClusterConfig,
        local: Arc<LocalNode>,
        engine: EngineHandle,
    ) -> std::io::Result<Self> {
        let http = crate::net::client::bounded_client(config.timeout, config.ca_file.as_deref())?;
        let client = Arc::new(OrchestratorClient::new(
            http.clone(),
            config.orchestrators.clone(),
            config.secret.clone(),
        ));
        Ok(Self {
            reports: Reporter::new(Arc::clone(&client), Arc::clone(&local), engine.clone()),
            relays: Arc::new(Relays::new(
                client,
                Arc::clone(&local),
                engine,
                Upstream::new(http, config.secret.clone()),
            )),
            local,
        })
    }

    /// This node's id.
    pub fn id(&self) -> &str {
        &self.local.identity().id
    }

    /// This node's public HTTP base URL.
    pub fn url(&self) -> &str {
        &self.local.identity().url
    }

    /// Reports this node and its streams every `interval`, on `runtime`.
    pub fn spawn_heartbeats(
        self: &Arc<Self>,
        runtime: &tokio::runtime::Handle,
        interval: Duration,
    ) {
        let cluster = Arc::clone(self);
        runtime.spawn(async move {
            let mut ticks = tokio::time::interval(interval);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                cluster.reports.heartbeat().await;
            }
        });
    }

    /// Tells the orchestrators this node leaves (on a clean stop).
    pub async fn leave(&self) {
        self.reports.leave().await;
    }

    /// The nodes a WHEP request came through (see [`Relays::relay_chain`]).
    pub fn relay_chain(&self, token: Option<&str>, via: Option<&str>) -> Vec<String> {
        self.relays.relay_chain(token, via)
    }

    /// Makes sure `channel` is live here before a viewer joins, relaying it
    /// from another node if need be (see [`Relays::ensure`]).
    pub async fn ensure_relay(&self, channel: &str, via: &[String]) -> Result<(), RelayError> {
        self.relays.ensure(channel, via).await
    }
}

impl StreamListener for Cluster {
    fn stream_started(self: Arc<Self>, channel: String) -> ListenerTask {
        Box::pin(async move { self.reports.stream_started(&channel).await })
    }

    fn stream_stopped(self: Arc<Self>, channel: String) -> ListenerTask {
        Box::pin(async move { self.reports.stream_stopped(&channel).await })
    }

    /// The upstream session is deleted, and the orchestrators hear that
    /// this copy is gone.
    fn relay_closed(self: Arc<Self>, channel: String, stream_id: u64) -> ListenerTask {
        Box::pin(async move {
            self.relays.closed(&channel, stream_id).await;
            self.reports.stream_stopped(&channel).await;
        })
    }
}
