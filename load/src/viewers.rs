//! Many WHEP viewers on one thread: each is a str0m `Rtc` (full ICE, RTP
//! mode) on its own UDP socket, all driven by one mio loop. A joiner thread
//! creates viewers and signals them at the ramp rate; the loop checks each
//! viewer's sequence continuity and counts frames, latency and first frames.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use engine::internals::{BATCH, RecvBatch, enable_timestamps};
use mio::net::UdpSocket;
use mio::{Events, Interest, Poll, Token, Waker};
use str0m::media::{Direction, Mid};
use str0m::net::{Protocol, Receive};
use str0m::rtp::Ssrc;
use str0m::{Candidate, Event, Input, Output, Rtc};

use crate::negotiation::{self, OfferedVideo};
use crate::report::{Continuity, Histogram};
use crate::send_log::{SendLog, packet_key, realtime_ns};
use crate::signalling::Signalling;

const WAKER: Token = Token(usize::MAX);
/// Receive buffer of each viewer socket. One thread serves every viewer,
/// so a socket may wait while a keyframe goes out to hundreds of others; a
/// real player reads its own socket at once and would not lose those packets.
const RECEIVE_BUFFER: usize = 1 << 20;
/// A viewer that has not connected this long after its answer has failed.
const CONNECT_DEADLINE: Duration = Duration::from_secs(10);

/// How viewers join.
#[derive(Debug, Clone)]
pub struct JoinPlan {
    /// The WHEP path, such as `/whep/endpoint/123`.
    pub path: String,
    /// How many viewers.
    pub count: usize,
    /// Viewers started per second.
    pub per_second: f64,
    /// Local address the viewers' sockets bind to.
    pub bind: IpAddr,
}

/// A viewer on its way into the loop, or why it could not join.
pub enum Joined {
    /// Signalled; ICE and DTLS follow in the loop.
    Viewer(Box<Viewer>),
    /// Refused or broken.
    Failed(String),
}

/// One viewer's state and counters.
pub struct Viewer {
    rtc: Rtc,
    socket: UdpSocket,
    local: SocketAddr,
    video: Mid,
    ssrcs: Vec<(Ssrc, bool)>,
    started: Instant,
    answered: Instant,
    connected_ns: Option<u64>,
    next_timeout: Instant,
    /// The WHEP resource, for DELETE.
    pub resource: Option<reqwest::Url>,
    /// From POST to the end of the first video frame.
    pub first_frame: Option<Duration>,
    /// Video sequence continuity.
    pub video_continuity: Continuity,
    /// Audio sequence continuity.
    pub audio_continuity: Continuity,
    /// Complete frames.
    pub frames: u64,
    /// SRTP bytes received.
    pub bytes: u64,
    /// NACKs and PLIs sent, per mid, from str0m's stats.
    feedback: Vec<(Mid, u64, u64)>,
    /// Why it ended early, if it did.
    pub failure: Option<String>,
}

impl Viewer {
    /// Whether ICE and DTLS completed.
    pub fn connected(&self) -> bool {
        self.connected_ns.is_some()
    }

    /// NACKs sent.
    pub fn nacks(&self) -> u64 {
        self.feedback.iter().map(|f| f.1).sum()
    }

    /// PLIs sent.
    pub fn plis(&self) -> u64 {
        self.feedback.iter().map(|f| f.2).sum()
    }

    /// Unique RTP packets received.
    pub fn packets(&self) -> u64 {
        self.video_continuity.received + self.audio_continuity.received
    }
}

fn build_rtc() -> Rtc {
    negotiation::rtc_config(OfferedVideo::AnyProfile, 102)
        .set_stats_interval(Some(Duration::from_secs(1)))
        .build(Instant::now())
}

