//! The window's tests: parts into segments, the sliding window, discontinuities,
//! initialization segments, targets and the reload rules.

use super::*;

pub(crate) fn init(codecs: &str) -> PackagerEvent {
    PackagerEvent::Init(Arc::new(InitSegment {
        bytes: Bytes::from(format!("init {codecs}")),
        codecs: codecs.to_owned(),
        resolution: Some((1280, 720)),
    }))
}

/// A 500 ms part whose bytes name it; `starts` makes it a keyframe
/// that starts a segment.
pub(crate) fn part(name: &str, starts: bool) -> PackagerEvent {
    PackagerEvent::Part(Arc::new(Part {
        bytes: Bytes::from(name.to_owned()),
        duration: Duration::from_millis(500),
        independent: starts,
        starts_segment: starts,
        discontinuity: false,
        program_date_time: SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000),
    }))
}

/// A segment's parts joined, as a player receives them.
fn joined(media: Media) -> Media {
    match media {
        Media::Parts(parts) => Media::Ready(parts.concat().into()),
        other => other,
    }
}

fn settings(window_segments: usize) -> WindowSettings {
    WindowSettings {
        segment_target: Duration::from_secs(2),
        part_target: Duration::from_millis(500),
        window_segments,
    }
}

/// A window fed `init`, then `segments` segments of four parts.
fn fed(window_segments: usize, segments: usize) -> Window {
    let mut window = Window::new(settings(window_segments), "w".into(), None);
    window.apply(&init("avc1.64001f"));
    for s in 0..segments {
        for p in 0..4 {
            window.apply(&part(&format!("{s}.{p} "), p == 0));
        }
    }
    window
}

#[test]
fn parts_make_segments_closed_by_the_next_start() {
    let window = fed(6, 2);
    assert!(window.is_ready());
    assert_eq!(
        joined(window.segment(0)),
        Media::Ready(Bytes::from("0.0 0.1 0.2 0.3 "))
    );
    // Segment 1 is open: its parts are there, it is not.
    assert_eq!(joined(window.segment(1)), Media::Missing);
    assert_eq!(window.part(1, 3), Media::Ready(Bytes::from("1.3 ")));
    assert_eq!(window.part(1, 4), Media::Hinted);
    assert_eq!(window.part(2, 0), Media::Hinted);
    assert_eq!(window.part(1, 5), Media::Missing);
    assert_eq!(window.part(2, 1), Media::Missing);
    assert_eq!(window.part(3, 0), Media::Missing);
}

#[test]
fn a_window_without_a_complete_segment_is_not_ready() {
    let mut window = fed(6, 1);
    assert!(!window.is_ready());
    window.apply(&PackagerEvent::Ended);
    assert!(window.is_ready());
    assert_eq!(
        joined(window.segment(0)),
        Media::Ready(Bytes::from("0.0 0.1 0.2 0.3 "))
    );
    assert_eq!(window.part(0, 4), Media::Missing);
    assert_eq!(window.part(1, 0), Media::Missing);
}

#[test]
fn a_first_part_that_is_not_a_keyframe_is_skipped() {
    let mut window = Window::new(settings(6), "w".into(), None);
    assert!(!window.apply(&part("x", false)), "no init yet");
    window.apply(&init("avc1.64001f"));
    assert!(!window.apply(&part("x", false)));
    assert!(window.apply(&part("k", true)));
    assert_eq!(window.part(0, 0), Media::Ready(Bytes::from("k")));
}

#[test]
fn the_window_slides_and_old_segments_go() {
    let window = fed(3, 6);
    // Five complete (0..=4), three kept: 2, 3, 4; 5 open.
    assert_eq!(joined(window.segment(1)), Media::Missing);
    assert_eq!(window.part(1, 0), Media::Missing);
    assert!(matches!(joined(window.segment(2)), Media::Ready(_)));
    assert!(matches!(joined(window.segment(4)), Media::Ready(_)));
    let text = String::from_utf8(window.playlist().to_vec()).unwrap();
    assert!(text.contains("#EXT-X-MEDIA-SEQUENCE:2\n"), "{text}");
    assert_eq!(text.matches("#EXTINF:").count(), 3, "{text}");
}

