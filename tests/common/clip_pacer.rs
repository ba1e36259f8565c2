//! ClipPacer: sends the shipped clip through the load tool's FTL publisher
//! at real time, each video packet numbered by its index in the clip so
//! that a test can leave one out and answer its NACK.

use std::time::{Duration, Instant};

use super::clients::{FtlPublisher, FtlSteps};
use super::media::MediaPacket;

/// Sends a clip at real time: video by its timestamps (90 kHz), an Opus
/// packet every 20 ms, from the video packet it starts at.
pub struct ClipPacer {
    start: Instant,
    base: u32,
    next_video: usize,
    next_audio: usize,
}

impl ClipPacer {
    /// Starts now, at video packet `first`.
    pub fn new(video: &[MediaPacket], first: usize) -> Self {
        Self {
            start: Instant::now(),
            base: video.get(first).map_or(0, |p| p.timestamp),
            next_video: first,
            next_audio: 0,
        }
    }

    /// Time since the start.
    pub fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }

    /// Sends every packet due by now, leaving out the video packets `skip`
    /// names (to be NACKed); false once all video is sent.
    pub fn send_due(
        &mut self,
        publisher: &FtlPublisher,
        video: &[MediaPacket],
        audio: &[Vec<u8>],
        skip: impl Fn(usize) -> bool,
    ) -> bool {
        let now = self.elapsed();
        while let Some(packet) = video.get(self.next_video) {
            let due =
                Duration::from_millis(u64::from(packet.timestamp.wrapping_sub(self.base) / 90));
            if due > now {
                break;
            }
            if !skip(self.next_video) {
                publisher.send_clip_packet(self.next_video, packet);
            }
            self.next_video += 1;
        }
        while let Some(payload) = audio.get(self.next_audio) {
            if Duration::from_millis(self.next_audio as u64 * 20) > now {
                break;
            }
            publisher
                .send_numbered_audio(
                    self.next_audio as u16,
                    self.next_audio as u32 * 960,
                    payload,
                )
                .unwrap();
            self.next_audio += 1;
        }
        self.next_video < video.len()
    }

    /// Answers the NACKs that arrived; returns their sequence numbers.
    pub fn answer_nacks(&self, publisher: &FtlPublisher, video: &[MediaPacket]) -> Vec<u16> {
        let nacked = publisher.read_nacks();
        for &sequence in &nacked {
            if let Some(packet) = video.get(usize::from(sequence)) {
                publisher.send_clip_packet(usize::from(sequence), packet);
            }
        }
        nacked
    }
}
