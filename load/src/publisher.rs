//! The synthetic publisher's loop: sends a clip at real time through a
//! [`MediaSink`] (FTL or WHIP), stamping each packet in the [`SendLog`], and
//! lets the sink serve what comes back (NACKs, RTCP) between sends.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use serde::Serialize;

use crate::media::Clip;
use crate::pacer::{Due, Pacer};
use crate::send_log::{SendLog, packet_key, realtime_ns};

/// What a publisher did.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct PublisherStats {
    /// RTP packets sent, retransmissions excluded.
    pub packets: u64,
    /// RTP payload bytes sent.
    pub bytes: u64,
    /// Packets sent again because the server NACKed them.
    pub retransmits: u64,
    /// PLIs and FIRs the server sent.
    pub keyframe_requests: u64,
}

/// Where a publisher's packets go.
pub trait MediaSink {
    /// Sends one video packet (sequence numbers are the sink's business).
    fn send_video(&mut self, timestamp: u32, marker: bool, payload: &[u8]);
    /// Sends one audio packet.
    fn send_audio(&mut self, timestamp: u32, payload: &[u8]);
    /// Serves incoming traffic until `until`.
    fn serve_until(&mut self, until: Instant);
    /// What it did so far.
    fn stats(&self) -> PublisherStats;
}

/// Sends `clip` at `fps` through `sink` until `stop` is set.
pub fn publish(
    sink: &mut impl MediaSink,
    clip: &Clip,
    fps: u32,
    log: &SendLog,
    stop: &AtomicBool,
) -> PublisherStats {
    let mut pacer = Pacer::new(clip, fps, Instant::now());
    while !stop.load(Ordering::Acquire) {
        sink.serve_until(pacer.next_due());
        match pacer.pop() {
            Due::Video { packets, timestamp } => {
                for packet in clip.video.get(packets).unwrap_or_default() {
                    log.record(packet_key(timestamp, &packet.payload), realtime_ns());
                    sink.send_video(timestamp, packet.marker, &packet.payload);
                }
            }
            Due::Audio { packet, timestamp } => {
                if let Some(payload) = clip.audio.get(packet) {
                    log.record(packet_key(timestamp, payload), realtime_ns());
                    sink.send_audio(timestamp, payload);
                }
            }
        }
    }
    sink.stats()
}
