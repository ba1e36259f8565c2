//! Segmenter: access units and Opus packets to CMAF parts and segments.
//! Video leads: a segment starts at a keyframe once the one before is long
//! enough, a part closes before the frame that would make it longer than
//! its target, and each part carries the audio up to where its video ends.
//! A stream without video is cut by its audio. Timestamps come from RTP
//! time (see `timeline.rs`); a sample before the timeline starts, or that
//! would go back in time, is dropped.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use codec::cmaf::{self, AudioConfig, Sample, TrackConfig, VideoConfig};
use codec::h264::Sps;

use super::timeline::TrackClock;
use super::video_frames::{ParameterSets, VideoFrame};
use super::{InitSegment, PackagerEvent, PackagerSettings, Part, opus};

const VIDEO_RATE: i64 = cmaf::VIDEO_TIMESCALE as i64;
/// Samples in one AAC-LC frame.
const AAC_FRAME_SAMPLES: u32 = 1024;
/// A frame's duration when the next frame cannot tell it (30 fps).
const DEFAULT_FRAME_TICKS: i64 = 3000;
/// Most audio packets held before the video's timeline starts.
const MAX_EARLY_AUDIO: usize = 512;
/// Most audio packets waiting for the video to close a part (about 20 s
/// of Opus).
const MAX_QUEUED_AUDIO: usize = 1024;

/// What the audio track carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AudioFormat {
    /// Opus packets, 48 kHz.
    Opus,
    /// Raw AAC-LC frames, as the source sent them (RTMP).
    Aac {
        /// The AudioSpecificConfig.
        config: Vec<u8>,
        /// The sample rate, which the timestamps count.
        rate: u32,
        /// Channels.
        channels: u8,
    },
}

impl AudioFormat {
    fn rate(&self) -> u32 {
        match self {
            Self::Opus => 48_000,
            Self::Aac { rate, .. } => *rate,
        }
    }

    fn samples(&self, frame: &[u8]) -> Option<u32> {
        match self {
            Self::Opus => opus::samples_per_packet(frame),
            Self::Aac { .. } => (!frame.is_empty()).then_some(AAC_FRAME_SAMPLES),
        }
    }

    fn config(&self) -> AudioConfig {
        match self {
            Self::Opus => AudioConfig::Opus { channels: 2 },
            Self::Aac {
                config,
                rate,
                channels,
            } => AudioConfig::Aac {
                audio_specific_config: config.clone(),
                sample_rate: *rate,
                channels: *channels,
            },
        }
    }
}

/// A video sample waiting for the next one, which tells its duration.
#[derive(Debug)]
struct PendingVideo {
    time: i64,
    frame: VideoFrame,
    wallclock: SystemTime,
    discontinuity: bool,
}

#[derive(Debug)]
struct AudioSample {
    time: i64,
    duration: u32,
    data: Arc<[u8]>,
}

#[derive(Debug)]
struct VideoSample {
    time: i64,
    duration: u32,
    keyframe: bool,
    data: Vec<u8>,
}

/// The part being filled, in video ticks (audio ticks for audio only).
#[derive(Debug)]
struct OpenPart {
    start: i64,
    independent: bool,
    starts_segment: bool,
    discontinuity: bool,
    wallclock: SystemTime,
    video: Vec<VideoSample>,
    audio: Vec<AudioSample>,
}

/// Cuts one stream.
#[derive(Debug)]
pub struct Segmenter {
    settings: PackagerSettings,
    has_video: bool,
    audio_format: Option<AudioFormat>,
    /// Ticks per second of the audio track.
    audio_rate: i64,
    /// The timeline's zero: when the first video keyframe (or, without
    /// video, the first audio packet) arrived.
    epoch: Option<Instant>,
    video_clock: TrackClock,
    audio_clock: TrackClock,
    /// Audio that came before the epoch was known.
    early_audio: VecDeque<(u32, Instant, Arc<[u8]>)>,
    audio: VecDeque<AudioSample>,
    /// Where the next audio sample must start, at the earliest.
    audio_end: i64,
    pending: Option<PendingVideo>,
    last_frame_ticks: i64,
    /// The timeline broke since the last keyframe.
    break_pending: bool,
    parameter_sets: Option<ParameterSets>,
    init: Option<Arc<InitSegment>>,
    part: Option<OpenPart>,
    segment_start: i64,
    sequence: u32,
    /// Samples dropped as before the timeline or out of order.
    pub dropped: u64,
}

