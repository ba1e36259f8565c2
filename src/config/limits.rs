//! `[workers]` and `[limits]`: how many workers run, and what the engine
//! holds at most (peers, streams, viewers, ring sizes, socket buffers) and
//! for how long it waits.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::error::{ConfigError, invalid};

/// `[workers]`
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WorkersSection {
    /// Worker threads; 0 means one per core.
    pub count: usize,
}

/// `[limits]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitsSection {
    /// Most peers (viewers and publishers) on one worker.
    pub max_peers_per_worker: usize,
    /// Most live streams.
    pub max_streams: usize,
    /// Most viewers of one stream.
    pub max_viewers_per_stream: usize,
    /// Most viewers in total.
    pub max_viewers_total: usize,
    /// A peer that has not connected by then is dropped, in milliseconds.
    pub connect_timeout_ms: u64,
    /// A stream with no media for this long ends, in milliseconds.
    pub media_timeout_ms: u64,
    /// Video packets held per stream (about 4 s at 6 Mbps by default).
    pub video_ring_packets: usize,
    /// Audio packets held per stream.
    pub audio_ring_packets: usize,
    /// SO_RCVBUF and SO_SNDBUF of every UDP socket, in bytes.
    pub socket_buffer_bytes: usize,
}

impl Default for LimitsSection {
    fn default() -> Self {
        let engine = engine::EngineConfig::default();
        Self {
            max_peers_per_worker: engine.max_viewers_per_worker,
            max_streams: engine.max_streams,
            max_viewers_per_stream: engine.max_viewers_per_stream,
            max_viewers_total: engine.max_viewers_total,
            connect_timeout_ms: engine.viewer_connect_timeout.as_millis() as u64,
            media_timeout_ms: engine.ftl_media_timeout.as_millis() as u64,
            video_ring_packets: engine.video_ring_packets,
            audio_ring_packets: engine.audio_ring_packets,
            socket_buffer_bytes: engine.socket_buffer_bytes,
        }
    }
}

impl WorkersSection {
    /// At most 64 workers (a stream's followers are a 64-bit mask).
    pub(super) fn check(&self) -> Result<(), ConfigError> {
        if self.count > 64 {
            return Err(invalid("workers.count", "at most 64 workers"));
        }
        Ok(())
    }

    /// Sets the engine's worker count, unless it is one per core.
    pub(super) fn apply(&self, engine: &mut engine::EngineConfig) {
        if self.count > 0 {
            engine.workers = self.count;
        }
    }
}

impl LimitsSection {
    /// Checks the ring sizes and the peers per worker.
    pub(super) fn check(&self) -> Result<(), ConfigError> {
        if self.video_ring_packets < 64 || self.audio_ring_packets < 16 {
            return Err(invalid(
                "limits.video_ring_packets",
                "rings need at least 64 video and 16 audio packets",
            ));
        }
        if self.max_peers_per_worker == 0 {
            return Err(invalid("limits.max_peers_per_worker", "must be above 0"));
        }
        Ok(())
    }

    /// Sets the engine's limits and deadlines.
    pub(super) fn apply(&self, engine: &mut engine::EngineConfig) {
        let ms = Duration::from_millis;
        engine.max_viewers_per_worker = self.max_peers_per_worker;
        engine.max_streams = self.max_streams;
        engine.max_viewers_per_stream = self.max_viewers_per_stream;
        engine.max_viewers_total = self.max_viewers_total;
        engine.viewer_connect_timeout = ms(self.connect_timeout_ms);
        engine.ftl_media_timeout = ms(self.media_timeout_ms);
        engine.video_ring_packets = self.video_ring_packets;
        engine.audio_ring_packets = self.audio_ring_packets;
        engine.socket_buffer_bytes = self.socket_buffer_bytes;
    }
}