/// Creates a viewer and signals it.
fn join(signalling: &Signalling, plan: &JoinPlan) -> Result<Viewer, String> {
    let started = Instant::now();
    let std_socket =
        std::net::UdpSocket::bind(SocketAddr::new(plan.bind, 0)).map_err(|e| e.to_string())?;
    std_socket
        .set_nonblocking(true)
        .map_err(|e| e.to_string())?;
    enable_timestamps(&std_socket).map_err(|e| e.to_string())?;
    socket2::SockRef::from(&std_socket)
        .set_recv_buffer_size(RECEIVE_BUFFER)
        .map_err(|e| e.to_string())?;
    let local = std_socket.local_addr().map_err(|e| e.to_string())?;
    let mut rtc = build_rtc();
    rtc.add_local_candidate(Candidate::host(local, "udp").map_err(|e| e.to_string())?);
    let offer = negotiation::offer(&mut rtc, Direction::RecvOnly).map_err(|e| e.to_string())?;
    let video = offer.video;
    let session = signalling
        .offer(
            &plan.path,
            &offer.sdp,
            None,
            started + Duration::from_secs(15),
        )
        .map_err(|e| e.to_string())?;
    negotiation::accept_answer(&mut rtc, offer.pending, &session.answer)
        .map_err(|e| e.to_string())?;
    let now = Instant::now();
    Ok(Viewer {
        rtc,
        socket: UdpSocket::from_std(std_socket),
        local,
        video,
        ssrcs: Vec::with_capacity(2),
        started,
        answered: now,
        connected_ns: None,
        next_timeout: now,
        resource: session.resource,
        first_frame: None,
        video_continuity: Continuity::default(),
        audio_continuity: Continuity::default(),
        frames: 0,
        bytes: 0,
        feedback: Vec::with_capacity(2),
        failure: None,
    })
}

/// Where the joiner sends viewers, hears of leavers, and wakes the loop.
pub struct JoinerHandles {
    /// New viewers, to the loop.
    pub to_loop: Sender<Joined>,
    /// Resources of viewers that left, from the loop: DELETE, then replace.
    pub leavers: Receiver<Option<reqwest::Url>>,
    /// Wakes the loop.
    pub waker: Arc<Waker>,
}

/// Starts the joiner thread: viewers at `plan.per_second` until `count`;
/// then, with churn, a replacement for every viewer that leaves.
pub fn spawn_joiner(
    signalling: Signalling,
    plan: JoinPlan,
    handles: JoinerHandles,
    stop: Arc<AtomicBool>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    let JoinerHandles {
        to_loop,
        leavers,
        waker,
    } = handles;
    std::thread::Builder::new()
        .name("whep-joiner".into())
        .spawn(move || {
            // Signals one viewer and hands it to the loop; false once the
            // loop is gone.
            let join_one = || {
                let joined = match join(&signalling, &plan) {
                    Ok(viewer) => Joined::Viewer(Box::new(viewer)),
                    Err(reason) => Joined::Failed(reason),
                };
                let sent = to_loop.send(joined).is_ok();
                let _ = waker.wake();
                sent
            };
            let interval = Duration::from_secs_f64(1.0 / plan.per_second.max(0.001));
            let start = Instant::now();
            for index in 0..plan.count {
                let due = start + interval.mul_f64(index as f64);
                if let Some(wait) = due.checked_duration_since(Instant::now()) {
                    std::thread::sleep(wait);
                }
                if stop.load(Ordering::Acquire) {
                    return;
                }
                if !join_one() {
                    return;
                }
            }
            while !stop.load(Ordering::Acquire) {
                let Ok(resource) = leavers.recv_timeout(Duration::from_millis(100)) else {
                    continue;
                };
                if let Some(resource) = resource {
                    signalling.delete(&resource);
                }
                if !join_one() {
                    return;
                }
            }
        })
}

/// Counters of viewers, summed.
#[derive(Debug, Clone, Default)]
pub struct Totals {
    /// Viewers that joined (signalled), churned ones included.
    pub joined: usize,
    /// Viewers whose ICE and DTLS completed and that did not fail.
    pub connected: usize,
    /// Unique RTP packets received.
    pub packets: u64,
    /// Packets missing from sequence spans.
    pub lost: u64,
    /// Complete frames.
    pub frames: u64,
    /// SRTP bytes received.
    pub bytes: u64,
    /// NACKs sent.
    pub nacks: u64,
    /// PLIs sent.
    pub plis: u64,
    /// Why viewers failed.
    pub failures: Vec<String>,
}

impl Totals {
    fn add(&mut self, viewer: &Viewer) {
        self.joined += 1;
        if viewer.connected() && viewer.failure.is_none() {
            self.connected += 1;
        }
        self.packets += viewer.packets();
        self.lost += viewer.video_continuity.lost() + viewer.audio_continuity.lost();
        self.frames += viewer.frames;
        self.bytes += viewer.bytes;
        self.nacks += viewer.nacks();
        self.plis += viewer.plis();
        if let Some(failure) = &viewer.failure
            && self.failures.len() < 5
        {
            self.failures.push(failure.clone());
        }
    }
}

/// Totals across viewers at one moment, for windowed figures.
#[derive(Debug, Clone, Copy, Default)]
pub struct Progress {
    /// Viewers that joined or failed so far.
    pub settled: usize,
    /// Unique packets received so far.
    pub packets: u64,
}

