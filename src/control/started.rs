//! StartedStreams: what the service was told about each live stream (its
//! channel, ingest, encoder and start), and the figures its metadata
//! heartbeats carry from one round to the next.

use std::collections::HashMap;
use std::time::Instant;

use parking_lot::Mutex;
use serde_json::json;

/// A stream the service was told about.
#[derive(Debug, Clone)]
pub struct StartedStream {
    /// Its channel.
    pub channel: String,
    /// How it came in (`ftl`, `whip`).
    pub ingest: &'static str,
    /// The encoder's name, if it said.
    pub vendor_name: Option<String>,
    /// The encoder's version, if it said.
    pub vendor_version: Option<String>,
    /// When it started.
    pub since: Instant,
    /// Bytes in at the last heartbeat.
    pub last_bytes: u64,
    /// Heartbeats that failed in a row.
    pub failed_heartbeats: u32,
}

impl StartedStream {
    /// A stream starting now.
    pub fn new(
        channel: &str,
        ingest: &'static str,
        (vendor_name, vendor_version): (Option<String>, Option<String>),
    ) -> Self {
        Self {
            channel: channel.to_owned(),
            ingest,
            vendor_name,
            vendor_version,
            since: Instant::now(),
            last_bytes: 0,
            failed_heartbeats: 0,
        }
    }

    /// The `stream_started` event the service hears.
    pub fn started_event(&self, stream_id: u64) -> serde_json::Value {
        json!({
            "event": "stream_started",
            "channel": self.channel,
            "stream_id": stream_id,
            "ingest": self.ingest,
            "vendor_name": self.vendor_name,
            "vendor_version": self.vendor_version,
        })
    }

    /// The `stream_stopped` event the service hears.
    pub fn stopped_event(&self, stream_id: u64) -> serde_json::Value {
        json!({
            "event": "stream_stopped",
            "channel": self.channel,
            "stream_id": stream_id,
            "ingest": self.ingest,
            "uptime_seconds": self.since.elapsed().as_secs(),
        })
    }
}

/// Every stream the service was told started and not yet stopped, by id.
#[derive(Default)]
pub struct StartedStreams {
    by_id: Mutex<HashMap<u64, StartedStream>>,
}

impl StartedStreams {
    /// Records a stream that started.
    pub fn insert(&self, stream_id: u64, started: StartedStream) {
        self.by_id.lock().insert(stream_id, started);
    }

    /// Forgets a stream; what was recorded, if it was.
    pub fn remove(&self, stream_id: u64) -> Option<StartedStream> {
        self.by_id.lock().remove(&stream_id)
    }

    /// Forgets every stream; what was recorded.
    pub fn drain(&self) -> Vec<(u64, StartedStream)> {
        self.by_id.lock().drain().collect()
    }

    /// What is recorded of a stream now.
    pub fn get(&self, stream_id: u64) -> Option<StartedStream> {
        self.by_id.lock().get(&stream_id).cloned()
    }

    /// Records a heartbeat round's figures, if the stream is still there.
    pub fn record_heartbeat(&self, stream_id: u64, bytes_in: u64, failed_heartbeats: u32) {
        if let Some(entry) = self.by_id.lock().get_mut(&stream_id) {
            entry.last_bytes = bytes_in;
            entry.failed_heartbeats = failed_heartbeats;
        }
    }
}
