//! The packager's thread: reads one stream's rings every few milliseconds
//! (never inside a worker's turn), puts packets back in order, assembles
//! access units, cuts them with the segmenter, and hands each event to
//! every attached sink. It ends with the stream, or when no sink is left.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::mpsc::Receiver;
use std::time::Duration;

use engine::{PacketRing, ReadPin, RingCursor, Stream, TrackKind};
use parking_lot::Mutex;

use super::reorder::{Ordered, Reorder};
use super::segmenter::{AudioFormat, Segmenter};
use super::video_frames::VideoFrames;
use super::{PackagerEvent, PackagerSettings, PackagerSink, StartAt};

/// How often the rings are read: well under a part's duration, and cheap
/// (a few atomic loads when nothing came).
const READ_INTERVAL: Duration = Duration::from_millis(10);

/// How long after a stream's start its packager waits for the stream's own
/// audio (RTMP's AAC configuration comes right after the publish).
const SOURCE_AUDIO_WAIT: Duration = Duration::from_secs(1);

/// The running packagers, by stream id: where to send a new sink.
pub(super) type Running = Arc<Mutex<HashMap<u64, std::sync::mpsc::Sender<Box<dyn PackagerSink>>>>>;

struct Attached {
    sink: Box<dyn PackagerSink>,
    /// A sink that joined a running packager hears parts from the next
    /// segment start.
    waiting_for_segment: bool,
}

struct Track {
    ring: Arc<PacketRing>,
    cursor: RingCursor,
    reorder: Reorder,
}

impl Track {
    fn new(ring: &Arc<PacketRing>, at: impl Fn(&PacketRing) -> RingCursor) -> Self {
        Self {
            cursor: at(ring),
            ring: Arc::clone(ring),
            reorder: Reorder::default(),
        }
    }

    /// Reads what is new into the reorder buffer; `true` if the ring
    /// lapped this reader. A lap forgets what was held before it (older
    /// than the restart point) before the packet it restarts at goes in.
    fn read(&mut self, pin: &ReadPin) -> bool {
        let mut lapped = false;
        loop {
            let skipped = self.cursor.skipped();
            let Some(packet) = self.cursor.peek_pinned(&self.ring, pin) else {
                return lapped;
            };
            if self.cursor.skipped() != skipped {
                self.reorder.reset();
                lapped = true;
            }
            self.cursor.advance();
            self.reorder.push(packet);
        }
    }
}

/// One stream's packager.
pub(super) struct Packager {
    stream: Arc<Stream>,
    video: Option<Track>,
    audio: Option<Track>,
    frames: VideoFrames,
    segmenter: Segmenter,
    settings: PackagerSettings,
    /// Whether the audio track is chosen (see `choose_audio`).
    audio_chosen: bool,
    attached: Vec<Attached>,
    events: Vec<PackagerEvent>,
}

impl Packager {
    pub(super) fn new(stream: Arc<Stream>, start: StartAt, settings: PackagerSettings) -> Self {
        let video = stream.ring(TrackKind::Video).map(|ring| match start {
            StartAt::NewestKeyframe => Track::new(ring, RingCursor::at_keyframe),
            StartAt::Oldest => Track::new(ring, RingCursor::at_oldest),
        });
        let (audio, format) = audio_track(&stream);
        let segmenter = Segmenter::new(settings, video.is_some(), format);
        Self {
            audio_chosen: stream.source_audio().is_some()
                || stream.started().elapsed() >= SOURCE_AUDIO_WAIT,
            stream,
            video,
            audio,
            frames: VideoFrames::default(),
            segmenter,
            settings,
            attached: Vec::new(),
            events: Vec::new(),
        }
    }

    /// Whether the audio track is chosen; until it is, nothing is read
    /// (the rings keep it). A stream's own audio (RTMP's AAC) is kept once
    /// its configuration arrived, just after the stream started: a
    /// packager started that early waits for it, up to
    /// [`SOURCE_AUDIO_WAIT`] of the stream's age.
    fn choose_audio(&mut self) -> bool {
        if self.audio_chosen {
            return true;
        }
        if self.stream.source_audio().is_some() {
            let (audio, format) = audio_track(&self.stream);
            self.audio = audio;
            self.segmenter = Segmenter::new(self.settings, self.video.is_some(), format);
            self.audio_chosen = true;
        } else if self.stream.started().elapsed() >= SOURCE_AUDIO_WAIT {
            self.audio_chosen = true;
        }
        self.audio_chosen
    }

    /// Runs until the stream ends or no sink is left.
    pub(super) fn run(mut self, new_sinks: Receiver<Box<dyn PackagerSink>>, running: Running) {
        let id = self.stream.id();
        loop {
            self.attach_new(&new_sinks);
            let ended = self.stream.is_ended();
            self.read_once(ended);
            if ended {
                let mut running = running.lock();
                running.remove(&id);
                self.attach_new(&new_sinks);
                self.deliver_all(&[PackagerEvent::Ended]);
                return;
            }
            if self.attached.is_empty() {
                let mut running = running.lock();
                self.attach_new(&new_sinks);
                if self.attached.is_empty() {
                    running.remove(&id);
                    return;
                }
            }
            std::thread::sleep(READ_INTERVAL);
        }
    }

