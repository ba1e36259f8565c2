//! Recording to disk, end to end, checked by Debian's `ffprobe`: the
//! recording of a published clip has the clip's frames, duration and
//! codecs; an RTMP publish is recorded with its AAC as it came; a server
//! killed with SIGKILL leaves a file that still plays up to its last
//! fragment. The recordings are listed and downloaded over the API.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a failed unwrap in a test is a failed test"
)]

mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::clients;
use common::clip_pacer::ClipPacer;
use common::cluster::{free_port, spawn_binary};
use common::ffmpeg::{FFMPEG, FfmpegPublisher, rtmp_url};
use common::http;
use common::looping::Looping;
use common::media::{h264_clip, opus_packets};
use serde_json::Value;
use waveguide::control::service::Service;
use waveguide::outputs::recording::RecordingSettings;
use waveguide_load::ftl_publisher::FtlPublisher;

const FFPROBE: &str = "/usr/bin/ffprobe";

fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("waveguide-rec-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn recording_node(dir: &Path) -> waveguide::Node {
    let dir = dir.to_owned();
    common::start_node_with(1, move |config| {
        config.recording = RecordingSettings {
            dir: Some(dir),
            ..RecordingSettings::default()
        };
    })
}

/// Waits until the API lists `count` finished recordings; returns them.
fn finished_recordings(addr: SocketAddr, count: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let response = http::request(addr, "GET", "/api/recordings", &[], b"");
        assert_eq!(response.status, 200, "{}", response.body);
        let list: Vec<Value> = serde_json::from_str(&response.body).unwrap();
        let finished: Vec<Value> = list
            .into_iter()
            .filter(|recording| recording["recording"] == false)
            .collect();
        if finished.len() >= count {
            return finished;
        }
        assert!(Instant::now() < deadline, "{}", response.body);
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Downloads a recording through the API into `dir`.
fn download(addr: SocketAddr, recording: &Value, dir: &Path) -> PathBuf {
    let id = recording["id"].as_str().unwrap();
    let response = http::request(addr, "GET", &format!("/api/recordings/{id}"), &[], b"");
    assert_eq!(response.status, 200, "{id}");
    assert_eq!(
        response.bytes.len() as u64,
        recording["bytes"].as_u64().unwrap()
    );
    let path = dir.join("downloaded.mp4");
    std::fs::write(&path, &response.bytes).unwrap();
    path
}

fn probe(path: &Path) -> Value {
    let output = Command::new(FFPROBE)
        .args([
            "-v",
            "error",
            "-count_frames",
            "-show_streams",
            "-show_format",
        ])
        .args(["-of", "json"])
        .arg(path)
        .output()
        .unwrap_or_else(|e| panic!("{FFPROBE}: {e} (tests/all.sh installs Debian's ffmpeg)"));
    assert!(
        output.status.success(),
        "ffprobe failed on {}: {}",
        path.display(),
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

fn number(value: &Value) -> f64 {
    value.as_str().unwrap().parse().unwrap()
}

/// Every frame of `path` decodes: FFmpeg's error log.
fn decode_errors(path: &Path) -> String {
    let output = Command::new(FFMPEG)
        .args(["-hide_banner", "-nostdin", "-v", "error", "-i"])
        .arg(path)
        .args(["-f", "null", "-"])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "ffmpeg failed on {}",
        path.display()
    );
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn the_recording_of_a_published_clip_has_its_frames_duration_and_codecs() {
    let dir = temp_dir("clip");
    let node = recording_node(&dir);
    let key = node.service().example_stream_key("123").unwrap();
    let publisher = clients::ftl_publisher(node.ftl_addr(), &key).expect("FTL handshake");
    let video = h264_clip();
    let audio = opus_packets();
    let mut pacer = ClipPacer::new(&video, 0);
    while pacer.send_due(&publisher, &video, &audio, |_| false) {
        pacer.answer_nacks(&publisher, &video);
        std::thread::sleep(Duration::from_millis(5));
    }
    // The last frame's packets, and NACKs for any the loopback lost.
    std::thread::sleep(Duration::from_millis(300));
    pacer.answer_nacks(&publisher, &video);
    std::thread::sleep(Duration::from_millis(300));
    let _ = publisher.disconnect();

    let recordings = finished_recordings(node.http_addr(), 1);
    assert_eq!(recordings[0]["channel"], "123");
    let file = download(node.http_addr(), &recordings[0], &dir);
    let probed = probe(&file);
    let clip = common::media::clip();
    let video = stream_of(&probed, "video");
    assert_eq!(video["codec_name"], "h264");
    assert_eq!(
        (video["width"].as_u64(), video["height"].as_u64()),
        (Some(320), Some(240))
    );
    assert_eq!(
        video["nb_read_frames"].as_str().unwrap(),
        clip.frames.to_string(),
        "every frame of the clip is in the recording"
    );
    let expected = f64::from(clip.frames) / 30.0;
    let duration = number(&video["duration"]);
    assert!(
        (duration - expected).abs() <= 1.0 / 30.0 + 1e-6,
        "video lasts {duration} s, the clip {expected} s"
    );
    assert_eq!(stream_of(&probed, "audio")["codec_name"], "opus");
    let errors = decode_errors(&file);
    assert!(errors.is_empty(), "{errors}");
    assert!((recordings[0]["duration_s"].as_f64().unwrap() - expected).abs() < 0.2);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_rtmp_publish_is_recorded_with_its_aac_as_it_came() {
    let dir = temp_dir("rtmp");
    let node = recording_node(&dir);
    let key = node.service().example_stream_key("777").unwrap();
    let mut publisher = FfmpegPublisher::start(&rtmp_url(&node, &key), 4, 44_100, 2);
    let (status, log) = publisher
        .wait_exit(Duration::from_secs(20))
        .expect("ffmpeg finished its 4 s");
    assert!(status.success(), "{log}");
    let recordings = finished_recordings(node.http_addr(), 1);
    let file = download(node.http_addr(), &recordings[0], &dir);
    let probed = probe(&file);
    let video = stream_of(&probed, "video");
    assert_eq!(video["codec_name"], "h264");
    let frames: u32 = video["nb_read_frames"].as_str().unwrap().parse().unwrap();
    // FFmpeg cuts its 4 s at a packet: 120 frames, give or take one.
    assert!((119..=121).contains(&frames), "{frames} frames");
    let audio = stream_of(&probed, "audio");
    assert_eq!(audio["codec_name"], "aac");
    assert_eq!(audio["sample_rate"], "44100");
    assert!((number(&audio["duration"]) - 4.0).abs() < 0.3, "{audio}");
    let errors = decode_errors(&file);
    assert!(errors.is_empty(), "{errors}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_recording_of_a_killed_server_plays_up_to_its_last_fragment() {
    let dir = temp_dir("killed");
    let (http_port, ftl_port) = (free_port(), free_port());
    let toml = format!(
        "[http]\naddress = \"127.0.0.1:{http_port}\"\n[ftl]\naddress = \"127.0.0.1:{ftl_port}\"\n\
         media_port_min = 0\nmedia_port_max = 0\n[rtmp]\nenabled = false\n\
         [webrtc]\nbind = \"127.0.0.1\"\nport_base = 0\npublic_ip = \"127.0.0.1\"\n\
         [workers]\ncount = 1\n[recording]\ndir = \"{}\"\n[logging]\nformat = \"json\"\n",
        dir.display()
    );
    let (server, _) = spawn_binary(&[], &toml, "running");
    let ftl: SocketAddr = format!("127.0.0.1:{ftl_port}").parse().unwrap();
    let key = Service::Dummy.example_stream_key("123").unwrap();
    let stream = Looping::start(FtlPublisher::connect(ftl, &key).expect("FTL handshake"));
    // Five seconds of stream, then the server dies without a word.
    std::thread::sleep(Duration::from_secs(5));
    server.kill();
    drop(stream);

    let channel_dir = dir.join("123");
    let files: Vec<PathBuf> = std::fs::read_dir(&channel_dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "mp4"))
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let probed = probe(&files[0]);
    let video = stream_of(&probed, "video");
    let frames: u32 = video["nb_read_frames"].as_str().unwrap().parse().unwrap();
    // Five seconds published; at most the fragment being written (a part,
    // half a second) and the frames in flight are missing.
    assert!(frames >= 4 * 30, "only {frames} frames survived the kill");
    let errors = decode_errors(&files[0]);
    assert!(
        !errors.contains("Invalid data"),
        "the killed recording does not play: {errors}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