impl Segmenter {
    /// A segmenter for a stream with these tracks.
    pub fn new(settings: PackagerSettings, has_video: bool, audio: Option<AudioFormat>) -> Self {
        let audio_rate = audio.as_ref().map_or(48_000, AudioFormat::rate);
        Self {
            settings,
            has_video,
            audio_format: audio,
            audio_rate: i64::from(audio_rate),
            epoch: None,
            video_clock: TrackClock::new(VIDEO_RATE as u32),
            audio_clock: TrackClock::new(audio_rate),
            early_audio: VecDeque::new(),
            audio: VecDeque::new(),
            audio_end: 0,
            pending: None,
            last_frame_ticks: DEFAULT_FRAME_TICKS,
            break_pending: false,
            parameter_sets: None,
            init: None,
            part: None,
            segment_start: 0,
            sequence: 0,
            dropped: 0,
        }
    }

    /// The current initialization segment, once there is one.
    pub fn init(&self) -> Option<&Arc<InitSegment>> {
        self.init.as_ref()
    }

    /// Takes one audio frame (an Opus packet, an AAC frame) as it came
    /// from the ring.
    pub fn audio(
        &mut self,
        timestamp: u32,
        arrival: Instant,
        payload: Arc<[u8]>,
        out: &mut Vec<PackagerEvent>,
    ) {
        if !self.has_video && self.epoch.is_none() {
            self.epoch = Some(arrival);
            self.make_init(None, out);
        }
        let Some(epoch) = self.epoch else {
            if self.early_audio.len() == MAX_EARLY_AUDIO {
                self.early_audio.pop_front();
            }
            self.early_audio.push_back((timestamp, arrival, payload));
            return;
        };
        self.place_audio(timestamp, arrival, payload, epoch, out);
    }

    fn place_audio(
        &mut self,
        timestamp: u32,
        arrival: Instant,
        data: Arc<[u8]>,
        epoch: Instant,
        out: &mut Vec<PackagerEvent>,
    ) {
        let (time, _) = self.audio_clock.media_time(timestamp, arrival, epoch);
        let Some(duration) = self
            .audio_format
            .as_ref()
            .and_then(|format| format.samples(&data))
        else {
            self.dropped += 1;
            return;
        };
        let half = i64::from(duration) / 2;
        if time < self.audio_end.max(0) - half {
            self.dropped += 1;
            return;
        }
        // Within half a frame of where the last one ended is right there:
        // timestamps rounded to milliseconds (RTMP) do not jitter.
        let time = if time < self.audio_end + half {
            self.audio_end
        } else {
            time
        };
        if self.has_video && self.audio.len() >= MAX_QUEUED_AUDIO {
            // The video stalled: the oldest audio goes, memory stays bounded.
            self.audio.pop_front();
            self.dropped += 1;
        }
        self.audio_end = time + i64::from(duration);
        // Samples of a fragment follow each other: a gap before this one
        // lengthens the one before it.
        let before = if self.has_video {
            self.audio.back_mut()
        } else {
            self.part.as_mut().and_then(|part| part.audio.last_mut())
        };
        if let Some(before) = before {
            before.duration = u32::try_from(time - before.time).unwrap_or(before.duration);
        }
        let sample = AudioSample {
            time,
            duration,
            data,
        };
        if self.has_video {
            self.audio.push_back(sample);
            return;
        }
        let wallclock = wallclock_of(arrival);
        self.before_lead(time, i64::from(duration), true, false, wallclock, out);
        if let Some(part) = &mut self.part {
            part.audio.push(sample);
        }
    }

