//! LocalNode: this node as the registry sees it: its identity, its load and
//! its streams, with the relay path of each relayed one. A cluster member
//! sends these to its orchestrators; a single node serves them itself on
//! `GET /v1/nodes` and `GET /v1/streams` (its embedded orchestrator, whose
//! registry is the engine's own list of live streams).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use engine::{EngineHandle, Ingest};
use parking_lot::Mutex;

use crate::orchestrator::records::{NodeReport, StreamRecord, StreamReport};

/// Who this node is in the registry.
#[derive(Debug, Clone)]
pub struct Identity {
    /// Its id.
    pub id: String,
    /// Its public HTTP base URL, without a trailing `/`.
    pub url: String,
    /// Its region.
    pub region: String,
    /// Most viewers it takes.
    pub capacity: u64,
}

/// A relay this node runs: where its stream came from.
pub(super) struct RelayEntry {
    pub stream_id: u64,
    /// Node ids from the origin to this node.
    pub path: Vec<String>,
    /// The WHEP resource on the upstream node, deleted when the relay ends.
    pub upstream_resource: Option<String>,
}

/// This node's own view.
pub struct LocalNode {
    identity: Identity,
    pub(super) relays: Mutex<HashMap<String, RelayEntry>>,
    load: Mutex<LoadSample>,
}

impl LocalNode {
    /// The view of the node `identity`.
    pub fn new(identity: Identity) -> Self {
        Self {
            identity,
            relays: Mutex::new(HashMap::new()),
            load: Mutex::new(LoadSample::now()),
        }
    }

    /// Its identity.
    pub fn identity(&self) -> &Identity {
        &self.identity
    }

    /// The node's report: its load since the last report.
    pub fn node_report(&self, engine: &EngineHandle) -> NodeReport {
        let infos = engine.stream_infos();
        let viewers: usize = infos.iter().map(|info| info.stream.viewers()).sum();
        let sent_bytes: u64 = engine
            .stats(Duration::from_millis(500))
            .iter()
            .map(|worker| worker.send.bytes)
            .sum();
        let (egress_bps, cpu) = self.load.lock().advance(sent_bytes);
        NodeReport {
            id: self.identity.id.clone(),
            region: self.identity.region.clone(),
            url: self.identity.url.clone(),
            capacity: self.identity.capacity,
            streams: infos.len() as u64,
            viewers: viewers as u64,
            egress_bps,
            cpu,
        }
    }

    /// Every live stream of this node, as the registry records it (a relay
    /// still being set up is not yet one: nobody should be sent to it).
    pub fn stream_records(&self, engine: &EngineHandle) -> Vec<StreamRecord> {
        let mut records: Vec<StreamRecord> = engine
            .stream_infos()
            .into_iter()
            .filter_map(|info| {
                let channel = info.stream.channel().to_owned();
                let origin = info.ingest != Ingest::Relay;
                let path = self.stream_path(&channel, info.ingest)?;
                Some(StreamRecord {
                    report: self.stream_report(origin, path, info.stream.viewers() as u64),
                    channel,
                })
            })
            .collect();
        records.sort_by(|a, b| a.channel.cmp(&b.channel));
        records
    }

    /// A report about one of this node's streams.
    pub fn stream_report(&self, origin: bool, path: Vec<String>, viewers: u64) -> StreamReport {
        StreamReport {
            node: self.identity.id.clone(),
            url: self.identity.url.clone(),
            region: self.identity.region.clone(),
            origin,
            path,
            viewers,
        }
    }

    /// The path a stream of this node reports: itself for a stream published
    /// here, the relay's path for a relayed one (none while it is set up).
    fn stream_path(&self, channel: &str, ingest: Ingest) -> Option<Vec<String>> {
        match ingest {
            Ingest::Relay => self
                .relays
                .lock()
                .get(channel)
                .map(|relay| relay.path.clone()),
            Ingest::Ftl | Ingest::Whip | Ingest::Rtmp => Some(vec![self.identity.id.clone()]),
        }
    }
}

/// Bytes sent and CPU time at the last sample, to turn totals into rates,
/// and the rates then found.
struct LoadSample {
    at: Instant,
    sent_bytes: u64,
    cpu_ticks: u64,
    rates: (u64, f64),
}

/// Samples closer together than this repeat the last rates (a `GET` right
/// after a heartbeat must not shorten the heartbeat's window to nothing).
const MIN_SAMPLE_WINDOW: Duration = Duration::from_secs(1);

impl LoadSample {
    fn now() -> Self {
        Self {
            at: Instant::now(),
            sent_bytes: 0,
            cpu_ticks: process_cpu_ticks(),
            rates: (0, 0.0),
        }
    }

    /// Egress bits per second and CPU cores used since the last sample.
    fn advance(&mut self, sent_bytes: u64) -> (u64, f64) {
        let now = Instant::now();
        let window = now.saturating_duration_since(self.at);
        if window < MIN_SAMPLE_WINDOW {
            return self.rates;
        }
        let seconds = window.as_secs_f64();
        let ticks = process_cpu_ticks();
        let bits = sent_bytes.saturating_sub(self.sent_bytes) as f64 * 8.0;
        // Linux counts CPU time in clock ticks of 1/100 s.
        let busy = ticks.saturating_sub(self.cpu_ticks) as f64 / 100.0;
        *self = Self {
            at: now,
            sent_bytes,
            cpu_ticks: ticks,
            rates: ((bits / seconds) as u64, busy / seconds),
        };
        self.rates
    }
}

/// This process's user + system CPU time in clock ticks (0 if unknown).
fn process_cpu_ticks() -> u64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0;
    };
    // The command name (field 2) may hold spaces; fields after it start
    // with the state (field 3).
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
    // utime and stime are fields 14 and 15 of proc_pid_stat(5).
    tick(14 - 3) + tick(15 - 3)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_time_is_read_from_proc() {
        let before = process_cpu_ticks();
        let mut spin = 0u64;
        let start = Instant::now();
        while start.elapsed() < Duration::from_millis(150) {
            spin = spin.wrapping_add(std::hint::black_box(1));
        }
        assert!(spin > 0);
        assert!(process_cpu_ticks() > before, "150 ms of spinning shows up");
    }
}
