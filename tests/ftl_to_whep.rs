//! FTL in, WHEP out, end to end over loopback: a real FTL handshake over TCP,
//! RTP media over UDP from the shipped H.264 clip and Opus file, and str0m
//! viewers with real ICE, DTLS and SRTP, each checked byte for byte.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a failed unwrap in a test is a failed test"
)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use common::clients::{self, FtlSteps, RecordingViewer};
use common::clip_pacer::ClipPacer;
use common::http;
use common::media::{MediaPacket, h264_clip, opus_packets};

/// The video sequence number the publisher leaves out at first, to be NACKed.
const GAP: u16 = 40;

struct RunningViewer {
    thread: JoinHandle<RecordingViewer>,
    stop: Arc<AtomicBool>,
    resource: String,
    joined: Instant,
}

/// Joins over WHEP and drives the viewer on its own thread until stopped.
fn join(node: &waveguide::Node, connected: mpsc::Sender<()>) -> RunningViewer {
    let (mut viewer, offer) = clients::viewer();
    let joined = Instant::now();
    let response = http::whep_offer(node.http_addr(), "123", &offer);
    assert_eq!(response.status, 201, "{}", response.body);
    assert_eq!(response.header("content-type"), Some("application/sdp"));
    let resource = response.header("location").unwrap().to_owned();
    assert!(
        resource.starts_with("/whep/resource/") && resource.len() == "/whep/resource/".len() + 32
    );
    viewer.accept_answer(&response.body).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let thread = {
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            let mut told = false;
            viewer.run(Duration::from_secs(30), |v| {
                if !told && v.connected_at.is_some() {
                    told = true;
                    let _ = connected.send(());
                }
                stop.load(Ordering::Acquire)
            });
            viewer
        })
    };
    RunningViewer {
        thread,
        stop,
        resource,
        joined,
    }
}

#[test]
fn ftl_stream_reaches_whep_viewers_byte_for_byte() {
    let node = common::start_node(2);
    let key = node.service().example_stream_key("123").unwrap();
    let publisher = clients::ftl_publisher(node.ftl_addr(), &key).expect("FTL handshake");
    let video: Vec<MediaPacket> = h264_clip();
    let audio = opus_packets();
    assert!(
        video.len() > 150 && audio.len() > 100,
        "{} video, {} audio packets",
        video.len(),
        audio.len()
    );

    // Viewers may join once the stream's SPS (its H.264 profile) is known.
    let first_frame = publisher.send_first_frame(&video);
    publisher.wait_until_watchable(&node);
    let (connected_tx, connected) = mpsc::channel();
    let mut early: Vec<RunningViewer> = (0..3).map(|_| join(&node, connected_tx.clone())).collect();
    for _ in 0..3 {
        connected
            .recv_timeout(Duration::from_secs(10))
            .expect("viewer connects");
    }

    // Real time: 30 frames per second, an Opus packet every 20 ms.
    let mut pacer = ClipPacer::new(&video, first_frame);
    let mut late: Option<RunningViewer> = None;
    let mut left: Option<RunningViewer> = None;
    let mut nacked = Vec::new();
    while pacer.send_due(&publisher, &video, &audio, |index| index as u16 == GAP) {
        nacked.extend(pacer.answer_nacks(&publisher, &video));
        let now = pacer.elapsed();
        if late.is_none() && now >= Duration::from_millis(1500) {
            late = Some(join(&node, connected_tx.clone()));
        }
        if left.is_none() && now >= Duration::from_millis(1000) {
            let leaving = early.remove(2);
            let response = http::request(node.http_addr(), "DELETE", &leaving.resource, &[], b"");
            assert_eq!(response.status, 200);
            leaving.stop.store(true, Ordering::Release);
            left = Some(leaving);
        }
        std::thread::sleep(Duration::from_millis(2));
    }

    // Let the last packets (and any retransmission) arrive.
    let deadline = Instant::now() + Duration::from_secs(3);
    while Instant::now() < deadline && !nacked.contains(&GAP) {
        nacked.extend(pacer.answer_nacks(&publisher, &video));
        std::thread::sleep(Duration::from_millis(5));
    }
    std::thread::sleep(Duration::from_millis(500));
    let late = late.expect("late viewer joined");
    let late_joined = late.joined;
    let mut finished = Vec::new();
    for viewer in early.into_iter().chain([late]) {
        viewer.stop.store(true, Ordering::Release);
        finished.push(viewer.thread.join().unwrap());
    }
    let left = left.unwrap();
    let left_viewer = left.thread.join().unwrap();

    assert!(nacked.contains(&GAP), "the gap was NACKed: {nacked:?}");
    let sent: Vec<Vec<u8>> = video.iter().map(|p| p.payload.clone()).collect();

    let late_viewer = finished.pop().unwrap();
    for viewer in &finished {
        let got = viewer.video_payloads_in_order();
        assert_eq!(
            got.len(),
            sent.len(),
            "every video packet arrived, the NACKed one included"
        );
        let first_difference = got.iter().zip(&sent).position(|(a, b)| a != b);
        assert_eq!(
            first_difference, None,
            "video payloads differ from what was sent"
        );
        let audio_got: Vec<Vec<u8>> = viewer
            .audio()
            .into_iter()
            .map(|r| r.payload.clone())
            .collect();
        assert!(
            audio_got.len() >= audio.len() - 5,
            "audio arrived: {} of {}",
            audio_got.len(),
            audio.len()
        );
        assert!(
            audio
                .windows(audio_got.len().min(50))
                .any(|w| w == &audio_got[..audio_got.len().min(50)])
        );
    }

    // The late viewer starts at the newest keyframe, at once.
    let got = late_viewer.video_payloads_in_order();
    let first = late_viewer
        .video()
        .into_iter()
        .min_by_key(|r| r.at)
        .expect("late viewer got video");
    let start_index = (0..sent.len())
        .find(|&k| sent[k..].starts_with(&got))
        .expect("the late viewer's packets are a run of what was sent");
    assert!(
        video[start_index].keyframe_start,
        "late viewer starts at an SPS, not at packet {start_index}"
    );
    assert_eq!(
        start_index + got.len(),
        sent.len(),
        "and gets every packet from there to the end"
    );
    let newest_keyframe_at_join = video
        .iter()
        .enumerate()
        .rfind(|(_, p)| p.keyframe_start && p.timestamp / 3000 <= 45)
        .map(|(k, _)| k);
    assert_eq!(
        Some(start_index),
        newest_keyframe_at_join,
        "instant start: the keyframe the ring held"
    );
    let first_frame_after = first.at.duration_since(late_joined);
    assert!(
        first_frame_after < Duration::from_millis(300),
        "first video {first_frame_after:?} after joining"
    );

    // The viewer that left had been getting the stream from its start.
    let left_got = left_viewer.video_payloads_in_order();
    assert!(!left_got.is_empty() && left_got.len() < sent.len());
    assert!(sent.starts_with(&left_got[..left_got.len() - 1]));

    // Worker and stream counters agree with what happened.
    let stats = node.engine().stats(Duration::from_secs(5));
    assert_eq!(stats.len(), 2);
    let forwarded: u64 = stats.iter().map(|w| w.forwarded).sum();
    assert!(forwarded >= 2 * sent.len() as u64, "forwarded {forwarded}");
    assert!(
        stats.iter().all(|w| w.send.syscalls < w.send.sent),
        "sends are batched: {stats:?}"
    );
    let stream = node.engine().stream("123").unwrap().stats();
    assert!(stream.nacked >= 1 && stream.recovered >= 1, "{stream:?}");

    publisher.disconnect();
    node.stop();
}