    /// Takes one access unit.
    pub fn video(&mut self, mut frame: VideoFrame, out: &mut Vec<PackagerEvent>) {
        if !self.has_video {
            return;
        }
        let parameter_sets = frame.parameter_sets.take();
        let mut new_init = false;
        if self.init.is_none() || (frame.keyframe && parameter_sets != self.parameter_sets) {
            let Some(sets) = parameter_sets.filter(|_| frame.keyframe) else {
                self.dropped += 1;
                return;
            };
            self.flush_pending(out);
            new_init = self.init.is_some();
            if !self.make_init(Some(sets), out) {
                return;
            }
        }
        // The timeline starts with the first frame that has an
        // initialization segment; audio waits for it.
        let first = self.epoch.is_none();
        let epoch = *self.epoch.get_or_insert(frame.arrival);
        if first {
            self.drain_early_audio(epoch, out);
        }
        let (time, jumped) = self
            .video_clock
            .media_time(frame.timestamp, frame.arrival, epoch);
        if let Some(pending) = &self.pending
            && time <= pending.time
        {
            self.dropped += 1;
            return;
        }
        let wallclock = wallclock_of(frame.arrival);
        // A break (loss, a jump in RTP time, a new initialization segment)
        // is marked on the next keyframe, which starts a segment.
        self.break_pending |= frame.after_loss || jumped || new_init;
        let discontinuity = frame.keyframe && std::mem::take(&mut self.break_pending);
        if let Some(pending) = self.pending.take() {
            // A frame lasts until the next one (a still picture may hold
            // for long), up to a segment target; across a break it keeps
            // the usual duration and the timeline has a hole there.
            let ticks = time - pending.time;
            let longest = self.settings.segment_target.as_micros() as i64 * VIDEO_RATE / 1_000_000;
            let ticks = if discontinuity || jumped || ticks > longest {
                self.last_frame_ticks
            } else {
                ticks
            };
            if ticks <= VIDEO_RATE / 2 {
                self.last_frame_ticks = ticks;
            }
            self.place_video(pending, ticks, out);
        }
        self.pending = Some(PendingVideo {
            time,
            frame,
            wallclock,
            discontinuity,
        });
    }

    /// The stream ended: everything held goes out.
    pub fn finish(&mut self, out: &mut Vec<PackagerEvent>) {
        self.flush_pending(out);
        self.close_part(out);
    }

    fn flush_pending(&mut self, out: &mut Vec<PackagerEvent>) {
        if let Some(pending) = self.pending.take() {
            let ticks = self.last_frame_ticks;
            self.place_video(pending, ticks, out);
        }
    }

    fn drain_early_audio(&mut self, epoch: Instant, out: &mut Vec<PackagerEvent>) {
        while let Some((timestamp, arrival, payload)) = self.early_audio.pop_front() {
            self.place_audio(timestamp, arrival, payload, epoch, out);
        }
    }

    fn make_init(&mut self, sets: Option<ParameterSets>, out: &mut Vec<PackagerEvent>) -> bool {
        let video = match &sets {
            Some(sets) => match Sps::parse(&sets.sps) {
                Ok(sps) => Some(VideoConfig {
                    sps: sets.sps.clone(),
                    pps: sets.pps.clone(),
                    width: sps.width,
                    height: sps.height,
                }),
                Err(error) => {
                    tracing::warn!(%error, "packager: the stream's SPS is unreadable");
                    self.dropped += 1;
                    return false;
                }
            },
            None => None,
        };
        let config = TrackConfig {
            video,
            audio: self.audio_format.as_ref().map(AudioFormat::config),
        };
        let bytes = match cmaf::init_segment(&config) {
            Ok(bytes) => bytes,
            Err(error) => {
                tracing::warn!(%error, "packager: no initialization segment");
                self.dropped += 1;
                return false;
            }
        };
        let init = Arc::new(InitSegment {
            bytes: Bytes::from(bytes),
            codecs: cmaf::codecs(&config),
            resolution: config
                .video
                .as_ref()
                .map(|video| (video.width, video.height)),
        });
        if self.init.is_some() {
            // A new initialization segment: the part before ends first.
            self.close_part(out);
        }
        self.init = Some(Arc::clone(&init));
        self.parameter_sets = sets;
        out.push(PackagerEvent::Init(init));
        true
    }

    fn place_video(&mut self, pending: PendingVideo, ticks: i64, out: &mut Vec<PackagerEvent>) {
        let PendingVideo {
            time,
            frame,
            wallclock,
            discontinuity,
        } = pending;
        self.before_lead(time, ticks, frame.keyframe, discontinuity, wallclock, out);
        if let Some(part) = &mut self.part {
            part.video.push(VideoSample {
                time,
                duration: u32::try_from(ticks.max(1)).unwrap_or(u32::MAX),
                keyframe: frame.keyframe,
                data: frame.data,
            });
        }
    }

