//! The media playlist's text (RFC 8216bis, LL-HLS), rendered once per
//! window change; and the one per-request rewrite, a viewer's token
//! appended to every URI.

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::time::{Duration, SystemTime};

use bytes::Bytes;

use super::window::Segment;

/// `EXT-X-VERSION`: 6 for `EXT-X-MAP` in a playlist without
/// `EXT-X-I-FRAMES-ONLY` (RFC 8216bis §4.4.4.5); no tag used needs more.
const VERSION: u32 = 6;

/// Part tags are listed for segments starting within this many target
/// durations of the playlist's end (RFC 8216bis §4.4.4.9 says parts older
/// than three target durations should go).
const PART_TARGET_DURATIONS: u32 = 3;

/// What a playlist shows of a window.
pub(super) struct View<'a> {
    pub(super) tag: &'a str,
    pub(super) target_duration: u64,
    pub(super) part_target: Duration,
    pub(super) discontinuity_sequence: u64,
    pub(super) segments: &'a VecDeque<Segment>,
    pub(super) hint: Option<(u64, u64)>,
    pub(super) ended: bool,
}

/// The media playlist of `view`.
pub(super) fn render(view: &View<'_>) -> Bytes {
    let mut text = String::with_capacity(256 + view.segments.len() * 512);
    let tag = view.tag;
    // Writing to a String cannot fail.
    let _ = write!(
        text,
        "#EXTM3U\n#EXT-X-VERSION:{VERSION}\n#EXT-X-TARGETDURATION:{}\n",
        view.target_duration
    );
    let _ = writeln!(
        text,
        "#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK={}",
        seconds(view.part_target * 3)
    );
    let _ = writeln!(
        text,
        "#EXT-X-PART-INF:PART-TARGET={}",
        seconds(view.part_target)
    );
    let first_msn = view.segments.front().map_or(0, |segment| segment.msn);
    let _ = writeln!(text, "#EXT-X-MEDIA-SEQUENCE:{first_msn}");
    // EXT-X-DISCONTINUITY-SEQUENCE is the first listed segment's own
    // discontinuity number (RFC 8216 §4.4.3.3): the tags that left, plus
    // that segment's own, which is then not written before it. Strict
    // readers and hls.js alike keep every segment's number across reloads.
    let leading = view
        .segments
        .front()
        .is_some_and(|segment| segment.discontinuity);
    let discontinuity_sequence = view.discontinuity_sequence + u64::from(leading);
    if discontinuity_sequence > 0 {
        let _ = writeln!(
            text,
            "#EXT-X-DISCONTINUITY-SEQUENCE:{discontinuity_sequence}"
        );
    }
    let parts_within = Duration::from_secs(view.target_duration) * PART_TARGET_DURATIONS;
    // From each segment's start to the playlist's end.
    let mut to_end: Duration = view.segments.iter().map(|segment| segment.duration).sum();
    let mut map = None;
    for (index, segment) in view.segments.iter().enumerate() {
        if segment.discontinuity && index > 0 {
            text.push_str("#EXT-X-DISCONTINUITY\n");
        }
        if map != Some(segment.init) {
            let _ = writeln!(text, "#EXT-X-MAP:URI=\"{tag}/init-{}.mp4\"", segment.init);
            map = Some(segment.init);
        }
        let _ = writeln!(
            text,
            "#EXT-X-PROGRAM-DATE-TIME:{}",
            rfc3339(segment.program_date_time)
        );
        if to_end <= parts_within || !segment.is_complete() {
            for (index, part) in segment.parts.iter().enumerate() {
                let _ = write!(
                    text,
                    "#EXT-X-PART:DURATION={},URI=\"{tag}/part-{}-{index}.m4s\"",
                    seconds(part.duration),
                    segment.msn
                );
                text.push_str(if part.independent {
                    ",INDEPENDENT=YES\n"
                } else {
                    "\n"
                });
            }
        }
        if segment.is_complete() {
            let _ = write!(
                text,
                "#EXTINF:{},\n{tag}/seg-{}.m4s\n",
                seconds(segment.duration),
                segment.msn
            );
        }
        to_end = to_end.saturating_sub(segment.duration);
    }
    if let Some((msn, index)) = view.hint {
        let _ = writeln!(
            text,
            "#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"{tag}/part-{msn}-{index}.m4s\""
        );
    }
    if view.ended {
        text.push_str("#EXT-X-ENDLIST\n");
    }
    Bytes::from(text)
}

