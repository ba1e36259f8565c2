//! TrackWriter: how every input (FTL media, a WHIP publisher, a relay) puts
//! one RTP packet into its stream: a video packet is sniffed for the SPS
//! (the stream's H.264 profile) and flagged if it starts a keyframe, the
//! stream's counters count it, and it is pushed into the track's ring.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use crate::ring::{RingPacket, RingWriter};
use crate::stream::{Stream, TrackKind};

/// An RTP packet's header fields the ring keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpFields {
    /// The publisher's sequence number.
    pub sequence: u16,
    /// The RTP timestamp.
    pub timestamp: u32,
    /// The marker bit (last packet of a video frame).
    pub marker: bool,
}

/// The writer of one track's ring.
pub struct TrackWriter {
    kind: TrackKind,
    writer: RingWriter,
}

impl TrackWriter {
    /// The writer of a `kind` track's ring.
    pub fn new(kind: TrackKind, writer: RingWriter) -> Self {
        Self { kind, writer }
    }

    /// What the track carries.
    pub fn kind(&self) -> TrackKind {
        self.kind
    }

    /// Publishes one packet of `stream` that arrived at `arrival`; `payload`
    /// is shared with every viewer, not copied.
    pub fn publish(
        &mut self,
        stream: &Stream,
        rtp: RtpFields,
        arrival: Instant,
        payload: Arc<[u8]>,
    ) {
        let video = self.kind == TrackKind::Video;
        if video
            && let Some(sps) = codec::h264::sps_in_payload(&payload)
            && let Ok(sps) = codec::h264::Sps::parse(sps)
        {
            stream.set_sps(sps);
        }
        let counters = stream.counters();
        counters.packets_in.fetch_add(1, Ordering::Relaxed);
        counters
            .bytes_in
            .fetch_add(payload.len() as u64, Ordering::Relaxed);
        self.writer.push(RingPacket {
            sequence: rtp.sequence,
            timestamp: rtp.timestamp,
            marker: rtp.marker,
            keyframe: video && codec::h264::is_keyframe(&payload),
            arrival,
            payload,
        });
    }
}
