//! One load run: options, the publisher thread, the viewer ramp, the steady
//! window sampled from `/proc`, and the summary.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};

use crate::ftl_publisher::{FtlError, FtlPublisher};
use crate::media::{Clip, MediaError};
use crate::publisher::{PublisherStats, publish};
use crate::report::{ProcSample, Quantiles, Summary};
use crate::send_log::SendLog;
use crate::signalling::{SignalError, Signalling};
use crate::viewers::{JoinPlan, ViewerLoop, spawn_joiner};
use crate::whip_publisher::{WhipError, WhipPublisher};

/// How the synthetic publisher reaches the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Ingest {
    /// FTL: TCP handshake, RTP over UDP.
    Ftl,
    /// WHIP: str0m publisher over WebRTC.
    Whip,
    /// No publisher: the stream is already live.
    None,
}

/// `waveguide-load`: publish a clip and watch it with many WHEP viewers.
#[derive(Debug, Clone, Parser)]
#[command(name = "waveguide-load", version)]
pub struct Options {
    /// The server's HTTP base URL (WHIP and WHEP).
    #[arg(long, default_value = "http://127.0.0.1:8091")]
    pub http: String,
    /// The server's FTL control address.
    #[arg(long, default_value_t = SocketAddr::from((Ipv4Addr::LOCALHOST, 8084)))]
    pub ftl: SocketAddr,
    /// How the publisher connects.
    #[arg(long, value_enum, default_value_t = Ingest::Ftl)]
    pub ingest: Ingest,
    /// Stream key `{channel}-{secret}` (the default is channel 123 under
    /// the embedded dummy service).
    #[arg(
        long,
        default_value = "123-a665a45920422f9d417e4867efdc4fb8a04a1f3fff1fa07e998e86f7f7a27ae3"
    )]
    pub stream_key: String,
    /// WHEP viewers.
    #[arg(long, default_value_t = 50)]
    pub viewers: usize,
    /// Viewers started per second.
    #[arg(long, default_value_t = 50.0)]
    pub ramp: f64,
    /// Seconds measured once every viewer has joined (after a 2 s settle).
    #[arg(long, default_value_t = 30.0)]
    pub duration: f64,
    /// H.264 Annex B file to publish.
    #[arg(long)]
    pub video: PathBuf,
    /// Ogg Opus file to publish.
    #[arg(long)]
    pub audio: PathBuf,
    /// Frame rate of the video file.
    #[arg(long, default_value_t = 30)]
    pub fps: u32,
    /// Local address for the viewers' and publisher's sockets.
    #[arg(long, default_value_t = IpAddr::V4(Ipv4Addr::LOCALHOST))]
    pub bind: IpAddr,
    /// The server's process id, for CPU and memory figures from /proc.
    #[arg(long)]
    pub server_pid: Option<u32>,
    /// Churn: each viewer leaves this many seconds after joining and a new
    /// one takes its place (a soak test).
    #[arg(long)]
    pub churn: Option<f64>,
    /// Print a JSON line with the server's RSS and open fds to stderr this
    /// often, in seconds.
    #[arg(long)]
    pub sample_every: Option<f64>,
}