/// `playlist` with `?token=<token>` (percent-encoded) on every URI: the
/// bare URI lines and each `URI="…"` attribute.
pub(super) fn with_token(playlist: &[u8], token: &str) -> Bytes {
    let query = format!("?token={}", percent_encode(token));
    let text = String::from_utf8_lossy(playlist);
    let mut out = String::with_capacity(text.len() + text.len() / 8);
    for line in text.lines() {
        if line.is_empty() {
        } else if !line.starts_with('#') {
            out.push_str(line);
            out.push_str(&query);
        } else {
            let mut rest = line;
            while let Some(start) = rest.find("URI=\"") {
                let value = start + "URI=\"".len();
                let Some(length) = rest[value..].find('"') else {
                    break;
                };
                out.push_str(&rest[..value + length]);
                out.push_str(&query);
                rest = &rest[value + length..];
            }
            out.push_str(rest);
        }
        out.push('\n');
    }
    Bytes::from(out)
}

/// RFC 3986 unreserved characters stay; every other byte is `%XX`.
fn percent_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            let _ = write!(out, "%{byte:02X}");
        }
    }
    out
}

/// A duration as decimal seconds with milliseconds (`2.000`).
fn seconds(duration: Duration) -> String {
    format!("{}.{:03}", duration.as_secs(), duration.subsec_millis())
}

/// `time` as RFC 3339 UTC with milliseconds (`2023-11-14T22:13:20.000Z`),
/// as `EXT-X-PROGRAM-DATE-TIME` wants (RFC 8216bis §4.4.4.6). Times before
/// 1970 are written as 1970.
pub(super) fn rfc3339(time: SystemTime) -> String {
    let since = time
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    let days = since.as_secs() / 86_400;
    let of_day = since.as_secs() % 86_400;
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        of_day / 3600,
        of_day / 60 % 60,
        of_day % 60,
        since.subsec_millis()
    )
}

