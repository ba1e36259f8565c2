//! Stream: one channel's live media as every worker sees it: its tracks and
//! their rings, the H.264 parameters read from the first SPS, which workers
//! follow it, and its counters. The ingest worker writes; all others read.
//! A pushed stream may also keep its source's own audio, before it was
//! transcoded, in a ring the workers never read (`SourceAudio`).

use std::sync::Arc;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use codec::h264::Sps;

use crate::ring::PacketRing;

/// What a track carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TrackKind {
    /// H.264 video, 90 kHz.
    Video,
    /// Opus audio, 48 kHz.
    Audio,
}

impl TrackKind {
    /// The RTP clock rate.
    pub fn clock_rate(self) -> u32 {
        match self {
            Self::Video => 90_000,
            Self::Audio => 48_000,
        }
    }
}

/// Counters of one stream, written by its ingest only.
#[derive(Debug, Default)]
pub struct StreamCounters {
    /// Media packets accepted into the rings.
    pub packets_in: AtomicU64,
    /// Payload bytes accepted into the rings.
    pub bytes_in: AtomicU64,
    /// Datagrams dropped at ingest, for any reason.
    pub dropped: AtomicU64,
    /// Sequence numbers NACKed to the publisher.
    pub nacked: AtomicU64,
    /// NACKed packets that arrived.
    pub recovered: AtomicU64,
    /// Keyframe requests sent to the publisher.
    pub keyframe_requests: AtomicU64,
    /// Missing packets given up on (never recovered).
    pub lost: AtomicU64,
}

/// A snapshot of [`StreamCounters`], as plain values.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StreamStats {
    /// Media packets accepted.
    pub packets_in: u64,
    /// Payload bytes accepted.
    pub bytes_in: u64,
    /// Datagrams dropped at ingest.
    pub dropped: u64,
    /// Sequence numbers NACKed to the publisher.
    pub nacked: u64,
    /// NACKed packets that arrived.
    pub recovered: u64,
    /// Keyframe requests sent to the publisher.
    pub keyframe_requests: u64,
    /// Missing packets given up on (never recovered).
    pub lost: u64,
}

/// The publisher's own audio before it was transcoded (RTMP's AAC), in a
/// ring the workers never read, for the outputs that carry it as it is
/// (HLS, recordings). Each packet is one raw frame; its timestamp counts
/// `clock_rate` ticks.
#[derive(Debug)]
pub struct SourceAudio {
    /// The frames.
    pub ring: Arc<PacketRing>,
    /// The codec's configuration (AAC's AudioSpecificConfig).
    pub codec_config: Vec<u8>,
    /// Ticks per second of the timestamps: the sample rate.
    pub clock_rate: u32,
    /// Channels.
    pub channels: u8,
}

/// One channel's live media.
#[derive(Debug)]
pub struct Stream {
    id: u64,
    channel: String,
    video: Option<Arc<PacketRing>>,
    audio: Option<Arc<PacketRing>>,
    sps: OnceLock<Sps>,
    source_audio: OnceLock<SourceAudio>,
    followers: AtomicU64,
    viewers: AtomicUsize,
    started: std::time::Instant,
    ended: AtomicBool,
    keyframe_wanted: AtomicBool,
    counters: StreamCounters,
}

impl Stream {
    /// A stream with the given rings; `id` tells it from earlier streams of
    /// the same channel.
    pub fn new(
        id: u64,
        channel: String,
        video: Option<Arc<PacketRing>>,
        audio: Option<Arc<PacketRing>>,
    ) -> Self {
        Self {
            id,
            channel,
            video,
            audio,
            sps: OnceLock::new(),
            source_audio: OnceLock::new(),
            followers: AtomicU64::new(0),
            viewers: AtomicUsize::new(0),
            started: std::time::Instant::now(),
            ended: AtomicBool::new(false),
            keyframe_wanted: AtomicBool::new(false),
            counters: StreamCounters::default(),
        }
    }

