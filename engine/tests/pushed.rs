//! A stream pushed from outside the workers (how RTMP feeds the engine):
//! its packets reach the ring in order, it shows no ingest worker, a
//! takeover ends it for its owner, and dropping its lease ends it.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a failed unwrap in a test is a failed test"
)]

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use engine::{Engine, EngineConfig, EngineError, Ingest, RtpFields, TrackKind};

fn engine() -> Engine {
    let localhost = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let config = EngineConfig {
        workers: 1,
        webrtc_bind: localhost,
        webrtc_port_base: 0,
        public_ip: localhost,
        ..EngineConfig::default()
    };
    Engine::start(config).unwrap()
}

#[test]
fn a_pushed_stream_is_fed_taken_over_and_ended() {
    let engine = engine();
    let handle = engine.handle();
    let mut pushed = handle.open_pushed_stream("7", Ingest::Rtmp, false).unwrap();
    // An SPS (baseline, 320x240), then a slice: what a keyframe starts with.
    let sps: Arc<[u8]> =
        Arc::from(&include_bytes!("../../fuzz/seeds/h264_payload/sps-320x240-baseline.bin")[..]);
    for (sequence, payload) in [(0u16, Arc::clone(&sps)), (1, Arc::from(&[0x65, 0x88][..]))] {
        let rtp = RtpFields {
            sequence,
            timestamp: 9000,
            marker: sequence == 1,
        };
        pushed.video.publish(rtp, payload);
    }
    pushed.video.wake_followers();
    let stream = handle.stream("7").unwrap();
    assert_eq!(stream.stats().packets_in, 2);
    assert_eq!(stream.ring(TrackKind::Video).unwrap().head(), 2);
    assert_eq!(stream.sps().map(|s| (s.width, s.height)), Some((320, 240)));
    let info = handle.stream_infos().pop().unwrap();
    assert_eq!((info.ingest, info.ingest_worker), (Ingest::Rtmp, None));

    assert!(matches!(
        handle.open_pushed_stream("7", Ingest::Rtmp, false),
        Err(EngineError::ChannelLive)
    ));
    let second = handle.open_pushed_stream("7", Ingest::Rtmp, true).unwrap();
    assert_eq!(second.lease.replaced(), Some(stream.id()));
    assert!(pushed.video.is_ended() && pushed.audio.is_ended());
    // The replaced stream's lease leaves the new stream alone.
    drop(pushed);
    assert_eq!(
        handle.stream("7").map(|s| s.id()),
        Some(second.lease.stream().id())
    );
    drop(second);
    assert!(handle.stream("7").is_none());
    engine.shutdown();
}