    fn attach_new(&mut self, new_sinks: &Receiver<Box<dyn PackagerSink>>) {
        while let Ok(mut sink) = new_sinks.try_recv() {
            let keep = match self.segmenter.init() {
                Some(init) => sink.deliver(&PackagerEvent::Init(Arc::clone(init))),
                None => true,
            };
            if keep {
                self.attached.push(Attached {
                    sink,
                    waiting_for_segment: true,
                });
            }
        }
    }

    /// Reads both rings and cuts what came; at the end, flushes everything.
    fn read_once(&mut self, last: bool) {
        if !self.choose_audio() && !last {
            return;
        }
        let pin = ReadPin::new();
        // Audio first: the video read then closes parts with the audio
        // that came before it.
        if let Some(audio) = &mut self.audio {
            audio.read(&pin);
            let ordered: Vec<Ordered> = if last {
                audio.reorder.flush()
            } else {
                std::iter::from_fn(|| audio.reorder.pop()).collect()
            };
            for item in ordered {
                if let Ordered::Packet(packet) = item {
                    self.segmenter.audio(
                        packet.timestamp,
                        packet.arrival,
                        packet.payload,
                        &mut self.events,
                    );
                }
            }
        }
        if let Some(video) = &mut self.video {
            if video.read(&pin) {
                self.frames.gap();
                self.stream.request_keyframe();
            }
            let ordered: Vec<Ordered> = if last {
                video.reorder.flush()
            } else {
                std::iter::from_fn(|| video.reorder.pop()).collect()
            };
            let (frames, segmenter, events) =
                (&mut self.frames, &mut self.segmenter, &mut self.events);
            for item in ordered {
                match item {
                    Ordered::Packet(packet) => {
                        frames.push(&packet, |frame| segmenter.video(frame, events));
                    }
                    Ordered::Gap => {
                        frames.gap();
                        self.stream.request_keyframe();
                    }
                }
            }
        }
        drop(pin);
        if last {
            let (segmenter, events) = (&mut self.segmenter, &mut self.events);
            self.frames.flush(|frame| segmenter.video(frame, events));
            self.segmenter.finish(&mut self.events);
        }
        let events = std::mem::take(&mut self.events);
        self.deliver_all(&events);
    }

    fn deliver_all(&mut self, events: &[PackagerEvent]) {
        for event in events {
            self.attached.retain_mut(|attached| {
                if let PackagerEvent::Part(part) = event {
                    if attached.waiting_for_segment && !part.starts_segment {
                        return true;
                    }
                    attached.waiting_for_segment = false;
                }
                attached.sink.deliver(event)
            });
        }
    }
}

