//! Real-time pacing of a clip: which video frame or audio packet is due
//! next and its RTP timestamp, looping the clip for as long as it runs.

use std::ops::Range;
use std::time::{Duration, Instant};

use crate::media::{AUDIO_TICKS, Clip, VIDEO_CLOCK};

/// One 20 ms Opus packet.
const AUDIO_INTERVAL: Duration = Duration::from_millis(20);

/// What is due.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Due {
    /// A video frame: its packets in `Clip::video` and its RTP timestamp.
    Video {
        /// Index range into `Clip::video`.
        packets: Range<usize>,
        /// 90 kHz RTP timestamp.
        timestamp: u32,
    },
    /// An audio packet: its index in `Clip::audio` and its RTP timestamp.
    Audio {
        /// Index into `Clip::audio`.
        packet: usize,
        /// 48 kHz RTP timestamp.
        timestamp: u32,
    },
}

/// Schedules a clip's frames at `fps` and its audio every 20 ms from `start`.
#[derive(Debug, Clone)]
pub struct Pacer {
    frames: Vec<Range<usize>>,
    audio_packets: usize,
    frame_interval: Duration,
    frame_ticks: u32,
    start: Instant,
    next_frame: u64,
    next_audio: u64,
}

impl Pacer {
    /// A pacer for `clip` starting now-ish at `start`.
    pub fn new(clip: &Clip, fps: u32, start: Instant) -> Self {
        let fps = fps.max(1);
        let mut frames: Vec<Range<usize>> = Vec::with_capacity(clip.frames as usize);
        for (index, packet) in clip.video.iter().enumerate() {
            let same_frame = frames.len() as u32 == packet.frame + 1;
            match frames.last_mut() {
                Some(range) if same_frame => range.end = index + 1,
                _ => frames.push(index..index + 1),
            }
        }
        Self {
            frames,
            audio_packets: clip.audio.len(),
            frame_interval: Duration::from_secs(1) / fps,
            frame_ticks: VIDEO_CLOCK / fps,
            start,
            next_frame: 0,
            next_audio: 0,
        }
    }

    fn video_due(&self) -> Instant {
        self.start + self.frame_interval * self.next_frame as u32
    }

    fn audio_due(&self) -> Instant {
        self.start + AUDIO_INTERVAL * self.next_audio as u32
    }

    /// When the next item is due.
    pub fn next_due(&self) -> Instant {
        if self.audio_packets == 0 {
            return self.video_due();
        }
        self.video_due().min(self.audio_due())
    }

    /// The next item, in time order.
    pub fn pop(&mut self) -> Due {
        if self.audio_packets > 0 && self.audio_due() < self.video_due() {
            let index = self.next_audio;
            self.next_audio += 1;
            return Due::Audio {
                packet: (index % self.audio_packets as u64) as usize,
                timestamp: (index as u32).wrapping_mul(AUDIO_TICKS),
            };
        }
        let index = self.next_frame;
        self.next_frame += 1;
        let frame = (index % self.frames.len().max(1) as u64) as usize;
        Due::Video {
            packets: self.frames.get(frame).cloned().unwrap_or(0..0),
            timestamp: (index as u32).wrapping_mul(self.frame_ticks),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::VideoPacket;

    fn packet(frame: u32, marker: bool) -> VideoPacket {
        VideoPacket {
            frame,
            marker,
            payload: vec![1],
        }
    }

    #[test]
    fn frames_and_audio_come_in_time_order_and_loop() {
        let clip = Clip {
            video: vec![packet(0, false), packet(0, true), packet(1, true)],
            frames: 2,
            audio: vec![vec![1], vec![2]],
        };
        let start = Instant::now();
        let mut pacer = Pacer::new(&clip, 25, start);
        let mut seen = Vec::new();
        for _ in 0..8 {
            let due = pacer.next_due() - start;
            seen.push((due, pacer.pop()));
        }
        assert!(seen.windows(2).all(|w| w[0].0 <= w[1].0));
        let video: Vec<_> = seen
            .iter()
            .filter_map(|(_, d)| match d {
                Due::Video { packets, timestamp } => Some((packets.clone(), *timestamp)),
                Due::Audio { .. } => None,
            })
            .collect();
        assert_eq!(video[0], (0..2, 0));
        assert_eq!(video[1], (2..3, 3600));
        assert_eq!(video[2], (0..2, 7200));
        let audio: Vec<_> = seen
            .iter()
            .filter_map(|(_, d)| match d {
                Due::Audio { packet, timestamp } => Some((*packet, *timestamp)),
                Due::Video { .. } => None,
            })
            .collect();
        assert_eq!(audio[..3], [(0, 0), (1, 960), (0, 1920)]);
    }
}