/// The proleptic Gregorian date `days` after 1970-01-01 (Howard Hinnant's
/// `civil_from_days`, for non-negative days).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let day_of_era = z % 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = year_of_era + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::outputs::hls::window::{Window, WindowSettings};
    use crate::outputs::packager::{InitSegment, PackagerEvent, Part};

    const T0: u64 = 1_700_000_000;

    fn part(at_ms: u64, starts: bool) -> PackagerEvent {
        PackagerEvent::Part(Arc::new(Part {
            bytes: Bytes::from_static(b"p"),
            duration: Duration::from_millis(500),
            independent: starts,
            starts_segment: starts,
            discontinuity: false,
            program_date_time: SystemTime::UNIX_EPOCH
                + Duration::from_secs(T0)
                + Duration::from_millis(at_ms),
        }))
    }

    fn window(segments: usize, parts_in_open: usize) -> Window {
        let mut window = Window::new(
            WindowSettings {
                segment_target: Duration::from_secs(2),
                part_target: Duration::from_millis(500),
                window_segments: 3,
            },
            "7-1".into(),
            None,
        );
        window.apply(&PackagerEvent::Init(Arc::new(InitSegment {
            bytes: Bytes::from_static(b"init"),
            codecs: "avc1.64001f,opus".into(),
            resolution: Some((1280, 720)),
        })));
        let mut at = 0;
        for _ in 0..segments {
            for p in 0..4 {
                window.apply(&part(at, p == 0));
                at += 500;
            }
        }
        for p in 0..parts_in_open {
            window.apply(&part(at, p == 0));
            at += 500;
        }
        window
    }

    #[test]
    fn the_playlist_is_exactly_this() {
        let text = String::from_utf8(window(5, 2).playlist().to_vec()).unwrap();
        let mut expected = String::from(
            "#EXTM3U\n\
             #EXT-X-VERSION:6\n\
             #EXT-X-TARGETDURATION:2\n\
             #EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=1.500\n\
             #EXT-X-PART-INF:PART-TARGET=0.500\n\
             #EXT-X-MEDIA-SEQUENCE:2\n\
             #EXT-X-MAP:URI=\"7-1/init-0.mp4\"\n\
             #EXT-X-PROGRAM-DATE-TIME:2023-11-14T22:13:24.000Z\n\
             #EXTINF:2.000,\n7-1/seg-2.m4s\n\
             #EXT-X-PROGRAM-DATE-TIME:2023-11-14T22:13:26.000Z\n",
        );
        // Segments 3 and 4 and the open 5 are within three target durations.
        for msn in 3..=4 {
            for index in 0..4 {
                expected.push_str(&format!(
                    "#EXT-X-PART:DURATION=0.500,URI=\"7-1/part-{msn}-{index}.m4s\"{}\n",
                    if index == 0 { ",INDEPENDENT=YES" } else { "" }
                ));
            }
            expected.push_str(&format!("#EXTINF:2.000,\n7-1/seg-{msn}.m4s\n"));
            if msn == 3 {
                expected.push_str("#EXT-X-PROGRAM-DATE-TIME:2023-11-14T22:13:28.000Z\n");
            }
        }
        expected.push_str(
            "#EXT-X-PROGRAM-DATE-TIME:2023-11-14T22:13:30.000Z\n\
             #EXT-X-PART:DURATION=0.500,URI=\"7-1/part-5-0.m4s\",INDEPENDENT=YES\n\
             #EXT-X-PART:DURATION=0.500,URI=\"7-1/part-5-1.m4s\"\n\
             #EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"7-1/part-5-2.m4s\"\n",
        );
        assert_eq!(text, expected);
    }

    #[test]
    fn an_ended_playlist_lists_its_last_segment_and_ends() {
        let mut window = window(1, 2);
        window.apply(&PackagerEvent::Ended);
        let text = String::from_utf8(window.playlist().to_vec()).unwrap();
        assert!(
            text.ends_with("#EXTINF:1.000,\n7-1/seg-1.m4s\n#EXT-X-ENDLIST\n"),
            "{text}"
        );
    }

    #[test]
    fn tokens_reach_every_uri_encoded() {
        let playlist = b"#EXTM3U\n#EXT-X-MAP:URI=\"w/init-0.mp4\"\n#EXT-X-PART:DURATION=0.500,URI=\"w/part-0-0.m4s\",INDEPENDENT=YES\n#EXTINF:2.000,\nw/seg-0.m4s\n#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"w/part-1-0.m4s\"\n";
        let text = with_token(playlist, "a b&c=d/é");
        let q = "?token=a%20b%26c%3Dd%2F%C3%A9";
        assert_eq!(
            String::from_utf8(text.to_vec()).unwrap(),
            format!(
                "#EXTM3U\n#EXT-X-MAP:URI=\"w/init-0.mp4{q}\"\n#EXT-X-PART:DURATION=0.500,URI=\"w/part-0-0.m4s{q}\",INDEPENDENT=YES\n#EXTINF:2.000,\nw/seg-0.m4s{q}\n#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"w/part-1-0.m4s{q}\"\n"
            )
        );
    }

    #[test]
    fn dates_are_rfc3339_utc() {
        let at = |secs: u64, millis: u64| {
            rfc3339(
                SystemTime::UNIX_EPOCH + Duration::from_secs(secs) + Duration::from_millis(millis),
            )
        };
        assert_eq!(at(0, 0), "1970-01-01T00:00:00.000Z");
        assert_eq!(at(951_782_400, 7), "2000-02-29T00:00:00.007Z");
        assert_eq!(at(1_709_251_199, 999), "2024-02-29T23:59:59.999Z");
        assert_eq!(at(4_102_444_800, 0), "2100-01-01T00:00:00.000Z");
        assert_eq!(
            rfc3339(SystemTime::UNIX_EPOCH - Duration::from_secs(5)),
            "1970-01-01T00:00:00.000Z"
        );
    }
}
