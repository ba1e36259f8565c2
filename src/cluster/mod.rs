//! Cluster membership, node side: who this node is, its heartbeats and
//! stream reports to the orchestrators, and the edge relays it opens for
//! streams it does not hold. Absent on a single node.

pub mod client;
mod relay;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use engine::{EngineHandle, Ingest};
use parking_lot::Mutex;

use self::client::{OrchestratorClient, path};
use crate::orchestrator::records::{NodeReport, StreamReport, StreamStop};

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
}

/// A relay this node runs: where its stream came from.
struct RelayEntry {
    stream_id: u64,
    /// Node ids from the origin to this node.
    path: Vec<String>,
    /// The WHEP resource on the upstream node, deleted when the relay ends.
    upstream_resource: Option<String>,
}

/// This node's membership.
pub struct Cluster {
    client: OrchestratorClient,
    /// Calls to upstream nodes (relay WHEP sessions).
    upstream: reqwest::Client,
    id: String,
    url: String,
    region: String,
    capacity: u64,
    secret: String,
    relays: Mutex<HashMap<String, RelayEntry>>,
    /// One relay set-up at a time per channel.
    opening: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    cpu: Mutex<CpuSample>,
}

impl Cluster {
    /// Membership from `config`; `default_id` and `default_url` stand in
    /// for an unset id and URL.
    pub fn new(config: &ClusterConfig, default_id: String, default_url: String) -> Self {
        Self {
            client: OrchestratorClient::new(
                config.orchestrators.clone(),
                config.secret.clone(),
                config.timeout,
            ),
            upstream: reqwest::Client::builder()
                .timeout(config.timeout)
                .connect_timeout(config.timeout)
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap_or_default(),
            id: config.node_id.clone().unwrap_or(default_id),
            url: config
                .public_url
                .clone()
                .unwrap_or(default_url)
                .trim_end_matches('/')
                .to_owned(),
            region: config.region.clone(),
            capacity: config.capacity,
            secret: config.secret.clone(),
            relays: Mutex::new(HashMap::new()),
            opening: Mutex::new(HashMap::new()),
            cpu: Mutex::new(CpuSample::now()),
        }
    }

    /// This node's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// This node's public HTTP base URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Where a resource made here is: an absolute URL, because WHIP and
    /// WHEP clients sent here by an orchestrator's redirect resolve a
    /// relative `Location` differently (GStreamer against the URL it was
    /// configured with, OBS by replacing the path of the redirected one).
    pub fn resource_url(&self, kind: &str, id: &str) -> String {
        format!("{}/{kind}/resource/{id}", self.url)
    }

    /// Whether `token` is the cluster secret (a relay from another node).
    pub fn is_secret(&self, token: &str) -> bool {
        crate::http::headers::constant_time_eq(token.as_bytes(), self.secret.as_bytes())
    }

    /// The path a stream of this node reports: itself for a stream published
    /// here, the relay's path for a relayed one.
    fn stream_path(&self, channel: &str, ingest: Ingest) -> Vec<String> {
        match ingest {
            Ingest::Relay => self
                .relays
                .lock()
                .get(channel)
                .map(|relay| relay.path.clone())
                .unwrap_or_else(|| vec![self.id.clone()]),
            Ingest::Ftl | Ingest::Whip => vec![self.id.clone()],
        }
    }

    fn stream_report(&self, origin: bool, path: Vec<String>, viewers: u64) -> StreamReport {
        StreamReport {
            node: self.id.clone(),
            url: self.url.clone(),
            region: self.region.clone(),
            origin,
            path,
            viewers,
        }
    }

    /// Tells the orchestrators a stream published here started.
    pub async fn stream_started(&self, channel: &str) {
        let report = self.stream_report(true, vec![self.id.clone()], 0);
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
            node: self.id.clone(),
        };
        if let Err(error) = self
            .client
            .post(&path(&["v1", "streams", channel, "stop"]), &stop)
            .await
        {
            tracing::warn!(%channel, %error, "could not report the stream's end");
        }
    }

    /// One round of reports: the node's load, then each live stream.
    pub async fn heartbeat(&self, engine: &EngineHandle, interval: Duration) {
        let infos = engine.stream_infos();
        let viewers: usize = infos.iter().map(|info| info.stream.viewers()).sum();
        let sent_bytes: u64 = engine
            .stats(Duration::from_millis(500))
            .iter()
            .map(|worker| worker.send.bytes)
            .sum();
        let (egress_bps, cpu) = self.cpu.lock().advance(sent_bytes, interval);
        let report = NodeReport {
            id: self.id.clone(),
            region: self.region.clone(),
            url: self.url.clone(),
            capacity: self.capacity,
            streams: infos.len() as u64,
            viewers: viewers as u64,
            egress_bps,
            cpu,
        };
        if let Err(error) = self
            .client
            .post(&path(&["v1", "nodes", &self.id, "heartbeat"]), &report)
            .await
        {
            tracing::warn!(%error, "node heartbeat failed");
            return;
        }
        for info in infos {
            let channel = info.stream.channel();
            let origin = info.ingest != Ingest::Relay;
            let report = self.stream_report(
                origin,
                self.stream_path(channel, info.ingest),
                info.stream.viewers() as u64,
            );
            if let Err(error) = self
                .client
                .post(&path(&["v1", "streams", channel, "heartbeat"]), &report)
                .await
            {
                tracing::warn!(%channel, %error, "stream heartbeat failed");
            }
        }
    }

    /// Tells the orchestrators this node leaves (on a clean stop).
    pub async fn leave(&self) {
        if let Err(error) = self.client.delete(&path(&["v1", "nodes", &self.id])).await {
            tracing::warn!(%error, "could not leave the cluster");
        }
    }
}

/// Bytes sent and CPU time at the last report, to turn totals into rates.
struct CpuSample {
    at: Instant,
    sent_bytes: u64,
    cpu_ticks: u64,
}

impl CpuSample {
    fn now() -> Self {
        Self {
            at: Instant::now(),
            sent_bytes: 0,
            cpu_ticks: process_cpu_ticks(),
        }
    }

    /// Egress bits per second and CPU cores used since the last sample.
    fn advance(&mut self, sent_bytes: u64, fallback: Duration) -> (u64, f64) {
        let now = Instant::now();
        let elapsed = now.saturating_duration_since(self.at);
        let seconds = if elapsed.is_zero() { fallback } else { elapsed }.as_secs_f64();
        let ticks = process_cpu_ticks();
        let bps = (sent_bytes.saturating_sub(self.sent_bytes) as f64 * 8.0 / seconds) as u64;
        // Linux reports CPU time in clock ticks of 1/100 s.
        let cpu = ticks.saturating_sub(self.cpu_ticks) as f64 / 100.0 / seconds;
        *self = Self {
            at: now,
            sent_bytes,
            cpu_ticks: ticks,
        };
        (bps, cpu)
    }
}

/// This process's user + system CPU time in clock ticks (0 if unknown).
fn process_cpu_ticks() -> u64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0;
    };
    // Fields after the command name (which may hold spaces) start at state.
    let Some((_, rest)) = stat.rsplit_once(')') else {
        return 0;
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let tick = |index: usize| {
        fields
            .get(index)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // utime and stime are fields 14 and 15 of stat(5); here 11 and 12.
    tick(11) + tick(12)
}
