//! FTL parsing cost: the control session over a real client transcript
//! (bytes/s) and datagram classification on realistic media (ns/datagram).

#![allow(missing_docs, reason = "criterion_group! generates undocumented items")]

use std::hint::black_box;
use std::time::Instant;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ftl::{
    Datagram, Event, MediaParams, NackConfig, NackTracker, Output, ServerConfig, ServerSession,
    TrackParams, classify,
};

const KEY: &[u8] = b"secretkey";

/// ftl_app's handshake as it arrives (FTL-SPEC §3.2), then a minute of PINGs.
fn transcript(challenge: &ftl::Challenge) -> Vec<u8> {
    let digest = ftl::sign(KEY, challenge);
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    let mut bytes = format!("HMAC\r\n\r\nCONNECT 123 ${hex}\r\n\r\n").into_bytes();
    for line in ftl::reference::FTL_APP_ATTRIBUTES.iter().chain(&["."]) {
        bytes.extend_from_slice(line.as_bytes());
        bytes.extend_from_slice(b"\r\n\r\n");
    }
    for _ in 0..12 {
        bytes.extend_from_slice(b"PING 123\r\n\r\n");
    }
    bytes
}

fn drive(session: &mut ServerSession, now: Instant) -> usize {
    let mut sent = 0;
    loop {
        match session.poll_output() {
            Output::Send(bytes) => sent += bytes.len(),
            Output::Event(Event::KeyRequired { .. }) => session.verify_key(now, KEY),
            Output::Event(Event::MediaRequested { .. }) => {
                session.start_media(now, std::num::NonZeroU16::MIN)
            }
            Output::Event(_) => {}
            Output::Close(_) | Output::Timeout(_) => return sent,
        }
    }
}

fn control_session(c: &mut Criterion) {
    let challenge = [0x5a; ftl::CHALLENGE_LEN];
    let bytes = transcript(&challenge);
    let mut group = c.benchmark_group("control_session");
    group.throughput(Throughput::Bytes(bytes.len() as u64));
    group.bench_function("ftl_app_transcript_whole", |b| {
        let now = Instant::now();
        b.iter(|| {
            let mut session = ServerSession::new(now, challenge, ServerConfig::default());
            session.handle_input(now, black_box(&bytes));
            drive(&mut session, now)
        })
    });
    group.bench_function("ftl_app_transcript_per_command", |b| {
        let now = Instant::now();
        let commands: Vec<&[u8]> = bytes.split_inclusive(|&b| b == b'\n').collect();
        b.iter(|| {
            let mut session = ServerSession::new(now, challenge, ServerConfig::default());
            let mut sent = 0;
            for command in &commands {
                session.handle_input(now, black_box(command));
                sent += drive(&mut session, now);
            }
            sent
        })
    });
    group.finish();
}

const PARAMS: MediaParams = MediaParams {
    video: Some(TrackParams {
        payload_type: 96,
        ssrc: 124,
    }),
    audio: Some(TrackParams {
        payload_type: 97,
        ssrc: 123,
    }),
};

fn rtp(second: u8, sequence: u16, ssrc: u32, payload_len: usize) -> Vec<u8> {
    let mut packet = vec![0x80, second];
    packet.extend_from_slice(&sequence.to_be_bytes());
    packet.extend_from_slice(&0x193a_u32.to_be_bytes());
    packet.extend_from_slice(&ssrc.to_be_bytes());
    packet.push(0x5c);
    packet.push(0x81);
    packet.resize(12 + payload_len, 0xab);
    packet
}

/// The mix ftl_app sends (FTL-SPEC §7): mostly full-size video FU-As, audio,
/// 24-byte pings and the odd sender report.
fn media_mix() -> Vec<Vec<u8>> {
    let mut mix = Vec::new();
    for i in 0..40u16 {
        mix.push(rtp(0x60, i, 124, 1380));
        if i % 2 == 0 {
            mix.push(rtp(0x61, i, 123, 160));
        }
        if i % 3 == 0 {
            mix.push(vec![
                0x81, 0xfa, 0x00, 0x18, 0, 0, 0, 0, 0x35, 0x46, 0x05, 0x6b, 0, 0, 0, 0, 0xa2, 0xdd,
                5, 0, 0, 0, 0, 0,
            ]);
        }
    }
    mix.push(vec![
        0x80, 0xc8, 0x00, 0x06, 0x00, 0x00, 0x00, 0x7c, 0xee, 0xaf, 0xc4, 0xb6, 0x64, 0x57, 0x70,
        0x00, 0x00, 0x00, 0x0b, 0xe4, 0x00, 0x00, 0x00, 0x0a, 0x00, 0x00, 0x30, 0x58,
    ]);
    mix
}

fn classification(c: &mut Criterion) {
    let mut group = c.benchmark_group("classify");
    let video = rtp(0x60, 7, 124, 1380);
    group.throughput(Throughput::Elements(1));
    group.bench_function("video_1392B", |b| {
        b.iter(|| matches!(classify(black_box(&video), &PARAMS), Datagram::Video(_)))
    });
    let ping = [0x81, 0xfa, 0x00, 0x0c, 0, 0, 0, 0, 0x35, 0x46, 0x05, 0x6b];
    group.bench_function("ping_12B", |b| {
        b.iter(|| matches!(classify(black_box(&ping), &PARAMS), Datagram::Ping(_)))
    });
    let garbage = rtp(0x6f, 7, 999, 1380);
    group.bench_function("unknown_payload_type", |b| {
        b.iter(|| classify(black_box(&garbage), &PARAMS))
    });
    let mix = media_mix();
    group.throughput(Throughput::Elements(mix.len() as u64));
    group.bench_function("ftl_app_mix", |b| {
        b.iter(|| {
            mix.iter()
                .filter(|d| !matches!(classify(black_box(d), &PARAMS), Datagram::Drop(_)))
                .count()
        })
    });
    group.finish();
}

fn nack_tracking(c: &mut Criterion) {
    let mut group = c.benchmark_group("nack_tracker");
    group.throughput(Throughput::Elements(1000));
    group.bench_function("1000_in_order_plus_poll", |b| {
        let now = Instant::now();
        let mut out = Vec::with_capacity(1500);
        b.iter(|| {
            let mut tracker = NackTracker::new(NackConfig::default());
            for sequence in 0..1000u16 {
                tracker.on_packet(now, black_box(sequence));
                out.clear();
                tracker.poll_nack(now, 124, 124, &mut out);
            }
        })
    });
    group.finish();
}

criterion_group!(benches, control_session, classification, nack_tracking);
criterion_main!(benches);