#[test]
fn discontinuities_are_counted_when_they_leave() {
    let mut window = fed(3, 1);
    let mut broken = match part("d", true) {
        PackagerEvent::Part(part) => (*part).clone(),
        _ => unreachable!(),
    };
    broken.discontinuity = true;
    window.apply(&PackagerEvent::Part(Arc::new(broken)));
    for s in 0..4 {
        window.apply(&part(&format!("after{s}"), true));
    }
    let text = String::from_utf8(window.playlist().to_vec()).unwrap();
    // Segment 1 (the discontinuity) slid out with its tag.
    assert!(text.contains("#EXT-X-DISCONTINUITY-SEQUENCE:1\n"), "{text}");
    assert!(!text.contains("#EXT-X-DISCONTINUITY\n"), "{text}");
}

#[test]
fn a_new_init_starts_a_discontinuous_segment_with_its_map() {
    let mut window = fed(6, 1);
    window.apply(&part("1.0", true));
    window.apply(&part("1.1", false));
    window.apply(&init("avc1.640028"));
    // The packager's next part may not say so; it starts a segment anyway.
    window.apply(&part("2.0", false));
    window.apply(&part("3.0", true));
    assert_eq!(
        joined(window.segment(1)),
        Media::Ready(Bytes::from("1.01.1"))
    );
    assert_eq!(
        window.init(0),
        Media::Ready(Bytes::from("init avc1.64001f"))
    );
    assert_eq!(
        window.init(1),
        Media::Ready(Bytes::from("init avc1.640028"))
    );
    let text = String::from_utf8(window.playlist().to_vec()).unwrap();
    let new_map = text.find("#EXT-X-MAP:URI=\"w/init-1.mp4\"").unwrap();
    let discontinuity = text.find("#EXT-X-DISCONTINUITY\n").unwrap();
    assert!(discontinuity < new_map, "{text}");
    assert!(
        text[new_map..].starts_with("#EXT-X-MAP:URI=\"w/init-1.mp4\"\n#EXT-X-PROGRAM-DATE-TIME:")
    );
    assert_eq!(text.matches("#EXT-X-MAP:").count(), 2, "{text}");
}

#[test]
fn an_unused_init_leaves_with_its_segments() {
    let mut window = fed(3, 1);
    window.apply(&init("avc1.640028"));
    for s in 0..5 {
        window.apply(&part(&format!("{s}"), true));
    }
    assert_eq!(window.init(0), Media::Missing);
    assert!(matches!(window.init(1), Media::Ready(_)));
}

#[test]
fn the_same_init_again_changes_nothing() {
    let mut window = fed(6, 2);
    assert!(!window.apply(&init("avc1.64001f")));
    assert_eq!(window.init(1), Media::Missing);
}

#[test]
fn a_segment_without_keyframes_is_cut_at_the_limit() {
    let mut window = fed(200, 1);
    // 60 s of non-key parts after the first keyframe.
    for p in 0..130 {
        window.apply(&part(&format!("{p}"), false));
    }
    assert!(matches!(joined(window.segment(0)), Media::Ready(_)));
    assert!(matches!(joined(window.segment(1)), Media::Missing));
    assert!(window.target_duration() >= 60);
}

#[test]
fn blocking_reloads_wait_for_the_part_or_segment() {
    let window = fed(6, 2);
    // Segment 0 complete; segment 1 open with parts 0..=3.
    assert_eq!(window.reload(0, None), Reload::Ready);
    assert_eq!(window.reload(1, None), Reload::Wait);
    assert_eq!(window.reload(1, Some(3)), Reload::Ready);
    assert_eq!(window.reload(1, Some(4)), Reload::Wait);
    assert_eq!(window.reload(0, Some(99)), Reload::Ready);
    assert_eq!(window.reload(2, None), Reload::Wait);
    assert_eq!(window.reload(2, Some(0)), Reload::Wait);
}

#[test]
fn far_future_reloads_are_refused() {
    let window = fed(6, 2);
    // Last complete is 0: 0 + 2 is the furthest a request may wait for.
    assert_eq!(window.reload(2, None), Reload::Wait);
    assert_eq!(window.reload(3, None), Reload::TooFar);
    assert_eq!(window.reload(u64::MAX, None), Reload::TooFar);
    // Advance Part Limit: 3 / 0.5 s = 6 parts past the newest (1.3).
    assert_eq!(window.reload(1, Some(9)), Reload::Wait);
    assert_eq!(window.reload(1, Some(10)), Reload::TooFar);
    assert_eq!(window.reload(2, Some(5)), Reload::Wait);
    assert_eq!(window.reload(2, Some(6)), Reload::TooFar);
}

