//! Fan-out cost: one packet from a ring to N connected WHEP viewers through
//! the engine's real `Viewer` (str0m RTP mode, real DTLS and SRTP, batched
//! sendmmsg on loopback), in time per packet per viewer and heap
//! allocations per packet per viewer, counted by a counting global allocator.

#![allow(missing_docs, reason = "criterion_group! generates undocumented items")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a bench set-up failure is a failed bench"
)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use engine::peer::Viewer;
use engine::ring::{PacketRing, RingPacket, RingWriter};
use engine::rtc_io::RtcPeer;
use engine::stream::Stream;
use engine::udp::SendBatch;
use str0m::media::{Direction, MediaKind};
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Input, Output, Rtc};

/// Counts every allocation the process makes.
struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

// SAFETY: forwards to the system allocator and only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// A str0m viewer on its own loopback socket.
struct Client {
    rtc: Rtc,
    socket: UdpSocket,
    local: SocketAddr,
}

impl Client {
    fn pump(&mut self, now: Instant) {
        let mut buf = [0u8; 2048];
        while let Ok((n, source)) = self.socket.recv_from(&mut buf) {
            if let Ok(receive) = Receive::new(Protocol::Udp, source, self.local, &buf[..n]) {
                let _ = self.rtc.handle_input(Input::Receive(now, receive));
            }
        }
        let _ = self.rtc.handle_input(Input::Timeout(now));
        while let Ok(output) = self.rtc.poll_output() {
            match output {
                Output::Transmit(t) => {
                    let _ = self.socket.send_to(&t.contents, t.destination);
                }
                Output::Timeout(_) => break,
                Output::Event(_) => {}
            }
        }
    }
}

struct Bench {
    server: UdpSocket,
    server_addr: SocketAddr,
    viewers: Vec<Viewer>,
    clients: Vec<Client>,
    writer: RingWriter,
    send: SendBatch,
    payload: Arc<[u8]>,
    sequence: u16,
}

impl Bench {
    fn new(count: usize) -> Self {
        let server = UdpSocket::bind("127.0.0.1:0").unwrap();
        server.set_nonblocking(true).unwrap();
        let server_addr = server.local_addr().unwrap();
        let origin = Instant::now();
        let (writer, ring) = PacketRing::new(4096, origin);
        let stream = Arc::new(Stream::new(1, "bench".into(), Some(ring), None));
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
                Arc::clone(&stream),
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
            clients.push(Client { rtc, socket, local });
        }
        let mut bench = Self {
            server,
            server_addr,
            viewers,
            clients,
            writer,
            send: SendBatch::new(true),
            payload: Arc::from(vec![0x5c; 1200]),
            sequence: 0,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while bench.viewers.iter().any(|v| !v.is_connected()) {
            assert!(Instant::now() < deadline, "viewers did not connect");
            bench.pump_all();
        }
        // A keyframe so the viewers start forwarding.
        bench.publish(true);
        bench.forward_all();
        bench
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
                source,
                self.server_addr,
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

    fn publish(&mut self, keyframe: bool) {
        self.sequence = self.sequence.wrapping_add(1);
        self.writer.push(RingPacket {
            sequence: self.sequence,
            timestamp: u32::from(self.sequence) * 3000,
            marker: true,
            keyframe,
            arrival: Instant::now(),
            payload: Arc::clone(&self.payload),
        });
    }

    /// Forwards what the ring holds to every viewer and sends it.
    fn forward_all(&mut self) {
        let now = Instant::now();
        for viewer in &mut self.viewers {
            viewer.forward(now, &mut self.send);
        }
        self.send.flush(&self.server);
    }
}

fn fanout(c: &mut Criterion) {
    let mut group = c.benchmark_group("fanout");
    group.measurement_time(Duration::from_secs(4));
    group.warm_up_time(Duration::from_secs(1));
    for viewers in [1usize, 10, 50] {
        let mut bench = Bench::new(viewers);
        group.throughput(Throughput::Elements(viewers as u64));
        let mut allocations = 0u64;
        let mut packets = 0u64;
        group.bench_function(BenchmarkId::new("packet_to_viewers", viewers), |b| {
            b.iter_custom(|iterations| {
                let mut elapsed = Duration::ZERO;
                for i in 0..iterations {
                    bench.publish(false);
                    let before = ALLOCATIONS.load(Ordering::Relaxed);
                    let started = Instant::now();
                    bench.forward_all();
                    elapsed += started.elapsed();
                    allocations += ALLOCATIONS.load(Ordering::Relaxed) - before;
                    packets += 1;
                    if i % 64 == 0 {
                        bench.pump_all();
                    }
                }
                elapsed
            })
        });
        eprintln!(
            "fanout/{viewers}: {:.2} allocations per packet per viewer ({} packets), forwarded {}",
            allocations as f64 / (packets as f64 * viewers as f64),
            packets,
            bench.viewers.iter().map(|v| v.forwarded).sum::<u64>(),
        );
    }
    group.finish();
}

criterion_group!(benches, fanout);
criterion_main!(benches);
