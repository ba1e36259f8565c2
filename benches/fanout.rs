//! Fan-out cost: one packet from a ring to N connected WHEP viewers through
//! the engine's real `Viewer` (str0m RTP mode, real DTLS, then fixed keys for
//! each SRTP suite, batched sendmmsg on loopback), in time and heap
//! allocations per packet per viewer; and two workers on two threads
//! forwarding one stream at once, reading one shared ring or a copy each.

#![allow(missing_docs, reason = "criterion_group! generates undocumented items")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a bench set-up failure is a failed bench"
)]

mod counting;

use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use engine::Stream;
use engine::internals::{PacketRing, RingPacket, RingWriter, SendBatch, Viewer};
use str0m::crypto::dtls::{KeyingMaterial, SrtpProfile};
use str0m::media::{Direction, MediaKind};
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Event, Input, Output, Rtc};

/// An RTP payload of a typical video packet.
const PAYLOAD: [u8; 1200] = [0x5c; 1200];

/// The SRTP suites a viewer may negotiate, by bench name.
const SUITES: [(&str, SrtpProfile); 3] = [
    ("aes_cm_sha1_80", SrtpProfile::AES128_CM_SHA1_80),
    ("aead_aes_128_gcm", SrtpProfile::AEAD_AES_128_GCM),
    ("aead_aes_256_gcm", SrtpProfile::AEAD_AES_256_GCM),
];

/// Viewers on each of the two workers of the cross-core bench.
const VIEWERS_PER_WORKER: usize = 25;
/// Packets published before each cross-core round; far fewer than the ring
/// holds, and few enough that a viewer's socket buffer takes them all.
const ROUND: u64 = 64;

/// A str0m viewer on its own loopback socket.
struct Client {
    rtc: Rtc,
    socket: UdpSocket,
    local: SocketAddr,
    /// RTP packets that arrived and decrypted.
    received: u64,
}

impl Client {
    /// Feeds every datagram waiting, draining after each (str0m keeps only
    /// the newest received packet until polled), then the time.
    fn pump(&mut self, now: Instant) {
        let mut buf = [0u8; 2048];
        while let Ok((n, source)) = self.socket.recv_from(&mut buf) {
            if let Ok(receive) = Receive::new(Protocol::Udp, source, self.local, &buf[..n]) {
                let _ = self.rtc.handle_input(Input::Receive(now, receive));
                self.drain();
            }
        }
        let _ = self.rtc.handle_input(Input::Timeout(now));
        self.drain();
    }

    fn drain(&mut self) {
        while let Ok(output) = self.rtc.poll_output() {
            match output {
                Output::Transmit(t) => {
                    let _ = self.socket.send_to(&t.contents, t.destination);
                }
                Output::Timeout(_) => break,
                Output::Event(Event::RtpPacket(_)) => self.received += 1,
                Output::Event(_) => {}
            }
        }
    }
}

/// The single producer of a stream's video ring.
struct Publisher {
    writer: RingWriter,
    sequence: u16,
}

impl Publisher {
    fn new() -> (Self, Arc<Stream>) {
        let (writer, ring) = PacketRing::new(4096, Instant::now());
        let stream = Arc::new(Stream::new(1, "bench".into(), Some(ring), None));
        let publisher = Self {
            writer,
            sequence: 0,
        };
        (publisher, stream)
    }

    fn publish(&mut self, payload: Arc<[u8]>, keyframe: bool) {
        self.sequence = self.sequence.wrapping_add(1);
        self.writer.push(RingPacket {
            sequence: self.sequence,
            timestamp: u32::from(self.sequence) * 3000,
            marker: true,
            keyframe,
            arrival: Instant::now(),
            payload,
        });
    }
}

/// What one engine worker holds for egress: a server socket, its send batch
/// and its connected viewers, each with the str0m client at the other end.
struct Worker {
    server: UdpSocket,
    server_addr: SocketAddr,
    viewers: Vec<Viewer>,
    clients: Vec<Client>,
    send: SendBatch,
}