/// The viewer loop.
pub struct ViewerLoop {
    poll: Poll,
    waker: Arc<Waker>,
    joined: Receiver<Joined>,
    sender: Sender<Joined>,
    leavers: (Sender<Option<reqwest::Url>>, Receiver<Option<reqwest::Url>>),
    slots: Vec<Option<Viewer>>,
    free: Vec<usize>,
    lifetime: Option<Duration>,
    left: Totals,
    failures: Vec<String>,
    log: Arc<SendLog>,
    /// Latency samples: publisher send to kernel arrival.
    pub latency: Histogram,
    /// First-frame samples.
    pub first_frames: Histogram,
    packets: u64,
}

impl ViewerLoop {
    /// A loop that reads `log` for latency; with `lifetime`, viewers leave
    /// that long after joining.
    pub fn new(log: Arc<SendLog>, lifetime: Option<Duration>) -> std::io::Result<Self> {
        let poll = Poll::new()?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
        let (sender, joined) = crossbeam_channel::unbounded();
        Ok(Self {
            poll,
            waker,
            joined,
            sender,
            leavers: crossbeam_channel::unbounded(),
            slots: Vec::new(),
            free: Vec::new(),
            lifetime,
            left: Totals::default(),
            failures: Vec::new(),
            log,
            latency: Histogram::new(),
            first_frames: Histogram::new(),
            packets: 0,
        })
    }

    /// What the joiner thread needs.
    pub fn joiner_handles(&self) -> JoinerHandles {
        JoinerHandles {
            to_loop: self.sender.clone(),
            leavers: self.leavers.1.clone(),
            waker: Arc::clone(&self.waker),
        }
    }

    /// Totals so far.
    pub fn progress(&self) -> Progress {
        Progress {
            settled: self.left.joined + self.viewers().count() + self.failures.len(),
            packets: self.packets,
        }
    }

    /// The viewers now in the loop.
    pub fn viewers(&self) -> impl Iterator<Item = &Viewer> {
        self.slots.iter().flatten()
    }

    /// Counters over every viewer, those that left included.
    pub fn totals(&self) -> Totals {
        let mut totals = self.left.clone();
        for viewer in self.viewers() {
            totals.add(viewer);
        }
        totals
    }

    /// Failures of viewers that never joined.
    pub fn failures(&self) -> &[String] {
        &self.failures
    }

    /// Runs until `until`.
    pub fn run_until(&mut self, until: Instant) -> std::io::Result<()> {
        let mut events = Events::with_capacity(1024);
        let mut batch = RecvBatch::with_timestamps();
        loop {
            let now = Instant::now();
            if now >= until {
                return Ok(());
            }
            let wake = self
                .viewers()
                .filter(|v| v.failure.is_none())
                .map(|v| v.next_timeout)
                .min()
                .unwrap_or(until)
                .min(until);
            let wait = wake
                .saturating_duration_since(now)
                .clamp(Duration::from_micros(500), Duration::from_millis(50));
            match self.poll.poll(&mut events, Some(wait)) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
            for event in events.iter() {
                if event.token() == WAKER {
                    self.admit();
                } else if let Some(Some(viewer)) = self.slots.get_mut(event.token().0) {
                    read(
                        viewer,
                        &mut batch,
                        &self.log,
                        &mut self.latency,
                        &mut self.first_frames,
                        &mut self.packets,
                    );
                }
            }
            let now = Instant::now();
            self.churn(now);
            for viewer in self.slots.iter_mut().flatten() {
                if viewer.failure.is_none() && viewer.next_timeout <= now {
                    let _ = viewer.rtc.handle_input(Input::Timeout(now));
                    drain(
                        viewer,
                        None,
                        &self.log,
                        &mut self.latency,
                        &mut self.first_frames,
                        &mut self.packets,
                    );
                }
                if viewer.failure.is_none()
                    && !viewer.connected()
                    && now.duration_since(viewer.answered) > CONNECT_DEADLINE
                {
                    viewer.failure = Some("ICE/DTLS did not complete".into());
                }
            }
        }
    }

    /// Viewers past their lifetime leave; the joiner replaces them.
    fn churn(&mut self, now: Instant) {
        let Some(lifetime) = self.lifetime else {
            return;
        };
        for index in 0..self.slots.len() {
            let expired = self.slots[index]
                .as_ref()
                .is_some_and(|v| now.duration_since(v.started) >= lifetime);
            if !expired {
                continue;
            }
            if let Some(mut viewer) = self.slots[index].take() {
                let _ = self.poll.registry().deregister(&mut viewer.socket);
                self.left.add(&viewer);
                self.free.push(index);
                let _ = self.leavers.0.send(viewer.resource.take());
            }
        }
    }

