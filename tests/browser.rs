//! A real Chromium (Debian's `chromium`) plays an FTL-published stream and
//! an RTMP-published one (FFmpeg, AAC transcoded to Opus) from the player
//! page over WHEP: frames decode, the picture has the clip's size, the
//! audio decodes. This is what proves browsers interoperate, not our own str0m peers.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a failed unwrap in a test is a failed test"
)]

mod common;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::chromium::{CHROMIUM, Chromium};
use common::clients::{self, FtlPublisher};
use common::ffmpeg::{FfmpegPublisher, rtmp_url};
use common::media::{h264_clip, opus_packets};

/// Streams the clip and the Opus file in a loop, in real time, until stopped.
fn publish_in_a_loop(publisher: FtlPublisher, stop: Arc<AtomicBool>) -> FtlPublisher {
    let video = h264_clip();
    let audio = opus_packets();
    let clip_frames = video.last().unwrap().timestamp / 3000 + 1;
    let start = Instant::now();
    let (mut sequence, mut audio_sequence, mut lap) = (0u16, 0u16, 0u32);
    while !stop.load(Ordering::Acquire) {
        let base = lap * clip_frames;
        for packet in &video {
            let frame = base + packet.timestamp / 3000;
            let due = Duration::from_millis(u64::from(frame) * 1000 / 30);
            while start.elapsed() < due {
                std::thread::sleep(Duration::from_millis(1));
            }
            let timestamp = frame * 3000;
            publisher
                .send_numbered_video(sequence, timestamp, packet.marker, &packet.payload)
                .unwrap();
            sequence = sequence.wrapping_add(1);
            while u64::from(audio_sequence) * 20 <= start.elapsed().as_millis() as u64 {
                let opus = &audio[usize::from(audio_sequence) % audio.len()];
                publisher
                    .send_numbered_audio(audio_sequence, u32::from(audio_sequence) * 960, opus)
                    .unwrap();
                audio_sequence = audio_sequence.wrapping_add(1);
            }
            if stop.load(Ordering::Acquire) {
                break;
            }
        }
        lap += 1;
    }
    publisher
}

#[test]
fn chromium_plays_an_ftl_stream_from_the_player_page() {
    assert!(
        Path::new(CHROMIUM).exists(),
        "the browser tests need Debian's chromium package"
    );
    let node = common::start_node(2);
    let key = node.service().example_stream_key("123").unwrap();
    let publisher = clients::ftl_publisher(node.ftl_addr(), &key).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let streaming = {
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || publish_in_a_loop(publisher, stop))
    };

    let mut browser = Chromium::open(&format!("http://{}/stream/123", node.http_addr()));

    let frames_decoded = r#"(async () => {
        if (!window.waveguide) return -1;
        const stats = await window.waveguide.pc.getStats();
        let frames = 0;
        stats.forEach((r) => { if (r.type === "inbound-rtp" && r.kind === "video") frames = r.framesDecoded || 0; });
        return frames;
    })()"#;
    let mut read_frames = || browser.evaluate(frames_decoded).as_i64().unwrap_or(-1);
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut first = 0;
    while Instant::now() < deadline && first <= 0 {
        first = read_frames();
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(
        first > 0,
        "Chromium decoded no frame (framesDecoded = {first})"
    );
    let mut later = first;
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline && later < first + 30 {
        std::thread::sleep(Duration::from_millis(200));
        later = read_frames();
    }
    assert!(
        later >= first + 30,
        "framesDecoded grows: {first} then {later}"
    );

    let size = browser.evaluate(r#"(() => { const v = document.getElementById("video"); return `${v.videoWidth}x${v.videoHeight}`; })()"#);
    assert_eq!(size.as_str(), Some("320x240"));

    stop.store(true, Ordering::Release);
    let publisher = streaming.join().unwrap();
    publisher.disconnect();
    drop(browser);
    node.stop();
}

/// `getStats()` of the page's connection: the video inbound or outbound
/// counter named `field`, or -1.
fn video_stat(browser: &mut Chromium, direction: &str, field: &str) -> i64 {
    media_stat(browser, direction, "video", field) as i64
}

/// `getStats()` of the page's connection: the `kind` inbound or outbound
/// value named `field`, or -1.
fn media_stat(browser: &mut Chromium, direction: &str, kind: &str, field: &str) -> f64 {
    let script = format!(
        r#"(async () => {{
            if (!window.waveguide) return -1;
            const stats = await window.waveguide.pc.getStats();
            let value = 0;
            stats.forEach((r) => {{ if (r.type === "{direction}" && r.kind === "{kind}") value = r.{field} || 0; }});
            return value;
        }})()"#
    );
    browser.evaluate(&script).as_f64().unwrap_or(-1.0)
}