/// The audio a packager reads: the source's own (RTMP's AAC) when the
/// stream keeps it, else the Opus the viewers get. It starts at the oldest
/// packet held: what came before the first video keyframe is dropped by the
/// segmenter's timeline.
fn audio_track(stream: &Stream) -> (Option<Track>, Option<AudioFormat>) {
    match stream.source_audio() {
        Some(source) => (
            Some(Track::new(&source.ring, RingCursor::at_oldest)),
            Some(AudioFormat::Aac {
                config: source.codec_config.clone(),
                rate: source.clock_rate,
                channels: source.channels,
            }),
        ),
        None => match stream.ring(TrackKind::Audio) {
            Some(ring) => (
                Some(Track::new(ring, RingCursor::at_oldest)),
                Some(AudioFormat::Opus),
            ),
            None => (None, None),
        },
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;
    use std::time::Instant;

    use engine::RingPacket;

    use super::*;
    use crate::outputs::packager::{Packagers, Part};

    const SPS: &[u8] = &[
        0x67, 0x42, 0xc0, 0x1e, 0xda, 0x05, 0x07, 0xec, 0x04, 0x40, 0x00, 0x00, 0x03, 0x00, 0x40,
        0x00, 0x00, 0x0f, 0x23, 0xc5, 0x8b, 0xa8,
    ];
    const PPS: &[u8] = &[0x68, 0xce, 0x3c, 0x80];

    fn settings() -> PackagerSettings {
        PackagerSettings {
            segment_target: Duration::from_secs(2),
            part_target: Duration::from_millis(500),
        }
    }

    /// A video-only stream whose ring holds `capacity` packets, and a
    /// function that publishes frame `n` (a keyframe every 30: SPS, PPS and
    /// IDR packets; else one slice), three packets per keyframe.
    fn stream(capacity: usize) -> (Arc<Stream>, impl FnMut(u32)) {
        let origin = Instant::now();
        let (mut writer, ring) = PacketRing::new(capacity, origin);
        let stream = Arc::new(Stream::new(7, "7".into(), Some(ring), None));
        let mut sequence = 0u16;
        let publish = move |frame: u32| {
            let keyframe = frame.is_multiple_of(30);
            let slice: Vec<u8> = if keyframe {
                vec![0x65, frame as u8]
            } else {
                vec![0x41, frame as u8]
            };
            let payloads: Vec<Vec<u8>> = if keyframe {
                vec![SPS.to_vec(), PPS.to_vec(), slice]
            } else {
                vec![slice]
            };
            let count = payloads.len();
            for (index, payload) in payloads.into_iter().enumerate() {
                sequence = sequence.wrapping_add(1);
                writer.push(RingPacket {
                    sequence,
                    timestamp: frame * 3000,
                    marker: index + 1 == count,
                    keyframe,
                    arrival: origin + Duration::from_millis(u64::from(frame) * 33),
                    payload: Arc::from(payload),
                });
            }
        };
        (stream, publish)
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

    #[test]
    fn a_lapped_reader_restarts_at_the_keyframe_it_lands_on() {
        let (stream, mut publish) = stream(64);
        let mut packager = Packager::new(Arc::clone(&stream), StartAt::Oldest, settings());
        let (sink, seen) = CollectingSink::new();
        packager.attached.push(Attached {
            sink: Box::new(sink),
            waiting_for_segment: false,
        });
        for frame in 0..20 {
            publish(frame);
        }
        packager.read_once(false);
        // 100 frames while the reader was away: the ring (64 packets) laps
        // it, and the newest keyframe it holds is frame 90's.
        for frame in 20..120 {
            publish(frame);
        }
        packager.read_once(true);
        let events: Vec<PackagerEvent> = seen.try_iter().collect();
        let parts = parts(&events);
        let after: Vec<&Arc<Part>> = parts
            .iter()
            .skip_while(|part| !part.discontinuity)
            .collect();
        assert!(!after.is_empty() && after[0].starts_segment, "{parts:?}");
        // Frames 90 to 119, the keyframe it restarted at included.
        let duration: Duration = after.iter().map(|part| part.duration).sum();
        assert_eq!(duration.as_millis(), 1000, "{after:?}");
    }

    /// A sink that hands every event to a channel.
    struct CollectingSink(mpsc::Sender<PackagerEvent>);

    impl CollectingSink {
        fn new() -> (Self, mpsc::Receiver<PackagerEvent>) {
            let (sender, receiver) = mpsc::channel();
            (Self(sender), receiver)
        }
    }

    impl PackagerSink for CollectingSink {
        fn deliver(&mut self, event: &PackagerEvent) -> bool {
            self.0.send(event.clone()).is_ok()
        }
    }

    #[test]
    fn sinks_hear_init_parts_and_the_end_and_a_late_one_starts_at_a_segment() {
        let (stream, mut publish) = stream(4096);
        let packagers = Packagers::new(settings());
        let (first, first_events) = CollectingSink::new();
        packagers.attach(&stream, StartAt::Oldest, Box::new(first));
        assert_eq!(packagers.running(), 1);
        for frame in 0..100 {
            publish(frame);
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut heard = Vec::new();
        while parts(&heard).len() < 4 {
            assert!(Instant::now() < deadline, "{heard:?}");
            if let Ok(event) = first_events.recv_timeout(Duration::from_millis(100)) {
                heard.push(event);
            }
        }
        assert!(matches!(heard[0], PackagerEvent::Init(_)));
        let (late, late_events) = CollectingSink::new();
        packagers.attach(&stream, StartAt::Oldest, Box::new(late));
        assert_eq!(packagers.running(), 1, "one packager per stream");
        for frame in 100..200 {
            publish(frame);
        }
        std::thread::sleep(Duration::from_millis(200));
        stream.end();
        let late: Vec<PackagerEvent> =
            std::iter::from_fn(|| late_events.recv_timeout(Duration::from_secs(5)).ok()).collect();
        assert!(matches!(late[0], PackagerEvent::Init(_)), "{late:?}");
        let late_parts = parts(&late);
        assert!(late_parts[0].starts_segment, "{late_parts:?}");
        assert!(matches!(late.last(), Some(PackagerEvent::Ended)));
        heard.extend(std::iter::from_fn(|| {
            first_events.recv_timeout(Duration::from_secs(5)).ok()
        }));
        assert!(matches!(heard.last(), Some(PackagerEvent::Ended)));
        // Every frame reached the first sink: 200 frames of 1/30 s.
        let total: Duration = parts(&heard).iter().map(|part| part.duration).sum();
        assert_eq!(total.as_millis(), 6666);
        let deadline = Instant::now() + Duration::from_secs(5);
        while packagers.running() > 0 {
            assert!(Instant::now() < deadline, "the packager did not stop");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}
