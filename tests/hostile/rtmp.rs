//! The RTMP part of the hostile matrix, with the load tool's RTMP client: a
//! connection past the limit, broken and unfinished handshakes, chunk sizes
//! and message lengths at and past their limits, commands out of order,
//! wrong keys, unknown codecs, garbage FLV tags and a client that stops
//! reading; then a good publish of channel 2. Each case has its own
//! connection, one at a time, so only the limit's case reaches the limit.
//! A panic anywhere in the process while they run is counted.

mod connection;
mod session;
mod tags;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use waveguide::Node;
use waveguide_load::rtmp_publisher::{RtmpError, RtmpPublisher};

use connection::{chunk_sizes, connection_limit, handshakes, message_lengths, stops_reading};
use session::{codecs, healthy, keys, out_of_order};
use tags::garbage_tags;

use crate::answers::Answers;

/// The node's RTMP handshake deadline in this matrix (accept → publishing).
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(1);
/// The node's RTMP write timeout in this matrix.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(1);
/// The node's RTMP connection limit in this matrix.
pub const MAX_CONNECTIONS: usize = 8;

const SPS: [u8; 9] = [0x67, 0x42, 0xc0, 0x1e, 0xd9, 0x01, 0x40, 0x7b, 0x20];
const PPS: [u8; 5] = [0x68, 0xcb, 0x83, 0xcb, 0x20];
const IDR: [u8; 3] = [0x65, 0x88, 0x84];
/// AAC-LC, 44.1 kHz, stereo.
const AAC_CONFIG: [u8; 2] = [0x12, 0x10];
/// Longest wait for a close that should come at once.
const CLOSE_WAIT: Duration = Duration::from_secs(3);
/// How late a close may come and still count as the deadline's.
const DEADLINE_SLACK: Duration = Duration::from_secs(2);

static PANICS: AtomicUsize = AtomicUsize::new(0);

/// A case's connection and when it was opened: the server's handshake
/// deadline counts from then until it publishes.
struct Case {
    client: RtmpPublisher,
    opened: Instant,
    published: bool,
}

impl Case {
    fn open(addr: SocketAddr) -> Self {
        Self {
            client: RtmpPublisher::open(addr).unwrap(),
            opened: Instant::now(),
            published: false,
        }
    }

    fn handshaken(addr: SocketAddr) -> Self {
        let mut case = Self::open(addr);
        case.client.handshake().unwrap();
        case
    }

    fn connected(addr: SocketAddr) -> Self {
        let mut case = Self::handshaken(addr);
        connect(&mut case.client).unwrap();
        case
    }

    /// Publishing `channel` with its right key, as OBS and FFmpeg do.
    fn publishing(node: &Node, channel: &str) -> Self {
        let key = node.service().example_stream_key(channel).unwrap();
        let mut case = Self::connected(node.rtmp_addr().unwrap());
        let client = &mut case.client;
        client.release_stream(&key).unwrap();
        client.fc_publish(&key).unwrap();
        client.create_stream().unwrap();
        client.publish(&key).unwrap();
        case.published = true;
        case
    }

    /// The error statuses the server sent, then how it ended: "closed",
    /// "closed at the handshake deadline" (within a second or two of it,
    /// before publishing), or "open" if it has not.
    fn ending(mut self) -> String {
        let deadline = (!self.published).then(|| self.opened + HANDSHAKE_TIMEOUT);
        let wait = CLOSE_WAIT + deadline.map_or(Duration::ZERO, |_| HANDSHAKE_TIMEOUT);
        let closed = self.client.wait_until_closed(wait);
        let mut parts: Vec<String> = self
            .client
            .statuses()
            .iter()
            .filter(|status| status.level == "error")
            .map(|status| status.code.clone())
            .collect();
        let now = Instant::now();
        parts.push(match (closed, deadline) {
            (false, _) => "open".into(),
            (true, Some(deadline)) if now >= deadline + DEADLINE_SLACK => {
                format!("closed {:?} after the handshake deadline", now - deadline)
            }
            (true, Some(deadline)) if now >= deadline => "closed at the handshake deadline".into(),
            (true, _) => "closed".into(),
        });
        parts.join(", ")
    }

    /// "kept going" if the connection is still served (a ping is answered)
    /// and `channel` still live; else how it ended.
    fn goes_on(mut self, node: &Node, channel: &str) -> String {
        match self.client.ping(7) {
            Ok(()) if live(node, channel) => "kept going".into(),
            Ok(()) => "served, but the stream ended".into(),
            Err(_) => self.ending(),
        }
    }
}

fn connect(client: &mut RtmpPublisher) -> Result<(), RtmpError> {
    let flash_version = "FMLE/3.0 (compatible; waveguide-load)";
    client.connect("live", "rtmp://127.0.0.1/live", flash_version)
}

fn live(node: &Node, channel: &str) -> bool {
    node.engine().stream(channel).is_some_and(|s| !s.is_ended())
}

/// Counts panics on any thread from now on (tokio would swallow a
/// connection task's), still printing them.
fn count_panics() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        PANICS.fetch_add(1, Ordering::Relaxed);
        previous(info);
    }));
}

/// Runs every RTMP case against `node` and records the answers.
pub fn check(node: &Node, answers: &mut Answers) {
    count_panics();
    let addr = node.rtmp_addr().unwrap();
    let mut check = |case: &str, got: String, expected: &str| {
        answers.check(&format!("RTMP: {case}"), got, expected);
    };
    connection_limit(addr, &mut check);
    handshakes(addr, &mut check);
    chunk_sizes(addr, &mut check);
    message_lengths(node, &mut check);
    out_of_order(node, &mut check);
    keys(node, &mut check);
    codecs(node, &mut check);
    garbage_tags(node, &mut check);
    stops_reading(node, &mut check);
    healthy(node, &mut check);
    check(
        "panics anywhere in the node during the RTMP cases",
        PANICS.load(Ordering::Relaxed).to_string(),
        "0",
    );
}

/// Records one case's answer.
type Check<'a> = dyn FnMut(&str, String, &str) + 'a;

/// Whether `channel` is live once a closed connection's stream had time to end.
fn live_after_close(node: &Node, channel: &str) -> bool {
    let deadline = Instant::now() + Duration::from_secs(2);
    while live(node, channel) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    live(node, channel)
}