#[test]
fn an_ended_window_answers_every_reload() {
    let mut window = fed(6, 2);
    window.apply(&PackagerEvent::Ended);
    assert_eq!(window.reload(2, Some(3)), Reload::Ready);
    assert!(!window.apply(&part("late", true)));
    let text = String::from_utf8(window.playlist().to_vec()).unwrap();
    assert!(text.ends_with("#EXT-X-ENDLIST\n"), "{text}");
    assert!(!text.contains("PRELOAD-HINT"), "{text}");
}

/// A part of `millis` that starts a segment, marked discontinuous if
/// `broken`.
fn segment_start(name: &str, millis: u64, broken: bool) -> PackagerEvent {
    let PackagerEvent::Part(template) = part(name, true) else {
        unreachable!("part() makes parts")
    };
    PackagerEvent::Part(Arc::new(Part {
        duration: Duration::from_millis(millis),
        discontinuity: broken,
        ..(*template).clone()
    }))
}

fn text(window: &Window) -> String {
    String::from_utf8(window.playlist().to_vec()).unwrap()
}

#[test]
fn target_duration_is_fixed_by_the_first_segment() {
    let mut window = fed(3, 1);
    // Segment 0 (2 s) completes: the target is 2 from now on.
    window.apply(&part("x", true));
    assert_eq!(window.target_duration(), 2);
    // A 3.5 s segment: seven parts. The tag stays (RFC 8216 §6.2.1).
    for p in 1..7 {
        window.apply(&part("x", p == 0));
    }
    window.apply(&part("y", true));
    assert_eq!(window.target_duration(), 2);
    assert!(text(&window).contains("#EXT-X-TARGETDURATION:2\n"));
    assert!(text(&window).contains("#EXTINF:3.500,\n"));
}

#[test]
fn a_long_first_segment_sets_the_target_duration_for_good() {
    let mut window = Window::new(settings(3), "w".into(), None);
    window.apply(&init("avc1.64001f"));
    // An 8.3 s keyframe interval (OBS's default): 9 from the first.
    window.apply(&segment_start("0", 8_300, false));
    assert_eq!(window.target_duration(), 2, "nothing complete yet");
    window.apply(&segment_start("1", 500, false));
    assert_eq!(window.target_duration(), 9);
    for s in 2..10 {
        window.apply(&segment_start(&format!("{s}"), 500, false));
    }
    assert_eq!(window.target_duration(), 9);
    assert!(text(&window).contains("#EXT-X-TARGETDURATION:9\n"));
}

#[test]
fn part_target_stays_configured_when_a_part_runs_over() {
    let mut window = fed(3, 1);
    window.apply(&segment_start("long", 700, false));
    window.apply(&part("next", true));
    assert_eq!(window.part_target(), Duration::from_millis(500));
    let text = text(&window);
    assert!(
        text.contains("#EXT-X-PART-INF:PART-TARGET=0.500\n"),
        "{text}"
    );
    assert!(text.contains("PART-HOLD-BACK=1.500\n"), "{text}");
    assert!(text.contains("#EXT-X-PART:DURATION=0.700,"), "{text}");
    // RFC 8216bis §6.2.5.2 from the configured target: 3 / 0.5 s.
    assert_eq!(window.advance_part_limit(), 6);
}