/// Why a run could not happen.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// A media file could not be read.
    #[error("{path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The reason.
        source: std::io::Error,
    },
    /// A media file has no usable content.
    #[error(transparent)]
    Media(#[from] MediaError),
    /// The FTL publisher failed.
    #[error(transparent)]
    Ftl(#[from] FtlError),
    /// The WHIP publisher failed.
    #[error(transparent)]
    Whip(#[from] WhipError),
    /// The HTTP client could not be built.
    #[error(transparent)]
    Signal(#[from] SignalError),
    /// The stream key has no channel.
    #[error("the stream key must be {{channel}}-{{secret}}")]
    StreamKey,
    /// A thread or socket failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// A duration from a number of seconds given on the command line: negative
/// or NaN is zero, too large is a year.
fn seconds(value: f64) -> Duration {
    Duration::try_from_secs_f64(value.max(0.0)).unwrap_or(Duration::from_secs(365 * 86_400))
}

/// Settle time after the last viewer joined, before the window opens.
const SETTLE: Duration = Duration::from_secs(2);
/// Publishing before the first viewer, so the stream has a keyframe.
const WARM_UP: Duration = Duration::from_secs(2);

fn read(path: &PathBuf) -> Result<Vec<u8>, LoadError> {
    std::fs::read(path).map_err(|source| LoadError::Read {
        path: path.display().to_string(),
        source,
    })
}

/// Runs the publisher until `stop`; returns its stats.
fn spawn_publisher(
    options: &Options,
    clip: Clip,
    log: Arc<SendLog>,
    stop: Arc<AtomicBool>,
    signalling: &Signalling,
    channel: &str,
) -> Result<Option<std::thread::JoinHandle<PublisherStats>>, LoadError> {
    let fps = options.fps;
    match options.ingest {
        Ingest::None => Ok(None),
        Ingest::Ftl => {
            let mut sink = FtlPublisher::connect(options.ftl, &options.stream_key)?;
            Ok(Some(
                std::thread::Builder::new()
                    .name("publisher".into())
                    .spawn(move || publish(&mut sink, &clip, fps, &log, &stop))?,
            ))
        }
        Ingest::Whip => {
            let mut sink =
                WhipPublisher::connect(signalling, channel, &options.stream_key, options.bind)?;
            Ok(Some(
                std::thread::Builder::new()
                    .name("publisher".into())
                    .spawn(move || publish(&mut sink, &clip, fps, &log, &stop))?,
            ))
        }
    }
}

/// Runs a whole load test and returns its summary.
pub fn run(options: &Options) -> Result<Summary, LoadError> {
    let clip = Clip::parse(&read(&options.video)?, &read(&options.audio)?)?;
    let channel = options
        .stream_key
        .split_once('-')
        .map(|(channel, _)| channel.to_owned())
        .ok_or(LoadError::StreamKey)?;
    let signalling = Signalling::new(&options.http)?;
    let log = Arc::new(SendLog::new());
    let stop = Arc::new(AtomicBool::new(false));
    let began = Instant::now();
    let publisher = spawn_publisher(
        options,
        clip,
        Arc::clone(&log),
        Arc::clone(&stop),
        &signalling,
        &channel,
    )?;
    if publisher.is_some() {
        std::thread::sleep(WARM_UP);
    }
    let server_pid = options.server_pid.map(|pid| pid.to_string());
    let server_sample = || server_pid.as_deref().and_then(ProcSample::read);
    let baseline = server_sample();

    let lifetime = options.churn.map(|s| seconds(s.max(0.1)));
    let mut viewers = ViewerLoop::new(log, lifetime)?;
    let plan = JoinPlan {
        path: format!("/whep/endpoint/{channel}"),
        count: options.viewers,
        per_second: options.ramp,
        bind: options.bind,
    };
    let joiner = spawn_joiner(
        signalling.clone(),
        plan,
        viewers.joiner_handles(),
        Arc::clone(&stop),
    )?;
    let mut sampler = Sampler::new(options, began);
    while viewers.progress().settled < options.viewers && !joiner.is_finished() {
        viewers.run_until(Instant::now() + Duration::from_millis(100))?;
        sampler.maybe_sample(&viewers);
    }
    let settle_end = Instant::now() + SETTLE;
    while Instant::now() < settle_end {
        viewers.run_until((Instant::now() + Duration::from_millis(100)).min(settle_end))?;
        sampler.maybe_sample(&viewers);
    }
    let window_start = Instant::now();
    let (server_before, self_before) = (server_sample(), ProcSample::read("self"));
    let packets_before = viewers.progress().packets;
    let window_end = window_start + seconds(options.duration);
    while Instant::now() < window_end {
        viewers.run_until((Instant::now() + Duration::from_millis(100)).min(window_end))?;
        sampler.maybe_sample(&viewers);
    }
    let window = window_start.elapsed().as_secs_f64();
    let (server_after, self_after) = (server_sample(), ProcSample::read("self"));
    let window_packets = viewers.progress().packets - packets_before;

    stop.store(true, Ordering::Release);
    let _ = joiner.join();
    let publisher_stats = publisher.and_then(|p| p.join().ok());
    let mut summary = summarize(options, &viewers);
    summary.duration_s = began.elapsed().as_secs_f64();
    summary.window_s = window;
    summary.publisher = publisher_stats;
    let percent = |before: Option<ProcSample>, after: Option<ProcSample>| {
        Some((after?.cpu_us - before?.cpu_us) as f64 / (window * 1e6) * 100.0)
    };
    summary.server_cpu_percent = percent(server_before, server_after);
    summary.load_cpu_percent = percent(self_before, self_after);
    if let (Some(before), Some(after)) = (server_before, server_after)
        && window_packets > 0
    {
        summary.server_cpu_us_per_packet =
            Some((after.cpu_us - before.cpu_us) as f64 / window_packets as f64);
    }
    if let (Some(baseline), Some(after)) = (baseline, server_after)
        && options.viewers > 0
    {
        summary.server_rss_kib_per_viewer =
            Some((after.rss_kib as f64 - baseline.rss_kib as f64) / options.viewers as f64);
    }
    for viewer in viewers.viewers() {
        if let Some(resource) = &viewer.resource {
            signalling.delete(resource);
        }
    }
    Ok(summary)
}

/// Periodic `/proc` samples of the server, printed to stderr as JSON lines.
struct Sampler {
    every: Option<Duration>,
    pid: Option<String>,
    began: Instant,
    next: Instant,
}

impl Sampler {
    fn new(options: &Options, began: Instant) -> Self {
        Self {
            every: options.sample_every.map(|s| seconds(s.max(0.1))),
            pid: options.server_pid.map(|pid| pid.to_string()),
            began,
            next: Instant::now(),
        }
    }

    fn maybe_sample(&mut self, viewers: &ViewerLoop) {
        let Some(every) = self.every else {
            return;
        };
        let now = Instant::now();
        if now < self.next {
            return;
        }
        self.next = now + every;
        let pid = self.pid.as_deref();
        let sample = serde_json::json!({
            "t_s": (now - self.began).as_secs_f64().round(),
            "viewers": viewers.viewers().count(),
            "viewer_sessions": viewers.totals().joined,
            "server_rss_kib": pid.and_then(ProcSample::read).map(|s| s.rss_kib),
            "server_fds": pid.and_then(|pid| std::fs::read_dir(format!("/proc/{pid}/fd")).ok()).map(|d| d.count()),
        });
        eprintln!("{sample}");
    }
}

fn summarize(options: &Options, viewers: &ViewerLoop) -> Summary {
    let totals = viewers.totals();
    let mut failures: Vec<String> = viewers.failures().to_vec();
    failures.extend(totals.failures.iter().cloned());
    failures.truncate(5);
    let (received, lost) = (totals.packets, totals.lost);
    Summary {
        ingest: format!("{:?}", options.ingest).to_lowercase(),
        viewers: options.viewers,
        viewer_sessions: totals.joined + viewers.failures().len(),
        viewers_connected: totals.connected,
        viewers_failed: totals.joined + viewers.failures().len() - totals.connected,
        packets_received: received,
        bytes_received: totals.bytes,
        packets_lost: lost,
        delivery: if received + lost == 0 {
            0.0
        } else {
            received as f64 / (received + lost) as f64
        },
        frames: totals.frames,
        nacks_sent: totals.nacks,
        plis_sent: totals.plis,
        first_frame_ms: Quantiles::of(&viewers.first_frames),
        latency_ms: Quantiles::of(&viewers.latency),
        failures,
        ..Summary::default()
    }
}