    /// Before a lead sample at `time` lasting `ticks`: closes the part (and
    /// the segment) it must not join.
    fn before_lead(
        &mut self,
        time: i64,
        ticks: i64,
        keyframe: bool,
        discontinuity: bool,
        wallclock: SystemTime,
        out: &mut Vec<PackagerEvent>,
    ) {
        let rate = if self.has_video {
            VIDEO_RATE
        } else {
            self.audio_rate
        };
        let in_ticks = |duration: Duration| (duration.as_micros() as i64) * rate / 1_000_000;
        let segment_long_enough =
            time - self.segment_start >= in_ticks(self.settings.segment_target) * 3 / 4;
        let starts_segment =
            keyframe && (self.part.is_none() || discontinuity || segment_long_enough);
        let part_target = in_ticks(self.settings.part_target);
        let has_video = self.has_video;
        let part_full = self.part.as_ref().is_some_and(|part| {
            // A fragment's samples follow each other: after a hole in the
            // timeline the next sample starts a part of its own.
            let end = if has_video {
                part.video.last().map(|s| s.time + i64::from(s.duration))
            } else {
                part.audio.last().map(|s| s.time + i64::from(s.duration))
            };
            time + ticks - part.start > part_target || end.is_some_and(|end| end != time)
        });
        if !starts_segment && !part_full {
            return;
        }
        self.close_part(out);
        if starts_segment {
            self.segment_start = time;
        }
        self.part = Some(OpenPart {
            start: time,
            independent: keyframe,
            starts_segment,
            discontinuity: discontinuity && starts_segment,
            wallclock,
            video: Vec::new(),
            audio: Vec::new(),
        });
    }

    /// Closes the open part where its last lead sample ends (so a part is
    /// never longer than its samples, whatever comes after it), with the
    /// audio before that.
    fn close_part(&mut self, out: &mut Vec<PackagerEvent>) {
        let Some(mut part) = self.part.take() else {
            return;
        };
        let last = if self.has_video {
            part.video.last().map(|s| s.time + i64::from(s.duration))
        } else {
            part.audio.last().map(|s| s.time + i64::from(s.duration))
        };
        let end = last.unwrap_or(part.start);
        if self.has_video {
            let end_audio = end * self.audio_rate / VIDEO_RATE;
            while let Some(sample) = self.audio.front() {
                if sample.time >= end_audio {
                    break;
                }
                if let Some(sample) = self.audio.pop_front() {
                    part.audio.push(sample);
                }
            }
        }
        if part.video.is_empty() && part.audio.is_empty() {
            return;
        }
        let video: Vec<Sample<'_>> = part
            .video
            .iter()
            .map(|sample| Sample {
                decode_time: sample.time.max(0) as u64,
                duration: sample.duration,
                composition_offset: 0,
                keyframe: sample.keyframe,
                data: &sample.data,
            })
            .collect();
        let audio: Vec<Sample<'_>> = part
            .audio
            .iter()
            .map(|sample| Sample {
                decode_time: sample.time.max(0) as u64,
                duration: sample.duration,
                composition_offset: 0,
                keyframe: true,
                data: &sample.data[..],
            })
            .collect();
        self.sequence = self.sequence.wrapping_add(1);
        let bytes = match cmaf::fragment(self.sequence, &video, &audio) {
            Ok(bytes) => bytes,
            Err(error) => {
                tracing::warn!(%error, "packager: a fragment could not be written");
                self.dropped += 1;
                return;
            }
        };
        let rate = if self.has_video {
            VIDEO_RATE
        } else {
            self.audio_rate
        };
        let ticks = (end - part.start).max(0) as u64;
        out.push(PackagerEvent::Part(Arc::new(Part {
            bytes: Bytes::from(bytes),
            duration: Duration::from_micros(ticks * 1_000_000 / rate as u64),
            independent: part.independent,
            starts_segment: part.starts_segment,
            discontinuity: part.discontinuity,
            program_date_time: part.wallclock,
        })));
    }
}

