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
    /// lapped this reader.
    fn read(&mut self, pin: &ReadPin) -> bool {
        let skipped = self.cursor.skipped();
        while let Some(packet) = self.cursor.peek_pinned(&self.ring, pin) {
            self.cursor.advance();
            self.reorder.push(packet);
        }
        self.cursor.skipped() != skipped
    }
}

/// One stream's packager.
pub(super) struct Packager {
    stream: Arc<Stream>,
    video: Option<Track>,
    audio: Option<Track>,
    frames: VideoFrames,
    segmenter: Segmenter,
    attached: Vec<Attached>,
    events: Vec<PackagerEvent>,
}

impl Packager {
    pub(super) fn new(stream: Arc<Stream>, start: StartAt, settings: PackagerSettings) -> Self {
        let video = stream.ring(TrackKind::Video).map(|ring| match start {
            StartAt::NewestKeyframe => Track::new(ring, RingCursor::at_keyframe),
            StartAt::Oldest => Track::new(ring, RingCursor::at_oldest),
        });
        // The source's own audio (RTMP's AAC) when the stream keeps it,
        // else the Opus the viewers get. Audio starts at the oldest packet
        // held: what came before the first video keyframe is dropped by the
        // segmenter's timeline.
        let (audio, format) = match stream.source_audio() {
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
        };
        let segmenter = Segmenter::new(settings, video.is_some(), format);
        Self {
            stream,
            video,
            audio,
            frames: VideoFrames::default(),
            segmenter,
            attached: Vec::new(),
            events: Vec::new(),
        }
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
        let pin = ReadPin::new();
        // Audio first: the video read then closes parts with the audio
        // that came before it.
        if let Some(audio) = &mut self.audio {
            if audio.read(&pin) {
                audio.reorder.reset();
            }
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
                video.reorder.reset();
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
