//! AudioIngest: an RTMP stream's audio on a thread of its own, so that
//! neither the control runtime nor a worker ever decodes. AAC is decoded
//! and encoded as 20 ms Opus frames (`AacToOpus`); Opus sent over Enhanced
//! RTMP is forwarded as it is. The AAC frames are also kept as they came,
//! beside the Opus, for HLS and recordings (the stream's `SourceAudio`).
//! The connection hands tags over a bounded
//! queue and never waits for the thread: when it is full the tag is
//! dropped and counted.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};

use engine::{PushedTrack, RtpFields, SourceAudioWriter};
use rtmp::AudioTag;

use super::aac_to_opus::{AacToOpus, OpusFrame};

/// Audio tags waiting for the thread: about five seconds of AAC.
const QUEUE: usize = 256;

/// Ticks of the 48 kHz Opus clock per millisecond.
const TICKS_PER_MS: u32 = 48;

/// The audio side of one RTMP stream.
pub(super) struct AudioIngest {
    queue: Option<SyncSender<(u32, AudioTag)>>,
    /// Tells the thread to stop at its next tag, leaving the queue unread.
    stop: Arc<AtomicBool>,
    dropped: u64,
    channel: String,
}

impl AudioIngest {
    /// Starts the audio thread of stream `stream_id` on `channel`, writing
    /// `track`. The thread is named by the stream's id: a channel is the
    /// client's text, and a thread name must hold no NUL.
    pub fn start(track: PushedTrack, channel: String, stream_id: u64) -> std::io::Result<Self> {
        let (queue, tags) = sync_channel(QUEUE);
        let stop = Arc::new(AtomicBool::new(false));
        let name = channel.clone();
        let stopping = Arc::clone(&stop);
        std::thread::Builder::new()
            .name(format!("rtmp-audio-{stream_id}"))
            .spawn(move || AudioThread::new(track, name).run(&tags, &stopping))?;
        Ok(Self {
            queue: Some(queue),
            stop,
            dropped: 0,
            channel,
        })
    }

    /// Hands one audio tag stamped `timestamp` (ms) to the thread.
    pub fn on_tag(&mut self, timestamp: u32, tag: AudioTag) {
        let Some(queue) = &self.queue else {
            return;
        };
        match queue.try_send((timestamp, tag)) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                self.dropped += 1;
                if self.dropped.is_power_of_two() {
                    tracing::warn!(channel = %self.channel, dropped = self.dropped, "RTMP: audio transcoding falls behind; audio dropped");
                }
            }
            Err(TrySendError::Disconnected(_)) => self.queue = None,
        }
    }
}

impl Drop for AudioIngest {
    /// Not joined: this runs on the control runtime, which must not wait
    /// for a frame's transcode. The thread stops at its next tag (or when
    /// the queue closes), finishing the frame it is on.
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        self.queue = None;
    }
}

/// What the stream's audio is, once its sequence header came.
enum Codec {
    Aac(Box<AacToOpus>),
    Opus,
}

/// The AAC kept as it came: its writer, configuration and sample rate.
struct KeptAac {
    writer: SourceAudioWriter,
    config: Vec<u8>,
    rate: u32,
}

/// The thread's state.
struct AudioThread {
    track: PushedTrack,
    codec: Option<Codec>,
    /// `None` before the first AAC configuration, or after one that
    /// differs from it (a stream keeps one).
    kept: Option<KeptAac>,
    frames: Vec<OpusFrame>,
    sequence: u16,
    failures: u64,
    channel: String,
}

impl AudioThread {
    fn new(track: PushedTrack, channel: String) -> Self {
        Self {
            track,
            codec: None,
            kept: None,
            frames: Vec::new(),
            sequence: 0,
            failures: 0,
            channel,
        }
    }

    fn run(mut self, tags: &Receiver<(u32, AudioTag)>, stop: &AtomicBool) {
        while let Ok((timestamp, tag)) = tags.recv() {
            if stop.load(Ordering::Acquire) || self.track.is_ended() {
                return;
            }
            self.on_tag(timestamp, tag);
        }
    }

    fn on_tag(&mut self, timestamp: u32, tag: AudioTag) {
        match tag {
            AudioTag::AacConfig(config) => match AacToOpus::new(&config) {
                Ok(transcoder) => {
                    tracing::info!(channel = %self.channel, rate = transcoder.input_rate(), channels = transcoder.channels(), "RTMP: AAC audio, transcoded to Opus");
                    self.keep_aac(&config, transcoder.input_rate(), transcoder.channels());
                    self.codec = Some(Codec::Aac(Box::new(transcoder)));
                }
                Err(error) => {
                    tracing::warn!(channel = %self.channel, %error, "RTMP: this AAC cannot be transcoded; the stream goes on without audio");
                    self.codec = None;
                }
            },
            AudioTag::AacFrame(frame) => {
                let Some(Codec::Aac(transcoder)) = &mut self.codec else {
                    return;
                };
                if let Some(kept) = &mut self.kept {
                    let ticks = u64::from(timestamp) * u64::from(kept.rate) / 1000;
                    kept.writer.publish(ticks as u32, Arc::from(&frame[..]));
                }
                if let Err(error) = transcoder.push(&frame, timestamp, &mut self.frames) {
                    self.failures += 1;
                    if self.failures.is_power_of_two() {
                        tracing::warn!(channel = %self.channel, %error, failures = self.failures, "RTMP: an AAC frame did not decode");
                    }
                }
                let frames = std::mem::take(&mut self.frames);
                for frame in &frames {
                    self.publish(frame.timestamp, Arc::clone(&frame.data));
                }
                // The buffer is kept for the next frame.
                self.frames = frames;
                self.frames.clear();
                self.track.wake_followers();
            }
            AudioTag::OpusConfig(_) => {
                tracing::info!(channel = %self.channel, "RTMP: Opus audio, forwarded as it is");
                self.codec = Some(Codec::Opus);
            }
            // Opus needs no sequence header to be forwarded.
            AudioTag::OpusFrame(packet) => {
                if !matches!(self.codec, Some(Codec::Aac(_))) {
                    self.publish(timestamp.wrapping_mul(TICKS_PER_MS), Arc::from(&packet[..]));
                    self.track.wake_followers();
                }
            }
        }
    }

    /// Keeps the AAC as it comes from here on, for the outputs that carry
    /// it; a stream keeps one configuration, so a different one stops it.
    fn keep_aac(&mut self, config: &[u8], rate: u32, channels: u16) {
        match &self.kept {
            Some(kept) if kept.config != config => {
                tracing::info!(channel = %self.channel, "RTMP: the AAC configuration changed mid-stream; HLS and recordings carry no audio from here (WebRTC viewers keep the Opus)");
                self.kept = None;
            }
            Some(_) => {}
            None => {
                let channels = u8::try_from(channels).unwrap_or(2);
                self.kept = self
                    .track
                    .open_source_audio(config.to_vec(), rate, channels)
                    .map(|writer| KeptAac {
                        writer,
                        config: config.to_vec(),
                        rate,
                    });
            }
        }
    }

    /// Publishes one Opus packet (its one allocation, shared by every viewer).
    fn publish(&mut self, timestamp: u32, packet: Arc<[u8]>) {
        let rtp = RtpFields {
            sequence: self.sequence,
            timestamp,
            marker: false,
        };
        self.sequence = self.sequence.wrapping_add(1);
        self.track.publish(rtp, packet);
    }
}