/// The wall-clock time of an `Instant` in the recent past.
fn wallclock_of(instant: Instant) -> SystemTime {
    SystemTime::now()
        .checked_sub(instant.elapsed())
        .unwrap_or_else(SystemTime::now)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FRAME: Duration = Duration::from_micros(33_333);

    fn settings() -> PackagerSettings {
        PackagerSettings {
            segment_target: Duration::from_secs(2),
            part_target: Duration::from_millis(500),
        }
    }

    fn sets() -> ParameterSets {
        // Baseline 320x240 (the shipped clip's SPS) and a PPS.
        ParameterSets {
            sps: vec![
                0x67, 0x42, 0xc0, 0x1e, 0xda, 0x05, 0x07, 0xec, 0x04, 0x40, 0x00, 0x00, 0x03, 0x00,
                0x40, 0x00, 0x00, 0x0f, 0x23, 0xc5, 0x8b, 0xa8,
            ],
            pps: vec![0x68, 0xce, 0x3c, 0x80],
        }
    }

    fn frame(index: u32, start: Instant, gop: u32) -> VideoFrame {
        let keyframe = index.is_multiple_of(gop);
        VideoFrame {
            timestamp: 90_000 + index * 3000,
            arrival: start + FRAME * index,
            keyframe,
            data: vec![0, 0, 0, 2, if keyframe { 0x65 } else { 0x41 }, index as u8],
            after_loss: false,
            parameter_sets: keyframe.then(sets),
        }
    }

    fn parts(events: &[PackagerEvent]) -> Vec<Arc<Part>> {
        events
            .iter()
            .filter_map(|event| match event {
                PackagerEvent::Part(part) => Some(Arc::clone(part)),
                _ => None,
            })
            .collect()
    }

    /// Runs `frames` frames (a keyframe every `gop`) and 20 ms Opus packets
    /// alongside, then finishes.
    fn run(frames: u32, gop: u32, segmenter: &mut Segmenter) -> Vec<PackagerEvent> {
        let start = Instant::now();
        let mut events = Vec::new();
        let mut audio = 0u32;
        for index in 0..frames {
            while Duration::from_millis(u64::from(audio) * 20) <= FRAME * index {
                let arrival = start + Duration::from_millis(u64::from(audio) * 20);
                segmenter.audio(
                    7 + audio * 960,
                    arrival,
                    Arc::from(vec![31 << 3, 1]),
                    &mut events,
                );
                audio += 1;
            }
            segmenter.video(frame(index, start, gop), &mut events);
        }
        segmenter.finish(&mut events);
        events
    }

    #[test]
    fn segments_start_at_keyframes_and_parts_stay_under_their_target() {
        let mut segmenter = Segmenter::new(settings(), true, Some(AudioFormat::Opus));
        let events = run(300, 30, &mut segmenter);
        let PackagerEvent::Init(init) = &events[0] else {
            panic!("no init first: {:?}", events[0]);
        };
        assert_eq!(init.resolution, Some((320, 240)));
        assert!(init.codecs.starts_with("avc1.42c01e"), "{}", init.codecs);
        let parts = parts(&events);
        // Ten seconds, a keyframe a second: a segment every two seconds.
        let segments: Vec<usize> = parts
            .iter()
            .enumerate()
            .filter(|(_, part)| part.starts_segment)
            .map(|(index, _)| index)
            .collect();
        assert_eq!(segments.len(), 5, "{parts:?}");
        for part in &parts {
            assert!(
                part.duration <= settings().part_target,
                "{:?}",
                part.duration
            );
            assert!(!part.bytes.is_empty() && !part.discontinuity);
            if part.starts_segment {
                assert!(part.independent);
            }
        }
        let total: Duration = parts.iter().map(|part| part.duration).sum();
        assert_eq!(total.as_millis(), 10_000, "300 frames of 3000 ticks");
        // Every part but a segment's last is at least 85% of the target.
        for pair in parts.windows(2) {
            if !pair[1].starts_segment {
                assert!(pair[0].duration >= settings().part_target * 85 / 100);
            }
        }
    }

    #[test]
    fn a_long_gop_makes_long_segments_and_loss_a_discontinuity() {
        let mut segmenter = Segmenter::new(settings(), true, None);
        let start = Instant::now();
        let mut events = Vec::new();
        for index in 0..240 {
            let mut frame = frame(index, start, 120);
            // Frames 130..150 were lost; 150 is a keyframe again.
            if (130..150).contains(&index) {
                continue;
            }
            if index == 150 {
                frame.keyframe = true;
                frame.after_loss = true;
                frame.parameter_sets = Some(sets());
            }
            segmenter.video(frame, &mut events);
        }
        segmenter.finish(&mut events);
        let parts = parts(&events);
        let starts: Vec<&Arc<Part>> = parts.iter().filter(|part| part.starts_segment).collect();
        assert_eq!(starts.len(), 3);
        assert!(!starts[0].discontinuity && !starts[1].discontinuity && starts[2].discontinuity);
    }

    #[test]
    fn frames_before_the_first_keyframe_and_audio_before_the_video_are_dropped() {
        let mut segmenter = Segmenter::new(settings(), true, Some(AudioFormat::Opus));
        let start = Instant::now();
        let mut events = Vec::new();
        segmenter.audio(0, start, Arc::from(vec![31 << 3]), &mut events);
        segmenter.video(frame(1, start, 30), &mut events);
        assert!(events.is_empty());
        for index in 30..40 {
            segmenter.video(frame(index, start, 30), &mut events);
        }
        segmenter.finish(&mut events);
        assert!(matches!(events[0], PackagerEvent::Init(_)));
        assert_eq!(segmenter.dropped, 2);
    }

    #[test]
    fn new_parameter_sets_make_a_new_init_and_a_discontinuity() {
        let mut segmenter = Segmenter::new(settings(), true, None);
        let start = Instant::now();
        let mut events = Vec::new();
        for index in 0..90 {
            let mut frame = frame(index, start, 30);
            if index >= 60 && frame.keyframe {
                frame.parameter_sets = Some(ParameterSets {
                    pps: vec![0x68, 0xce, 0x3c, 0x81],
                    ..sets()
                });
            }
            segmenter.video(frame, &mut events);
        }
        segmenter.finish(&mut events);
        let inits = events
            .iter()
            .filter(|event| matches!(event, PackagerEvent::Init(_)))
            .count();
        assert_eq!(inits, 2);
        let after = events
            .iter()
            .skip_while(|event| !matches!(event, PackagerEvent::Init(_)))
            .skip(1)
            .skip_while(|event| !matches!(event, PackagerEvent::Init(_)))
            .find_map(|event| match event {
                PackagerEvent::Part(part) => Some(Arc::clone(part)),
                _ => None,
            })
            .unwrap();
        assert!(after.starts_segment && after.discontinuity);
    }

    #[test]
    fn jittered_aac_timestamps_make_contiguous_fragments() {
        let aac = AudioFormat::Aac {
            config: vec![0x12, 0x10],
            rate: 44_100,
            channels: 2,
        };
        let mut segmenter = Segmenter::new(settings(), true, Some(aac));
        let start = Instant::now();
        let mut events = Vec::new();
        let mut aac_frame = 0u64;
        for index in 0..150u32 {
            // RTMP stamps AAC in whole milliseconds: 23.2 ms frames come
            // 23 or 24 ms apart.
            while aac_frame * 1024 * 1000 / 44_100 <= u64::from(index) * 33 {
                let ms = aac_frame * 1024 * 1000 / 44_100;
                let arrival = start + Duration::from_millis(ms);
                segmenter.audio(
                    (ms * 44_100 / 1000) as u32,
                    arrival,
                    Arc::from(vec![0x21; 8]),
                    &mut events,
                );
                aac_frame += 1;
            }
            segmenter.video(frame(index, start, 30), &mut events);
        }
        segmenter.finish(&mut events);
        // Every fragment was written (a gap inside a track is refused).
        assert_eq!(segmenter.dropped, 0);
        assert_eq!(parts(&events).len(), 10);
    }

    #[test]
    fn audio_waits_for_stalled_video_within_a_bound() {
        let mut segmenter = Segmenter::new(settings(), true, Some(AudioFormat::Opus));
        let start = Instant::now();
        let mut events = Vec::new();
        segmenter.video(frame(0, start, 30), &mut events);
        // The camera stops; a minute of audio comes.
        for packet in 0..3000u32 {
            let arrival = start + Duration::from_millis(u64::from(packet) * 20);
            segmenter.audio(packet * 960, arrival, Arc::from(vec![31 << 3]), &mut events);
        }
        assert!(segmenter.audio.len() <= MAX_QUEUED_AUDIO);
        assert!(segmenter.dropped > 0);
    }
}
