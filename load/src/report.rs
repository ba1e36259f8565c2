//! What a load run measured: latency histograms, per-viewer sequence
//! continuity, `/proc` samples of a process, and the one-line JSON summary.

use serde::Serialize;

use crate::publisher::PublisherStats;

/// Histogram bucket width, in microseconds.
const BUCKET_US: u64 = 10;
/// Buckets up to 2 s; slower samples land in the last one.
const BUCKETS: usize = 200_000;

/// A fixed-bucket histogram of durations in microseconds.
#[derive(Debug, Clone)]
pub struct Histogram {
    counts: Vec<u64>,
    samples: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Self::new()
    }
}

impl Histogram {
    /// An empty histogram (10 µs buckets up to 2 s).
    pub fn new() -> Self {
        Self {
            counts: vec![0; BUCKETS + 1],
            samples: 0,
        }
    }

    /// Adds one sample.
    pub fn record_us(&mut self, micros: u64) {
        let bucket = ((micros / BUCKET_US) as usize).min(BUCKETS);
        self.counts[bucket] += 1;
        self.samples += 1;
    }

    /// How many samples it holds.
    pub fn samples(&self) -> u64 {
        self.samples
    }

    /// The `q` quantile (0..=1) in milliseconds, at the bucket's upper edge.
    pub fn quantile_ms(&self, q: f64) -> Option<f64> {
        if self.samples == 0 {
            return None;
        }
        let rank = ((self.samples as f64) * q).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (bucket, count) in self.counts.iter().enumerate() {
            seen += count;
            if seen >= rank {
                return Some(((bucket as u64 + 1) * BUCKET_US) as f64 / 1000.0);
            }
        }
        None
    }
}

/// Sequence continuity of one RTP stream: unique packets against the span
/// of sequence numbers seen, over a 1024-packet window for duplicates.
#[derive(Debug, Clone, Default)]
pub struct Continuity {
    first: Option<u64>,
    highest: u64,
    window: [u64; 16],
    /// Unique packets received.
    pub received: u64,
    /// Packets received twice (retransmissions that crossed the original).
    pub duplicates: u64,
}

impl Continuity {
    fn bit(&self, sequence: u64) -> (usize, u64) {
        let index = (sequence % 1024) as usize;
        (index / 64, 1u64 << (index % 64))
    }

    /// Notes `sequence` (extended); returns whether it was new.
    pub fn record(&mut self, sequence: u64) -> bool {
        let Some(first) = self.first else {
            self.first = Some(sequence);
            self.highest = sequence;
            let (word, mask) = self.bit(sequence);
            self.window[word] |= mask;
            self.received = 1;
            return true;
        };
        if sequence < first {
            return false;
        }
        if sequence > self.highest {
            if sequence - self.highest >= 1024 {
                self.window = [0; 16];
            } else {
                for cleared in self.highest + 1..=sequence {
                    let (word, mask) = self.bit(cleared);
                    self.window[word] &= !mask;
                }
            }
            self.highest = sequence;
        } else if self.highest - sequence >= 1024 {
            return false;
        }
        let (word, mask) = self.bit(sequence);
        if self.window[word] & mask != 0 {
            self.duplicates += 1;
            return false;
        }
        self.window[word] |= mask;
        self.received += 1;
        true
    }

    /// Packets the span of sequence numbers says were sent.
    pub fn expected(&self) -> u64 {
        self.first.map_or(0, |first| self.highest - first + 1)
    }

    /// Expected packets never received.
    pub fn lost(&self) -> u64 {
        self.expected().saturating_sub(self.received)
    }
}

/// CPU time and resident memory of a process, from `/proc`.
#[derive(Debug, Clone, Copy)]
pub struct ProcSample {
    /// User plus system CPU time, in microseconds.
    pub cpu_us: u64,
    /// Resident set size, in KiB.
    pub rss_kib: u64,
}