#[test]
fn chromium_plays_an_rtmp_stream_with_its_transcoded_audio() {
    assert!(
        Path::new(CHROMIUM).exists(),
        "the browser tests need Debian's chromium package"
    );
    let node = common::start_node(2);
    let key = node.service().example_stream_key("123").unwrap();
    let _ffmpeg = FfmpegPublisher::start(&rtmp_url(&node, &key), 40, 44_100, 2);
    common::wait_until_watchable(&node, "123", || {
        std::thread::sleep(Duration::from_millis(50))
    });
    let mut player = Chromium::open(&format!("http://{}/stream/123", node.http_addr()));
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut frames = 0;
    while frames < 60 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
        frames = video_stat(&mut player, "inbound-rtp", "framesDecoded");
    }
    assert!(frames >= 60, "Chromium decoded {frames} frames");
    let size = player.evaluate(r#"(() => { const v = document.getElementById("video"); return `${v.videoWidth}x${v.videoHeight}`; })()"#);
    assert_eq!(size.as_str(), Some("320x240"));
    // The AAC became Opus Chromium decodes: samples arrive, mostly real
    // (not concealment), and the tone is loud once the player is unmuted
    // (a muted element plays nothing, so nothing is measured).
    player.evaluate(r#"(() => { const v = document.getElementById("video"); v.muted = false; v.play(); return true; })()"#);
    std::thread::sleep(Duration::from_secs(2));
    let received = media_stat(&mut player, "inbound-rtp", "audio", "totalSamplesReceived");
    let concealed = media_stat(&mut player, "inbound-rtp", "audio", "concealedSamples");
    let energy = media_stat(&mut player, "inbound-rtp", "audio", "totalAudioEnergy");
    eprintln!(
        "Chromium audio: {received} samples received, {concealed} concealed, energy {energy}"
    );
    assert!(
        received > 48_000.0,
        "over a second of audio: {received} samples"
    );
    assert!(
        concealed < received / 4.0,
        "{concealed} of {received} samples concealed"
    );
    // FFmpeg's sine has amplitude 1/8: 0.0078 of energy per second played.
    assert!(energy > 0.005, "the tone is heard: energy {energy}");
    drop(player);
    node.stop();
}

#[test]
fn chromium_publishes_over_whip_and_chromium_and_str0m_watch() {
    assert!(
        Path::new(CHROMIUM).exists(),
        "the browser tests need Debian's chromium package"
    );
    let node = common::start_node(2);
    let key = node.service().example_stream_key("123").unwrap();
    let mut camera = Chromium::open(&format!(
        "http://{}/publish/123#key={key}",
        node.http_addr()
    ));

    // The fake camera's H.264 reaches the node and its SPS is read.
    let deadline = Instant::now() + Duration::from_secs(30);
    while node
        .engine()
        .stream("123")
        .and_then(|s| s.sps().copied())
        .is_none()
    {
        let error = camera.evaluate("window.waveguideError || null");
        assert!(error.is_null(), "the publish page failed: {error}");
        assert!(Instant::now() < deadline, "no H.264 keyframe from Chromium");
        std::thread::sleep(Duration::from_millis(100));
    }
    let cipher = camera.evaluate(
        r#"(async () => { let c = ""; (await window.waveguide.pc.getStats()).forEach((r) => { if (r.type === "transport") c = r.srtpCipher; }); return c; })()"#,
    );
    eprintln!("Chromium's SRTP cipher as publisher: {cipher}");
    assert!(cipher.as_str().is_some_and(|c| !c.is_empty()));

    // A str0m viewer gets H.264 from a keyframe on.
    let (mut viewer, offer) = clients::viewer();
    let response = common::http::whep_offer(node.http_addr(), "123", &offer);
    assert_eq!(response.status, 201, "{}", response.body);
    viewer.accept_answer(&response.body).unwrap();
    viewer.run(Duration::from_secs(15), |v| v.video().len() >= 60);
    let video = viewer.video();
    assert!(
        video.len() >= 60,
        "str0m viewer got {} video packets",
        video.len()
    );
    assert!(
        codec::h264::is_keyframe(&video[0].payload),
        "the first packet starts a keyframe"
    );

    // A second Chromium plays it from the player page.
    let mut player = Chromium::open(&format!("http://{}/stream/123", node.http_addr()));
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut frames = video_stat(&mut player, "inbound-rtp", "framesDecoded");
    while frames < 30 && Instant::now() < deadline {
        viewer.run(Duration::from_millis(200), |_| false);
        frames = video_stat(&mut player, "inbound-rtp", "framesDecoded");
    }
    assert!(frames >= 30, "the Chromium viewer decoded {frames} frames");
    let size = player.evaluate(r#"(() => { const v = document.getElementById("video"); return v.videoWidth * v.videoHeight; })()"#);
    assert!(
        size.as_i64().is_some_and(|pixels| pixels > 0),
        "the picture has a size: {size}"
    );
    drop(player);
    drop(camera);
    node.stop();
}