#[test]
fn a_discontinuity_keeps_its_number_when_it_is_listed_first() {
    let mut window = fed(3, 0);
    window.apply(&segment_start("0", 2_000, false));
    window.apply(&segment_start("1", 2_000, true));
    window.apply(&segment_start("2", 2_000, false));
    window.apply(&segment_start("3", 2_000, false));
    // Listed: 0, 1 (the discontinuity), 2; 3 open. Segment 1's number is 1.
    let before = text(&window);
    assert!(before.contains("#EXT-X-MEDIA-SEQUENCE:0\n"), "{before}");
    assert!(
        !before.contains("#EXT-X-DISCONTINUITY-SEQUENCE"),
        "{before}"
    );
    assert!(before.contains("#EXT-X-DISCONTINUITY\n"), "{before}");
    window.apply(&segment_start("4", 2_000, false));
    // Listed first now: the sequence is its own number (RFC 8216
    // §4.4.3.3), 1, and no tag comes before it, so strict readers and
    // hls.js (which counts a leading tag) both keep it at 1.
    let listed = text(&window);
    assert!(listed.contains("#EXT-X-MEDIA-SEQUENCE:1\n"), "{listed}");
    assert!(
        listed.contains("#EXT-X-DISCONTINUITY-SEQUENCE:1\n"),
        "{listed}"
    );
    assert!(!listed.contains("#EXT-X-DISCONTINUITY\n"), "{listed}");
    // Once it leaves, the sequence still says 1 for the next one.
    window.apply(&segment_start("5", 2_000, false));
    let slid = text(&window);
    assert!(slid.contains("#EXT-X-MEDIA-SEQUENCE:2\n"), "{slid}");
    assert!(slid.contains("#EXT-X-DISCONTINUITY-SEQUENCE:1\n"), "{slid}");
    assert!(!slid.contains("#EXT-X-DISCONTINUITY\n"), "{slid}");
}

#[test]
fn a_continuing_window_goes_on_from_the_last_with_a_discontinuity() {
    let mut old = fed(3, 0);
    for s in 0..6 {
        old.apply(&segment_start(&format!("{s}"), 2_000, s == 4));
    }
    // Listed 2, 3, 4 (a discontinuity); 5 open, its parts listed.
    assert_eq!(
        old.continuation(),
        Continuation {
            next_msn: 6,
            discontinuity_sequence: 1,
            target_duration: Some(2),
        }
    );
    let mut new = Window::new(settings(3), "w2".into(), Some(old.continuation()));
    assert_eq!(new.continuation(), old.continuation(), "nothing yet");
    new.apply(&init("avc1.64001f"));
    new.apply(&segment_start("a", 2_000, false));
    new.apply(&segment_start("b", 2_000, false));
    let text = text(&new);
    assert!(text.contains("#EXT-X-MEDIA-SEQUENCE:6\n"), "{text}");
    // Its first segment is a discontinuity, listed first: its number is
    // the sequence, one past the old window's.
    assert!(text.contains("#EXT-X-DISCONTINUITY-SEQUENCE:2\n"), "{text}");
    assert!(!text.contains("#EXT-X-DISCONTINUITY\n"), "{text}");
    assert!(
        text.contains("#EXT-X-MAP:URI=\"w2/init-0.mp4\"\n"),
        "{text}"
    );
    assert!(text.contains("w2/seg-6.m4s\n"), "{text}");
    assert!(matches!(new.segment(6), Media::Parts(_)));
    assert_eq!(new.segment(5), Media::Missing);
    assert_eq!(
        new.continuation(),
        Continuation {
            next_msn: 8,
            discontinuity_sequence: 2,
            target_duration: Some(2),
        }
    );
}

#[test]
fn a_segment_is_served_from_its_parts_bytes_not_a_copy() {
    let window = fed(6, 2);
    let Media::Parts(served) = window.segment(0) else {
        panic!("segment 0 is complete");
    };
    let held = &window.find(0).unwrap().parts;
    assert_eq!(served.len(), held.len());
    for (served, held) in served.iter().zip(held) {
        assert_eq!(served.as_ptr(), held.bytes.as_ptr());
    }
}

#[test]
fn a_continuing_window_keeps_the_target_duration_of_the_last() {
    let mut old = fed(3, 0);
    // A stream of 4 s GOPs: its first segment fixes the target at 4.
    for s in 0..3 {
        old.apply(&segment_start(&format!("{s}"), 4_000, false));
    }
    assert_eq!(old.target_duration(), 4);
    let mut new = Window::new(settings(3), "w2".into(), Some(old.continuation()));
    new.apply(&init("avc1.64001f"));
    new.apply(&segment_start("a", 2_000, false));
    new.apply(&segment_start("b", 2_000, false));
    assert_eq!(
        new.target_duration(),
        4,
        "the same playlist URI keeps its tag"
    );
    assert!(text(&new).contains("#EXT-X-TARGETDURATION:4\n"));
}