impl ProcSample {
    /// Reads `/proc/{pid}/stat` and `/proc/{pid}/status` (`self` for this process).
    pub fn read(pid: &str) -> Option<Self> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // Fields after the command name, which may hold spaces, in parentheses.
        let after = stat.rsplit_once(')')?.1;
        let fields: Vec<&str> = after.split_whitespace().collect();
        let utime: u64 = fields.get(11)?.parse().ok()?;
        let stime: u64 = fields.get(12)?.parse().ok()?;
        // SAFETY: sysconf has no preconditions.
        let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
        let ticks = u64::try_from(ticks).ok().filter(|t| *t > 0)?;
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        let rss_kib = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())?;
        Some(Self {
            cpu_us: (utime + stime) * 1_000_000 / ticks,
            rss_kib,
        })
    }
}

/// p50 and p99 of a distribution, in milliseconds.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Quantiles {
    /// The median.
    pub p50: Option<f64>,
    /// The 99th percentile.
    pub p99: Option<f64>,
    /// How many samples.
    pub samples: u64,
}

impl Quantiles {
    /// From a histogram.
    pub fn of(histogram: &Histogram) -> Self {
        Self {
            p50: histogram.quantile_ms(0.5),
            p99: histogram.quantile_ms(0.99),
            samples: histogram.samples(),
        }
    }
}

/// The one-line JSON summary printed at the end of a run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    /// `ftl`, `whip` or `none`.
    pub ingest: String,
    /// Viewers asked for (at once).
    pub viewers: usize,
    /// Viewer sessions over the run: more than `viewers` with churn.
    pub viewer_sessions: usize,
    /// Viewer sessions whose ICE and DTLS completed.
    pub viewers_connected: usize,
    /// Viewers refused, never connected, or disconnected early.
    pub viewers_failed: usize,
    /// Seconds of the run, ramp included.
    pub duration_s: f64,
    /// RTP packets received by all viewers, unique.
    pub packets_received: u64,
    /// SRTP datagram bytes received by all viewers.
    pub bytes_received: u64,
    /// Packets missing from the viewers' sequence spans.
    pub packets_lost: u64,
    /// Received over expected.
    pub delivery: f64,
    /// Complete video frames (marker bits) received.
    pub frames: u64,
    /// NACKs the viewers sent.
    pub nacks_sent: u64,
    /// PLIs the viewers sent.
    pub plis_sent: u64,
    /// From the WHEP POST to the end of the first frame.
    pub first_frame_ms: Quantiles,
    /// From the publisher's send to the kernel's arrival stamp at a viewer,
    /// for packets sent after that viewer connected.
    pub latency_ms: Quantiles,
    /// Seconds of the steady window (all viewers in) the next figures cover.
    pub window_s: f64,
    /// Server CPU time per packet delivered in the window.
    pub server_cpu_us_per_packet: Option<f64>,
    /// Server CPU use in the window, in percent of one core.
    pub server_cpu_percent: Option<f64>,
    /// Server RSS growth from before the first viewer to the end, per viewer.
    pub server_rss_kib_per_viewer: Option<f64>,
    /// This tool's CPU use in the window, in percent of one core.
    pub load_cpu_percent: Option<f64>,
    /// What the publisher sent.
    pub publisher: Option<PublisherStats>,
    /// The first few failure reasons.
    pub failures: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_come_from_the_right_buckets() {
        let mut histogram = Histogram::new();
        for micros in 0..1000 {
            histogram.record_us(micros);
        }
        histogram.record_us(5_000_000);
        assert_eq!(histogram.quantile_ms(0.5), Some(0.51));
        assert_eq!(histogram.quantile_ms(0.99), Some(1.0));
        assert_eq!(histogram.quantile_ms(1.0), Some(2000.01));
        assert_eq!(Histogram::new().quantile_ms(0.5), None);
    }

    #[test]
    fn continuity_counts_gaps_duplicates_and_late_repairs() {
        let mut stream = Continuity::default();
        for sequence in [10, 11, 13, 14, 11, 12, 20] {
            stream.record(sequence);
        }
        assert_eq!(stream.expected(), 11);
        assert_eq!(stream.received, 6);
        assert_eq!(stream.duplicates, 1);
        assert_eq!(stream.lost(), 5);
        assert!(!stream.record(5), "before the first packet");
        stream.record(5000);
        assert!(stream.record(4999), "a repair within the window is new");
        assert!(!stream.record(4999));
    }

    #[test]
    fn this_process_can_be_sampled() {
        let sample = ProcSample::read("self").unwrap();
        assert!(sample.rss_kib > 0);
    }
}
