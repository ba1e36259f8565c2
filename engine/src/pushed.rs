//! PushedStream: a stream whose ingest runs outside the workers (RTMP, on
//! the control side, with its audio transcoded on a thread of its own). Its
//! owner writes each track's ring from one thread per track, through the
//! same track writer as every other input, and wakes the workers that
//! follow the stream once per batch; the stream leaves the registry when
//! the `PushedStream` is dropped.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use crate::handle::EngineHandle;
use crate::ring::{PacketRing, RingPacket, RingWriter};
use crate::stream::{SourceAudio, Stream, TrackKind};
use crate::track_writer::{RtpFields, TrackWriter};

/// The workers' wakers and their "already woken" flags, shared with the
/// workers so a wake from outside coalesces with theirs.
#[derive(Clone)]
pub(crate) struct FollowerWakers {
    pub wakers: Arc<[Arc<mio::Waker>]>,
    pub pending: Arc<[AtomicBool]>,
}

impl FollowerWakers {
    /// Wakes every worker that has viewers of `stream` and is not already
    /// due to run.
    fn wake(&self, stream: &Stream) {
        let followers = stream.followers();
        for (worker, waker) in self.wakers.iter().enumerate() {
            if followers & (1 << worker) != 0
                && let Some(pending) = self.pending.get(worker)
                && !pending.swap(true, Ordering::AcqRel)
            {
                let _ = waker.wake();
            }
        }
    }
}

/// One track of a pushed stream, written from one thread.
pub struct PushedTrack {
    writer: TrackWriter,
    stream: Arc<Stream>,
    wakers: FollowerWakers,
    unwoken: usize,
}

impl PushedTrack {
    pub(crate) fn new(writer: TrackWriter, stream: Arc<Stream>, wakers: FollowerWakers) -> Self {
        Self {
            writer,
            stream,
            wakers,
            unwoken: 0,
        }
    }

    /// What the track carries.
    pub fn kind(&self) -> TrackKind {
        self.writer.kind()
    }

    /// Publishes one RTP payload into the track's ring; viewers see it after
    /// the next [`wake_followers`](Self::wake_followers).
    pub fn publish(&mut self, rtp: RtpFields, payload: Arc<[u8]>) {
        self.writer
            .publish(&self.stream, rtp, Instant::now(), payload);
        self.unwoken += 1;
    }

    /// Wakes the workers with viewers of the stream, if anything was
    /// published since the last wake (call it once per frame, not per packet).
    pub fn wake_followers(&mut self) {
        if self.unwoken > 0 {
            self.unwoken = 0;
            self.wakers.wake(&self.stream);
        }
    }

    /// Whether the stream was ended from elsewhere (taken over, or the
    /// engine shut down): the owner then stops feeding it.
    pub fn is_ended(&self) -> bool {
        self.stream.is_ended()
    }

    /// Keeps the source's own audio beside this track (see
    /// [`SourceAudio`]), in a ring as long as the audio ring; `None` if the
    /// stream already keeps some.
    pub fn open_source_audio(
        &self,
        codec_config: Vec<u8>,
        clock_rate: u32,
        channels: u8,
    ) -> Option<SourceAudioWriter> {
        let capacity = self
            .stream
            .ring(TrackKind::Audio)
            .map_or(512, |ring| ring.capacity());
        let (writer, ring) = PacketRing::new(capacity, self.stream.started());
        let kept = self.stream.set_source_audio(SourceAudio {
            ring,
            codec_config,
            clock_rate,
            channels,
        });
        kept.then_some(SourceAudioWriter {
            writer,
            sequence: 0,
        })
    }
}

/// The writer of a stream's [`SourceAudio`]: no viewer reads it, so no
/// worker is woken.
pub struct SourceAudioWriter {
    writer: RingWriter,
    sequence: u16,
}

impl SourceAudioWriter {
    /// Keeps one frame stamped `timestamp` (in the clock rate's ticks).
    pub fn publish(&mut self, timestamp: u32, frame: Arc<[u8]>) {
        self.writer.push(RingPacket {
            sequence: self.sequence,
            timestamp,
            marker: true,
            keyframe: false,
            arrival: Instant::now(),
            payload: frame,
        });
        self.sequence = self.sequence.wrapping_add(1);
    }
}

/// A stream fed from outside the workers: its two tracks, each to be
/// written from one thread, and the lease that keeps the stream on its
/// channel.
pub struct PushedStream {
    /// The video track (H.264 RTP payloads, 90 kHz).
    pub video: PushedTrack,
    /// The audio track (Opus packets, 48 kHz).
    pub audio: PushedTrack,
    /// The stream's place on its channel; dropping it ends the stream.
    pub lease: StreamLease,
}

/// A pushed stream's place on its channel. Dropping it ends the stream
/// (unless another has replaced it since) and its viewers close.
pub struct StreamLease {
    stream: Arc<Stream>,
    replaced: Option<u64>,
    handle: EngineHandle,
}

impl StreamLease {
    pub(crate) fn new(stream: Arc<Stream>, replaced: Option<u64>, handle: EngineHandle) -> Self {
        Self {
            stream,
            replaced,
            handle,
        }
    }

    /// The stream.
    pub fn stream(&self) -> &Arc<Stream> {
        &self.stream
    }

    /// The stream this one replaced on its channel, if any.
    pub fn replaced(&self) -> Option<u64> {
        self.replaced
    }
}

impl Drop for StreamLease {
    fn drop(&mut self) {
        self.handle
            .remove_stream(self.stream.channel(), self.stream.id());
    }
}