    fn admit(&mut self) {
        while let Ok(joined) = self.joined.try_recv() {
            match joined {
                Joined::Viewer(mut viewer) => {
                    let index = self.free.pop().unwrap_or(self.slots.len());
                    let token = Token(index);
                    if let Err(e) =
                        self.poll
                            .registry()
                            .register(&mut viewer.socket, token, Interest::READABLE)
                    {
                        self.failures.push(format!("register: {e}"));
                        self.free.push(index);
                        let _ = self.leavers.0.send(viewer.resource.take());
                        continue;
                    }
                    if index == self.slots.len() {
                        self.slots.push(Some(*viewer));
                    } else {
                        self.slots[index] = Some(*viewer);
                    }
                }
                Joined::Failed(reason) => self.failures.push(reason),
            }
        }
    }
}

/// Reads what waits on a viewer's socket.
fn read(
    viewer: &mut Viewer,
    batch: &mut RecvBatch,
    log: &SendLog,
    latency: &mut Histogram,
    first_frames: &mut Histogram,
    packets: &mut u64,
) {
    while let Ok(count) = batch.recv(&viewer.socket) {
        for (source, bytes, stamp) in batch.stamped_datagrams() {
            viewer.bytes += bytes.len() as u64;
            let Ok(receive) = Receive::new(Protocol::Udp, source, viewer.local, bytes) else {
                continue;
            };
            let _ = viewer
                .rtc
                .handle_input(Input::Receive(Instant::now(), receive));
            drain(viewer, Some(stamp), log, latency, first_frames, packets);
        }
        if count < BATCH {
            break;
        }
    }
}

/// Drains a viewer's outputs; RTP packets from a datagram stamped `stamp`
/// are checked and timed.
fn drain(
    viewer: &mut Viewer,
    stamp: Option<u64>,
    log: &SendLog,
    latency: &mut Histogram,
    first_frames: &mut Histogram,
    packets: &mut u64,
) {
    loop {
        match viewer.rtc.poll_output() {
            Ok(Output::Transmit(t)) => {
                let _ = viewer.socket.send_to(&t.contents, t.destination);
            }
            Ok(Output::Timeout(at)) => {
                viewer.next_timeout = at;
                return;
            }
            Ok(Output::Event(event)) => match event {
                Event::Connected => viewer.connected_ns = Some(realtime_ns()),
                Event::RtpPacket(packet) => {
                    let ssrc = packet.header.ssrc;
                    let video = match viewer.ssrcs.iter().find(|(s, _)| *s == ssrc) {
                        Some((_, video)) => *video,
                        None => {
                            let video = viewer
                                .rtc
                                .direct_api()
                                .stream_rx(&ssrc)
                                .is_some_and(|s| s.mid() == viewer.video);
                            viewer.ssrcs.push((ssrc, video));
                            video
                        }
                    };
                    let sequence = *packet.seq_no;
                    let new = if video {
                        viewer.video_continuity.record(sequence)
                    } else {
                        viewer.audio_continuity.record(sequence)
                    };
                    if !new {
                        continue;
                    }
                    *packets += 1;
                    if video && packet.header.marker {
                        viewer.frames += 1;
                        if viewer.first_frame.is_none() {
                            let took = viewer.started.elapsed();
                            viewer.first_frame = Some(took);
                            first_frames.record_us(took.as_micros() as u64);
                        }
                    }
                    if let (Some(stamp), Some(connected)) = (stamp, viewer.connected_ns)
                        && stamp != 0
                        && let Some(sent) =
                            log.sent_ns(packet_key(packet.header.timestamp, &packet.payload))
                        && sent >= connected
                    {
                        latency.record_us(stamp.saturating_sub(sent) / 1000);
                    }
                }
                Event::MediaIngressStats(stats) => {
                    match viewer.feedback.iter_mut().find(|f| f.0 == stats.mid) {
                        Some(entry) => {
                            entry.1 = stats.nacks;
                            entry.2 = stats.plis;
                        }
                        None => viewer.feedback.push((stats.mid, stats.nacks, stats.plis)),
                    }
                }
                Event::IceConnectionStateChange(str0m::IceConnectionState::Disconnected) => {
                    viewer.failure = Some("ICE disconnected".into());
                }
                _ => {}
            },
            Err(e) => {
                viewer.failure = Some(format!("str0m: {e}"));
                return;
            }
        }
    }
}
