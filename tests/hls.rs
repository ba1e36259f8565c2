//! HLS out, end to end, read by clients no one here wrote: Debian's
//! `ffmpeg` and `ffprobe` play the live LL-HLS playlist of a stream
//! published over FTL (the load tool's client), RTMP (FFmpeg) and WHIP
//! (the load tool's str0m publisher); a blocking playlist reload is held
//! until its part exists; every segment starts at a keyframe.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a failed unwrap in a test is a failed test"
)]

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use common::ffmpeg::{FFMPEG, FfmpegPublisher, rtmp_url};
use common::http::{self, wait_for_playlist};
use common::looping::Looping;
use serde_json::Value;
use waveguide_load::ftl_publisher::FtlPublisher;

const FFPROBE: &str = "/usr/bin/ffprobe";

fn playlist_url(node: &waveguide::Node, channel: &str) -> String {
    format!("http://{}/hls/{channel}/index.m3u8", node.http_addr())
}

/// `ffmpeg` reads `seconds` of the live playlist and decodes every frame:
/// its error log, which must be empty.
fn decode_live(url: &str, seconds: u32) -> String {
    let output = Command::new(FFMPEG)
        .args(["-hide_banner", "-nostdin", "-v", "error", "-i", url])
        .args(["-t", &seconds.to_string(), "-f", "null", "-"])
        .output()
        .unwrap_or_else(|e| panic!("{FFMPEG}: {e} (tests/all.sh installs Debian's ffmpeg)"));
    assert!(output.status.success(), "ffmpeg failed on {url}");
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Every segment `playlist` lists, fetched with its initialization
/// segment before it (so each plays on its own) into files of a fresh
/// directory named after `tag`: the directory and each segment's URI and
/// file.
fn playable_segments(
    addr: std::net::SocketAddr,
    channel: &str,
    playlist: &MediaPlaylist,
    tag: &str,
) -> (PathBuf, Vec<(String, PathBuf)>) {
    let init = http::request(
        addr,
        "GET",
        &format!("/hls/{channel}/{}", playlist.map),
        &[],
        b"",
    );
    assert_eq!(init.status, 200, "{}", playlist.map);
    let dir = std::env::temp_dir().join(format!("waveguide-hls-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let files = (0..)
        .zip(&playlist.segments)
        .map(|(index, uri)| {
            let segment = http::request(addr, "GET", &format!("/hls/{channel}/{uri}"), &[], b"");
            assert_eq!(segment.status, 200, "{uri}");
            let file = dir.join(format!("segment-{index}.mp4"));
            std::fs::write(&file, [init.bytes.as_slice(), &segment.bytes].concat()).unwrap();
            (uri.clone(), file)
        })
        .collect();
    (dir, files)
}

/// The clip's picture, as ffprobe reads it: H.264, 320x240.
fn assert_clip_video(probed: &Value) {
    let video = stream_of(probed, "video");
    assert_eq!(video["codec_name"], "h264");
    assert_eq!(
        (video["width"].as_u64(), video["height"].as_u64()),
        (Some(320), Some(240))
    );
}

/// `ffprobe` of the first seconds of a live playlist (it never ends): its
/// streams and format, frames counted.
fn probe(target: &str) -> Value {
    let output = Command::new(FFPROBE)
        .args([
            "-v",
            "error",
            "-count_frames",
            "-show_streams",
            "-show_format",
        ])
        .args(["-read_intervals", "%+4", "-of", "json", target])
        .output()
        .unwrap_or_else(|e| panic!("{FFPROBE}: {e} (tests/all.sh installs Debian's ffmpeg)"));
    assert!(
        output.status.success(),
        "ffprobe failed on {target}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

fn stream_of<'a>(probe: &'a Value, kind: &str) -> &'a Value {
    probe["streams"]
        .as_array()
        .unwrap()
        .iter()
        .find(|stream| stream["codec_type"] == kind)
        .unwrap_or_else(|| panic!("no {kind} stream in {probe}"))
}

/// The playlist's media sequence number, its full segments' URIs and the
/// parts after the last of them (the open segment's).
struct MediaPlaylist {
    media_sequence: u64,
    map: String,
    segments: Vec<String>,
    open_parts: usize,
}

fn parse(playlist: &str) -> MediaPlaylist {
    let mut parsed = MediaPlaylist {
        media_sequence: 0,
        map: String::new(),
        segments: Vec::new(),
        open_parts: 0,
    };
    let mut after_extinf = false;
    for line in playlist.lines() {
        if let Some(value) = line.strip_prefix("#EXT-X-MEDIA-SEQUENCE:") {
            parsed.media_sequence = value.parse().unwrap();
        } else if let Some(value) = line.strip_prefix("#EXT-X-MAP:URI=\"") {
            parsed.map = value.trim_end_matches('"').to_owned();
        } else if line.starts_with("#EXTINF:") {
            after_extinf = true;
        } else if line.starts_with("#EXT-X-PART:") {
            parsed.open_parts += 1;
        } else if !line.starts_with('#') && !line.is_empty() && after_extinf {
            parsed.segments.push(line.to_owned());
            parsed.open_parts = 0;
            after_extinf = false;
        }
    }
    parsed
}

#[test]
fn ffmpeg_plays_the_live_playlist_of_an_ftl_stream() {
    let node = common::start_node(2);
    let _stream = Looping::ftl(&node, "123");
    let playlist = wait_for_playlist(node.http_addr(), "123");
    for tag in [
        "#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES",
        "#EXT-X-PART-INF:PART-TARGET=",
        "#EXT-X-PROGRAM-DATE-TIME:",
        "#EXT-X-PRELOAD-HINT:TYPE=PART",
    ] {
        assert!(playlist.contains(tag), "no {tag} in\n{playlist}");
    }
    let url = playlist_url(&node, "123");
    let errors = decode_live(&url, 6);
    assert!(errors.is_empty(), "ffmpeg reported errors:\n{errors}");
    let probed = probe(&url);
    assert_clip_video(&probed);
    let video = stream_of(&probed, "video");
    let frames: u64 = video["nb_read_frames"].as_str().unwrap().parse().unwrap();
    assert!(frames >= 60, "ffprobe read only {frames} frames from {url}");
    assert_eq!(stream_of(&probed, "audio")["codec_name"], "opus");
}

#[test]
fn ffmpeg_plays_the_live_playlist_of_an_rtmp_stream() {
    let node = common::start_node(2);
    let key = node.service().example_stream_key("777").unwrap();
    let _publisher = FfmpegPublisher::start(&rtmp_url(&node, &key), 60, 44_100, 2);
    wait_for_playlist(node.http_addr(), "777");
    let url = playlist_url(&node, "777");
    let errors = decode_live(&url, 5);
    assert!(errors.is_empty(), "ffmpeg reported errors:\n{errors}");
    let probed = probe(&url);
    assert_clip_video(&probed);
    let audio = stream_of(&probed, "audio");
    assert!(
        audio["codec_name"] == "aac" || audio["codec_name"] == "opus",
        "{audio}"
    );
}

#[test]
fn every_segment_starts_with_a_keyframe_and_holds_whole_gops() {
    let node = common::start_node(1);
    let _stream = Looping::ftl(&node, "124");
    let addr = node.http_addr();
    wait_for_playlist(addr, "124");
    // Wait for three whole segments.
    let deadline = Instant::now() + Duration::from_secs(20);
    let playlist = loop {
        let playlist = parse(&wait_for_playlist(addr, "124"));
        if playlist.segments.len() >= 3 {
            break playlist;
        }
        assert!(Instant::now() < deadline, "fewer than 3 segments");
        std::thread::sleep(Duration::from_millis(500));
    };
    let (dir, files) = playable_segments(addr, "124", &playlist, "gops");
    for (uri, file) in &files {
        let output = Command::new(FFPROBE)
            .args(["-v", "error", "-select_streams", "v", "-show_entries"])
            .args(["frame=key_frame", "-of", "csv=p=0"])
            .arg(file)
            .output()
            .unwrap();
        let keys: Vec<&str> = std::str::from_utf8(&output.stdout)
            .unwrap()
            .lines()
            // One line per frame, `1` or `0` (a frame with side data, such
            // as x264's SEI, gets a trailing comma and a line of its own).
            .filter_map(|line| line.split(',').next())
            .filter(|key| *key == "0" || *key == "1")
            .collect();
        assert_eq!(
            keys.first(),
            Some(&"1"),
            "{uri} does not start with a keyframe"
        );
        // The clip has a keyframe every 30 frames: a segment is whole GOPs.
        assert!(
            !keys.is_empty() && keys.len().is_multiple_of(30),
            "{uri} holds {} frames",
            keys.len()
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_blocking_reload_is_held_until_its_part_exists() {
    let node = common::start_node(1);
    let _stream = Looping::ftl(&node, "125");
    let addr = node.http_addr();
    let now = parse(&wait_for_playlist(addr, "125"));
    // The part after the newest one listed: it does not exist yet.
    let msn = now.media_sequence + now.segments.len() as u64;
    let part = now.open_parts;
    let asked = Instant::now();
    let response = http::request(
        addr,
        "GET",
        &format!("/hls/125/index.m3u8?_HLS_msn={msn}&_HLS_part={part}"),
        &[],
        b"",
    );
    let waited = asked.elapsed();
    assert_eq!(response.status, 200, "{}", response.body);
    let after = parse(&response.body);
    let listed = after.media_sequence + after.segments.len() as u64;
    assert!(
        listed > msn || (listed == msn && after.open_parts > part),
        "the answer lacks part {msn}.{part}:\n{}",
        response.body
    );
    // Held, not refused, and released by that part, not by the segment
    // (2 s): a part lasts at most its target (0.5 s by default); the rest of
    // the bound is room for a loaded machine.
    assert!(waited < Duration::from_millis(1500), "held {waited:?}");
}

#[test]
fn ffmpeg_plays_the_live_playlist_of_a_whip_stream() {
    let node = common::start_node(2);
    let (mut publisher, offer) = common::clients::whip_publisher();
    let response = common::http::request(
        node.http_addr(),
        "POST",
        "/whip/endpoint/126",
        &[
            ("Content-Type", "application/sdp"),
            (
                "Authorization",
                &format!(
                    "Bearer {}",
                    node.service().example_stream_key("126").unwrap()
                ),
            ),
        ],
        offer.as_bytes(),
    );
    assert_eq!(response.status, 201, "{}", response.body);
    publisher.accept_answer(&response.body).unwrap();
    let stream = Looping::start(publisher);
    wait_for_playlist(node.http_addr(), "126");
    let url = playlist_url(&node, "126");
    let errors = decode_live(&url, 4);
    drop(stream);
    assert!(errors.is_empty(), "ffmpeg reported errors:\n{errors}");
}

/// The FTL publisher on a lossy path: video packets numbered here, those in
/// `lost` never sent and their NACKs never answered.
struct LossyPath {
    publisher: FtlPublisher,
    sequence: u16,
    lost: std::ops::Range<u16>,
}

impl waveguide_load::publisher::MediaSink for LossyPath {
    fn send_video(&mut self, timestamp: u32, marker: bool, payload: &[u8]) {
        self.sequence = self.sequence.wrapping_add(1);
        if !self.lost.contains(&self.sequence) {
            let _ = self
                .publisher
                .send_numbered_video(self.sequence, timestamp, marker, payload);
        }
    }

    fn send_audio(&mut self, timestamp: u32, payload: &[u8]) {
        self.publisher.send_audio(timestamp, payload);
    }

    fn serve_until(&mut self, until: Instant) {
        std::thread::sleep(until.saturating_duration_since(Instant::now()));
    }

    fn stats(&self) -> waveguide_load::publisher::PublisherStats {
        self.publisher.stats()
    }
}

#[test]
fn lost_packets_start_a_new_segment_at_the_next_keyframe_and_no_sample_is_damaged() {
    let node = common::start_node(1);
    let addr = node.http_addr();
    let key = node.service().example_stream_key("127").unwrap();
    let publisher = FtlPublisher::connect(node.ftl_addr(), &key).expect("FTL handshake");
    // About six seconds in, in the middle of a GOP.
    let stream = Looping::start(LossyPath {
        publisher,
        sequence: 0,
        lost: 700..704,
    });
    wait_for_playlist(addr, "127");
    let deadline = Instant::now() + Duration::from_secs(30);
    let playlist = loop {
        let text = wait_for_playlist(addr, "127");
        let parsed = parse(&text);
        // The discontinuity, and a whole segment after it.
        if let Some(at) = text.find("#EXT-X-DISCONTINUITY\n")
            && text[at..].matches("#EXTINF:").count() >= 2
        {
            break parsed;
        }
        assert!(Instant::now() < deadline, "no discontinuity in\n{text}");
        std::thread::sleep(Duration::from_millis(300));
    };
    // Fetched while the stream goes on: its end would close the open
    // segment and slide the oldest listed one out of the window.
    let (dir, files) = playable_segments(addr, "127", &playlist, "loss");
    drop(stream);
    for (uri, file) in &files {
        let output = Command::new(FFMPEG)
            .args(["-hide_banner", "-nostdin", "-v", "error", "-i"])
            .arg(file)
            .args(["-f", "null", "-"])
            .output()
            .unwrap();
        let errors = String::from_utf8_lossy(&output.stderr);
        assert!(
            output.status.success() && errors.is_empty(),
            "{uri} does not decode cleanly: {errors}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
