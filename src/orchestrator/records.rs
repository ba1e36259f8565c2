//! What nodes tell the orchestrator and what it keeps: a node's report
//! (where it is, how to reach it, how loaded it is) and a stream's (which
//! node holds a channel, and through which relays it came). Shared by the
//! orchestrator and the nodes' client, as JSON.

use serde::{Deserialize, Serialize};

/// A node's registration and heartbeat: `POST /v1/nodes/{id}/heartbeat`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeReport {
    /// The node's id, unique in the cluster.
    pub id: String,
    /// Its region; publishers and viewers are sent to their own region first.
    pub region: String,
    /// Its public HTTP base URL (`http://host:port`), where redirects point.
    pub url: String,
    /// Most viewers it takes.
    pub capacity: u64,
    /// Live streams it holds (published or relayed).
    pub streams: u64,
    /// Viewers it serves.
    pub viewers: u64,
    /// Bits per second it sends to viewers.
    pub egress_bps: u64,
    /// Its process's CPU use since the last report, in cores (1.0 = one core busy).
    pub cpu: f64,
}

/// A node's report about one of its streams: `POST
/// /v1/streams/{channel}/start` and `/heartbeat`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StreamReport {
    /// The node that holds the stream.
    pub node: String,
    /// That node's public HTTP base URL.
    pub url: String,
    /// That node's region.
    #[serde(default)]
    pub region: String,
    /// Whether the stream is published there (else it is relayed).
    pub origin: bool,
    /// The node ids the stream passed through, origin first, this node last.
    pub path: Vec<String>,
    /// Its viewers on that node.
    pub viewers: u64,
}

/// `POST /v1/streams/{channel}/stop`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StreamStop {
    /// The node whose copy of the stream ended.
    pub node: String,
}

/// A stream as the registry holds it: `GET /v1/streams`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StreamRecord {
    /// The channel.
    pub channel: String,
    /// The node's report.
    #[serde(flatten)]
    pub report: StreamReport,
}

impl NodeReport {
    /// Viewers over capacity, the load placement compares (full is 1.0).
    pub fn load(&self) -> f64 {
        if self.capacity == 0 {
            return f64::INFINITY;
        }
        self.viewers as f64 / self.capacity as f64
    }

    /// Whether one more viewer fits.
    pub fn has_room(&self) -> bool {
        self.viewers < self.capacity
    }
}

/// Records for unit tests.
#[cfg(test)]
pub(crate) mod samples {
    use super::*;

    /// A node at `http://{id}`.
    pub fn node(id: &str, region: &str, viewers: u64, capacity: u64) -> NodeReport {
        NodeReport {
            id: id.into(),
            region: region.into(),
            url: format!("http://{id}"),
            capacity,
            streams: 0,
            viewers,
            egress_bps: 0,
            cpu: 0.0,
        }
    }

    /// `channel` held by `node`, which got it through `path` (an origin
    /// when the path is `node` alone).
    pub fn held(channel: &str, node: &str, path: &[&str]) -> StreamRecord {
        StreamRecord {
            channel: channel.into(),
            report: StreamReport {
                node: node.into(),
                url: format!("http://{node}"),
                region: String::new(),
                origin: path.len() == 1,
                path: path.iter().map(|s| (*s).to_owned()).collect(),
                viewers: 0,
            },
        }
    }
}
