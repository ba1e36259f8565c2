//! Cluster membership, node side: who this node is, its heartbeats and
//! stream reports to the orchestrators, and the edge relays it opens for
//! streams it does not hold. Absent on a single node.

pub mod client;
pub mod local;
mod relay;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use engine::EngineHandle;
use parking_lot::Mutex;

use self::client::{OrchestratorClient, path};
use self::local::LocalNode;
use crate::orchestrator::records::StreamStop;

/// The header a relay's WHEP request carries: the node ids it came
/// through, so that a node that sees itself in it refuses (a loop).
pub const RELAY_VIA_HEADER: &str = "x-waveguide-relay-via";

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
    client: Arc<OrchestratorClient>,
    /// Calls to upstream nodes (relay WHEP sessions).
    upstream: reqwest::Client,
    secret: String,
    /// Relay set-ups in flight, by channel: one per channel at a time.
    opening: Mutex<HashMap<String, relay::Setup>>,
}

impl Cluster {
    /// Membership of `local` as `config` says; fails if `ca_file` cannot
    /// be read.
    pub fn new(config: &ClusterConfig, local: Arc<LocalNode>) -> std::io::Result<Self> {
        let http = client::bounded_client(config.timeout, config.ca_file.as_deref())?;
        Ok(Self {
            local,
            client: Arc::new(OrchestratorClient::new(
                http.clone(),
                config.orchestrators.clone(),
                config.secret.clone(),
            )),
            upstream: http,
            secret: config.secret.clone(),
            opening: Mutex::new(HashMap::new()),
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

    /// Where a resource made here is: an absolute URL, because WHIP and
    /// WHEP clients sent here by an orchestrator's redirect resolve a
    /// relative `Location` differently (GStreamer against the URL it was
    /// configured with, OBS by replacing the path of the redirected one).
    pub fn resource_url(&self, kind: &str, id: &str) -> String {
        format!("{}/{kind}/resource/{id}", self.url())
    }

    /// Whether `token` is the cluster secret (a relay from another node).
    pub fn is_secret(&self, token: &str) -> bool {
        crate::http::headers::constant_time_eq(token.as_bytes(), self.secret.as_bytes())
    }

    /// Tells the orchestrators a stream published here started.
    pub async fn stream_started(&self, channel: &str) {
        let report = self
            .local
            .stream_report(true, vec![self.id().to_owned()], 0);
        if let Err(error) = self
            .client
            .post(&path(&["v1", "streams", channel, "start"]), &report)
            .await
        {
            tracing::warn!(%channel, %error, "could not report the stream's start");
        }
    }

    /// Tells the orchestrators this node's copy of `channel` ended, unless a
    /// new stream is already live on it.
    pub async fn stream_stopped(&self, engine: &EngineHandle, channel: &str) {
        if engine.stream(channel).is_some() {
            return;
        }
        let stop = StreamStop {
            node: self.id().to_owned(),
        };
        if let Err(error) = self
            .client
            .post(&path(&["v1", "streams", channel, "stop"]), &stop)
            .await
        {
            tracing::warn!(%channel, %error, "could not report the stream's end");
        }
    }

    /// One round of reports: the node's load, then each live stream, all
    /// at once (each call is bounded by the client's timeout).
    pub async fn heartbeat(&self, engine: &EngineHandle) {
        let local = Arc::clone(&self.local);
        let reading = engine.clone();
        // Reading the workers' counters waits on them: not on the runtime.
        let Ok((report, records)) = tokio::task::spawn_blocking(move || {
            (local.node_report(&reading), local.stream_records(&reading))
        })
        .await
        else {
            return;
        };
        if let Err(error) = self
            .client
            .post(&path(&["v1", "nodes", self.id(), "heartbeat"]), &report)
            .await
        {
            tracing::warn!(%error, "node heartbeat failed");
            return;
        }
        let mut calls = tokio::task::JoinSet::new();
        for record in records {
            let client = Arc::clone(&self.client);
            calls.spawn(async move {
                let channel = &record.channel;
                let posted = client
                    .post(
                        &path(&["v1", "streams", channel, "heartbeat"]),
                        &record.report,
                    )
                    .await;
                if let Err(error) = posted {
                    tracing::warn!(%channel, %error, "stream heartbeat failed");
                }
            });
        }
        while calls.join_next().await.is_some() {}
    }

    /// Tells the orchestrators this node leaves (on a clean stop).
    pub async fn leave(&self) {
        if let Err(error) = self.client.delete(&path(&["v1", "nodes", self.id()])).await {
            tracing::warn!(%error, "could not leave the cluster");
        }
    }
}
