//! The segmenter's tests: cutting, breaks, initialization segments, audio
//! jitter, stalls and holes.

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

#[test]
fn a_still_picture_holds_no_part_over_its_target_and_keeps_its_audio() {
    let mut segmenter = Segmenter::new(settings(), true, Some(AudioFormat::Opus));
    let start = Instant::now();
    let mut events = Vec::new();
    let mut audio = 0u32;
    // Frames 0..30, then nothing for three seconds (a still slide,
    // voice going on), then frames 120..150 from keyframe 120.
    for index in (0..30).chain(120..150) {
        while Duration::from_millis(u64::from(audio) * 20) <= FRAME * index {
            let arrival = start + Duration::from_millis(u64::from(audio) * 20);
            segmenter.audio(audio * 960, arrival, Arc::from(vec![31 << 3]), &mut events);
            audio += 1;
        }
        segmenter.video(frame(index, start, 30), &mut events);
    }
    segmenter.finish(&mut events);
    let parts = parts(&events);
    for part in &parts {
        assert!(
            part.duration <= settings().part_target,
            "{:?}",
            part.duration
        );
    }
    let breaks: Vec<&Arc<Part>> = parts.iter().filter(|part| part.discontinuity).collect();
    assert_eq!(breaks.len(), 1, "the hole is marked at keyframe 120");
    assert!(breaks[0].starts_segment);
    // No audio was dropped over the hole.
    assert_eq!(segmenter.dropped, 0);
}

#[test]
fn a_frame_out_of_order_drops_what_follows_until_a_keyframe() {
    let mut segmenter = Segmenter::new(settings(), true, None);
    let start = Instant::now();
    let mut events = Vec::new();
    for index in 0..10 {
        segmenter.video(frame(index, start, 30), &mut events);
    }
    // Frame 5 again, late: dropped, and frames 10..30 with it.
    segmenter.video(frame(5, start, 30), &mut events);
    for index in 10..60 {
        segmenter.video(frame(index, start, 30), &mut events);
    }
    segmenter.finish(&mut events);
    assert_eq!(segmenter.dropped, 21);
    let parts = parts(&events);
    let breaks: Vec<&Arc<Part>> = parts.iter().filter(|part| part.discontinuity).collect();
    assert_eq!(breaks.len(), 1);
}