impl Worker {
    /// `count` viewers of `stream`, with ICE and DTLS up.
    fn connect(count: usize, stream: &Arc<Stream>) -> Self {
        let server = UdpSocket::bind("127.0.0.1:0").unwrap();
        server.set_nonblocking(true).unwrap();
        let server_addr = server.local_addr().unwrap();
        let base = Rtc::builder().set_ice_lite(true).set_rtp_mode(true);
        let mut viewers = Vec::new();
        let mut clients = Vec::new();
        for index in 0..count {
            let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
            socket.set_nonblocking(true).unwrap();
            let local = socket.local_addr().unwrap();
            let mut config = Rtc::builder().set_rtp_mode(true).clear_codecs();
            config
                .codec_config()
                .add_h264(102.into(), Some(103.into()), true, 0x42e01f);
            let mut rtc = config.build(Instant::now());
            rtc.add_local_candidate(Candidate::host(local, "udp").unwrap());
            let mut api = rtc.sdp_api();
            api.add_media(MediaKind::Video, Direction::RecvOnly, None, None, None);
            let (offer, pending) = api.apply().unwrap();
            let (viewer, answer) = Viewer::answer(
                Instant::now(),
                &base,
                format!("wg{index:x}g0"),
                server_addr,
                Arc::clone(stream),
                &offer.to_sdp_string(),
            )
            .unwrap();
            rtc.sdp_api()
                .accept_answer(
                    pending,
                    str0m::change::SdpAnswer::from_sdp_string(&answer).unwrap(),
                )
                .unwrap();
            viewers.push(viewer);
            clients.push(Client {
                rtc,
                socket,
                local,
                received: 0,
            });
        }
        let mut worker = Self {
            server,
            server_addr,
            viewers,
            clients,
            send: SendBatch::new(true),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while worker.viewers.iter().any(|v| !v.is_connected()) {
            assert!(Instant::now() < deadline, "viewers did not connect");
            worker.pump_all();
        }
        worker
    }

    /// Replaces the SRTP keys DTLS negotiated (always AES-256-GCM between
    /// two str0m peers) with fixed keys for `profile`, on both ends.
    fn use_srtp(&mut self, profile: SrtpProfile) {
        self.pump_all();
        // Distinct bytes, so each direction gets its own key and salt and
        // the two ends must take opposite roles to understand each other.
        let material: Vec<u8> = (0..profile.keying_material_len())
            .map(|i| i as u8)
            .collect();
        for (viewer, client) in self.viewers.iter_mut().zip(&mut self.clients) {
            let server = viewer.rtc_mut();
            server._set_srtp_keys(KeyingMaterial::new(&material), profile, false);
            client
                .rtc
                ._set_srtp_keys(KeyingMaterial::new(&material), profile, true);
        }
    }

    fn pump_all(&mut self) {
        let now = Instant::now();
        for client in &mut self.clients {
            client.pump(now);
        }
        let mut buf = [0u8; 2048];
        while let Ok((n, source)) = self.server.recv_from(&mut buf) {
            let index = self.clients.iter().position(|c| c.local == source).unwrap();
            self.viewers[index].handle_datagram(
                now,
                (Protocol::Udp, source, self.server_addr),
                &buf[..n],
                &mut self.send,
            );
        }
        for viewer in &mut self.viewers {
            if viewer.next_timeout() <= now {
                viewer.handle_timeout(now, &mut self.send);
            }
        }
        self.send.flush(&self.server);
    }

    /// Forwards what the ring holds to every viewer and sends it.
    fn forward_all(&mut self) {
        let now = Instant::now();
        for viewer in &mut self.viewers {
            viewer.forward(now, &mut self.send);
        }
        self.send.flush(&self.server);
    }

    /// Collects what is in flight, then checks every client decrypted at
    /// least half of what its viewer sent (with the wrong keys, none would;
    /// a full socket buffer may drop a few) and sums them up.
    fn settle(&mut self, name: &str) -> String {
        self.pump_all();
        let starved = self
            .viewers
            .iter()
            .zip(&self.clients)
            .filter(|(viewer, client)| client.received * 2 < viewer.forwarded)
            .count();
        assert_eq!(starved, 0, "{name}: {starved} clients decrypted too little");
        format!(
            "forwarded {}, received {}, send drops {}",
            self.viewers.iter().map(|v| v.forwarded).sum::<u64>(),
            self.clients.iter().map(|c| c.received).sum::<u64>(),
            self.send.stats().dropped,
        )
    }
}

fn fanout(c: &mut Criterion) {
    let mut group = c.benchmark_group("fanout");
    let payload: Arc<[u8]> = Arc::from(&PAYLOAD[..]);
    for (suite, profile) in SUITES {
        for viewers in [1usize, 10, 50] {
            let (mut publisher, stream) = Publisher::new();
            let mut worker = Worker::connect(viewers, &stream);
            worker.use_srtp(profile);
            // A keyframe so the viewers start forwarding.
            publisher.publish(Arc::clone(&payload), true);
            worker.forward_all();
            group.throughput(Throughput::Elements(viewers as u64));
            let (mut elapsed, mut allocations, mut packets) = (Duration::ZERO, 0u64, 0u64);
            group.bench_function(BenchmarkId::new(suite, viewers), |b| {
                b.iter_custom(|iterations| {
                    let mut sample = Duration::ZERO;
                    for i in 0..iterations {
                        publisher.publish(Arc::clone(&payload), false);
                        let before = counting::allocations();
                        let started = Instant::now();
                        worker.forward_all();
                        sample += started.elapsed();
                        allocations += counting::allocations() - before;
                        packets += 1;
                        if i % 64 == 0 {
                            worker.pump_all();
                        }
                    }
                    elapsed += sample;
                    sample
                })
            });
            let name = format!("fanout/{suite}/{viewers}");
            let totals = worker.settle(&name);
            if packets == 0 {
                continue; // Filtered out.
            }
            let per_viewer = packets as f64 * viewers as f64;
            eprintln!(
                "{name}: {:.3} µs and {:.2} allocations per packet per viewer ({packets} packets; {totals})",
                elapsed.as_secs_f64() * 1e6 / per_viewer,
                allocations as f64 / per_viewer,
            );
        }
    }
    group.finish();
}

/// Two workers, each on its own thread with its own viewers, socket and send
/// batch, forward a round of packets at once. "shared": both read one ring,
/// so both cores bump the same payloads' reference counts. "copy": the
/// producer pushes its own copy of each payload into each worker's ring.
/// "one_worker": a single thread serves all the viewers, the baseline the
/// two-worker throughput is compared with.
fn cross_core(c: &mut Criterion) {
    let mut group = c.benchmark_group("cross_core");
    let viewers = 2 * VIEWERS_PER_WORKER;
    group.throughput(Throughput::Elements(ROUND * viewers as u64));
    for (name, worker_count, rings) in [("one_worker", 1, 1), ("shared", 2, 1), ("copy", 2, 2)] {
        let (mut publishers, streams): (Vec<_>, Vec<_>) =
            (0..rings).map(|_| Publisher::new()).unzip();
        let mut workers: Vec<Worker> = (0..worker_count)
            .map(|index| Worker::connect(viewers / worker_count, &streams[index % rings]))
            .collect();
        for publisher in &mut publishers {
            publisher.publish(Arc::from(&PAYLOAD[..]), true);
        }
        for worker in &mut workers {
            worker.forward_all();
        }
        let (mut elapsed, mut rounds) = (Duration::ZERO, 0u64);
        // The worker threads live as long as the bench: a round starts when
        // the workers and this thread pass the first barrier and is timed to the second.
        let barrier = Barrier::new(worker_count + 1);
        let stop = AtomicBool::new(false);
        thread::scope(|scope| {
            for worker in &mut workers {
                let (barrier, stop) = (&barrier, &stop);
                scope.spawn(move || {
                    loop {
                        barrier.wait();
                        if stop.load(Ordering::Acquire) {
                            break;
                        }
                        worker.forward_all();
                        barrier.wait();
                        worker.pump_all();
                    }
                });
            }
            group.bench_function(BenchmarkId::new(name, viewers), |b| {
                b.iter_custom(|iterations| {
                    let mut sample = Duration::ZERO;
                    for _ in 0..iterations {
                        for _ in 0..ROUND {
                            for publisher in &mut publishers {
                                publisher.publish(Arc::from(&PAYLOAD[..]), false);
                            }
                        }
                        barrier.wait();
                        let started = Instant::now();
                        barrier.wait();
                        sample += started.elapsed();
                    }
                    elapsed += sample;
                    rounds += iterations;
                    sample
                })
            });
            stop.store(true, Ordering::Release);
            barrier.wait();
        });
        for (index, worker) in workers.iter_mut().enumerate() {
            let totals = worker.settle(&format!("cross_core/{name}/worker{index}"));
            eprintln!("cross_core/{name}/worker{index}: {totals}");
        }
        if rounds == 0 {
            continue; // Filtered out.
        }
        eprintln!(
            "cross_core/{name}/{viewers}: {:.3} µs wall per packet per viewer ({rounds} rounds of {ROUND} packets)",
            elapsed.as_secs_f64() * 1e6 / (rounds * ROUND) as f64 / viewers as f64,
        );
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    targets = fanout, cross_core
}
criterion_main!(benches);