    /// This stream's id, unique in the engine's life.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The channel name.
    pub fn channel(&self) -> &str {
        &self.channel
    }

    /// The ring of a track, if the stream has it.
    pub fn ring(&self, kind: TrackKind) -> Option<&Arc<PacketRing>> {
        match kind {
            TrackKind::Video => self.video.as_ref(),
            TrackKind::Audio => self.audio.as_ref(),
        }
    }

    /// The first SPS seen, once one arrived.
    pub fn sps(&self) -> Option<&Sps> {
        self.sps.get()
    }

    /// Records the stream's SPS; only the first one counts (a profile change
    /// mid-stream would need viewers to renegotiate).
    pub fn set_sps(&self, sps: Sps) {
        let _ = self.sps.set(sps);
    }

    /// The source's own audio, if its input keeps it.
    pub fn source_audio(&self) -> Option<&SourceAudio> {
        self.source_audio.get()
    }

    /// Keeps the source's own audio; only the first call counts (a new
    /// configuration mid-stream would need a new initialization segment).
    pub(crate) fn set_source_audio(&self, audio: SourceAudio) -> bool {
        self.source_audio.set(audio).is_ok()
    }

    /// Marks worker `index` (< 64) as having viewers of this stream.
    pub fn follow(&self, worker: usize) {
        self.followers.fetch_or(1 << worker, Ordering::AcqRel);
    }

    /// Marks worker `index` as having no viewers of this stream any more.
    pub fn unfollow(&self, worker: usize) {
        self.followers.fetch_and(!(1 << worker), Ordering::AcqRel);
    }

    /// The workers that have viewers, as a bit set.
    pub fn followers(&self) -> u64 {
        self.followers.load(Ordering::Acquire)
    }

    /// Counts a viewer in (`joined`) or out.
    pub fn count_viewer(&self, joined: bool) {
        if joined {
            self.viewers.fetch_add(1, Ordering::Relaxed);
        } else {
            self.viewers.fetch_sub(1, Ordering::Relaxed);
        }
    }

    /// When the stream started.
    pub fn started(&self) -> std::time::Instant {
        self.started
    }

    /// Viewers open on every worker.
    pub fn viewers(&self) -> usize {
        self.viewers.load(Ordering::Relaxed)
    }

    /// Marks the stream ended; viewers close when they see it.
    pub fn end(&self) {
        self.ended.store(true, Ordering::Release);
    }

    /// Whether the publisher is gone.
    pub fn is_ended(&self) -> bool {
        self.ended.load(Ordering::Acquire)
    }

    /// Asks the publisher for a keyframe (a viewer's PLI/FIR, or a viewer
    /// joining when the ring holds none). FTL cannot ask its encoder; a WHIP
    /// publisher's worker forwards it upstream, rate-limited.
    pub fn request_keyframe(&self) {
        self.keyframe_wanted.store(true, Ordering::Release);
    }

    /// Takes a pending keyframe request, if any.
    pub fn take_keyframe_request(&self) -> bool {
        self.keyframe_wanted.swap(false, Ordering::AcqRel)
    }

    /// The ingest's counters, for writing.
    pub fn counters(&self) -> &StreamCounters {
        &self.counters
    }

    /// The counters' values now (each read is atomic, the set is not).
    pub fn stats(&self) -> StreamStats {
        let c = &self.counters;
        StreamStats {
            packets_in: c.packets_in.load(Ordering::Relaxed),
            bytes_in: c.bytes_in.load(Ordering::Relaxed),
            dropped: c.dropped.load(Ordering::Relaxed),
            nacked: c.nacked.load(Ordering::Relaxed),
            recovered: c.recovered.load(Ordering::Relaxed),
            keyframe_requests: c.keyframe_requests.load(Ordering::Relaxed),
            lost: c.lost.load(Ordering::Relaxed),
        }
    }
}
