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
    /// A frame was dropped: frames are dropped until the next keyframe.
    until_keyframe: bool,
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
            until_keyframe: false,
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
                // What follows refers to this keyframe: nothing until one
                // with parameter sets that make an initialization segment.
                self.until_keyframe = true;
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
        if self
            .pending
            .as_ref()
            .is_some_and(|pending| time <= pending.time)
        {
            // Out of order: dropped, and so is every frame that may refer
            // to it, until the next keyframe, which marks the break.
            self.dropped += 1;
            self.break_pending = true;
            self.until_keyframe = true;
            return;
        }
        if self.until_keyframe && !frame.keyframe {
            self.dropped += 1;
            return;
        }
        self.until_keyframe = false;
        let wallclock = wallclock_of(frame.arrival);
        // A frame held longer than a part (a still picture) leaves a hole
        // in the timeline rather than a part over its target.
        let longest = in_ticks(self.settings.part_target, VIDEO_RATE);
        let hole = self
            .pending
            .as_ref()
            .is_some_and(|pending| time - pending.time > longest);
        // A break (loss, a jump in RTP time, a new initialization segment,
        // a hole) is marked on the next keyframe, which starts a segment.
        self.break_pending |= frame.after_loss || jumped || new_init || hole;
        let discontinuity = frame.keyframe && std::mem::take(&mut self.break_pending);
        if let Some(pending) = self.pending.take() {
            // A frame lasts until the next one; across a break it keeps the
            // usual duration.
            let ticks = time - pending.time;
            let ticks = if discontinuity || jumped || hole {
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
        let segment_long_enough =
            time - self.segment_start >= in_ticks(self.settings.segment_target, rate) * 3 / 4;
        let starts_segment =
            keyframe && (self.part.is_none() || discontinuity || segment_long_enough);
        let part_target = in_ticks(self.settings.part_target, rate);
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
        // The audio up to this sample goes with the part before, even over
        // a hole in the video.
        self.close_part_with_audio_until(Some(time), out);
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
        self.close_part_with_audio_until(None, out);
    }

    /// As [`close_part`](Self::close_part), with the audio before
    /// `audio_until` (lead ticks) when given.
    fn close_part_with_audio_until(
        &mut self,
        audio_until: Option<i64>,
        out: &mut Vec<PackagerEvent>,
    ) {
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
            let end_audio = audio_until.unwrap_or(end).max(end) * self.audio_rate / VIDEO_RATE;
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

/// `duration` in ticks of `rate` per second.
fn in_ticks(duration: Duration, rate: i64) -> i64 {
    duration.as_micros() as i64 * rate / 1_000_000
}

/// The wall-clock time of an `Instant` in the recent past.
fn wallclock_of(instant: Instant) -> SystemTime {
    SystemTime::now()
        .checked_sub(instant.elapsed())
        .unwrap_or_else(SystemTime::now)
}

#[cfg(test)]
mod tests;
