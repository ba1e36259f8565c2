//! FtlIngest: what arrives on one FTL stream's media socket, sans-IO (the
//! worker reads the socket and sends what this queues). It classifies
//! datagrams with `ftl`, echoes pings, latches the client's address (only
//! the control connection's IP is accepted), NACKs video gaps, drops audio
//! until the first video (FTL-SPEC §4.2, §5), and publishes media to the
//! stream's rings: one allocation and one copy per packet, the shared payload.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use ftl::{Datagram, MediaParams, NackConfig, NackTracker, RtpPacket, classify};

use crate::ring::Writers;
use crate::stream::{Stream, TrackKind};
use crate::track_writer::{RtpFields, TrackWriter};
use crate::udp::{BATCH, SendBatch};

/// Most datagrams read from one FTL socket per turn of the worker loop, so a
/// flooding client cannot starve the worker's other sockets.
pub const READ_BUDGET: usize = 8 * BATCH;

/// Why the ingest dropped a datagram before or after classification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IngestDrop {
    /// The classifier refused it.
    Classified(ftl::DropReason),
    /// It came from an IP other than the control connection's.
    WrongSource,
    /// Audio before the first video packet (ftl-sdk's speed test).
    AudioBeforeVideo,
    /// Longer than the receive buffer.
    Truncated,
    /// A video packet already received, or one given up on.
    Duplicate,
}

/// The state behind one FTL stream's media socket.
pub struct FtlIngest {
    client_ip: IpAddr,
    params: MediaParams,
    latched: Option<SocketAddr>,
    video: Option<TrackWriter>,
    audio: Option<TrackWriter>,
    stream: Arc<Stream>,
    nack: NackTracker,
    nack_buf: Vec<u8>,
    seen_video: bool,
    last_datagram: Instant,
    drops: Vec<IngestDrop>,
    /// Media packets published since [`finish_read`](Self::finish_read).
    published: usize,
}

impl FtlIngest {
    /// Ingest for `stream`, accepting datagrams from `client_ip` only.
    pub(crate) fn new(
        now: Instant,
        client_ip: IpAddr,
        params: MediaParams,
        stream: Arc<Stream>,
        (video, audio): Writers,
    ) -> Self {
        Self {
            client_ip,
            params,
            latched: None,
            video: video.map(|writer| TrackWriter::new(TrackKind::Video, writer)),
            audio: audio.map(|writer| TrackWriter::new(TrackKind::Audio, writer)),
            stream,
            nack: NackTracker::new(NackConfig::default()),
            nack_buf: Vec::with_capacity(1500),
            seen_video: false,
            last_datagram: now,
            drops: Vec::new(),
            published: 0,
        }
    }

    /// The stream this ingest feeds.
    pub fn stream(&self) -> &Arc<Stream> {
        &self.stream
    }

    /// When the last datagram from the client arrived (FTL pings come every
    /// 25 ms, so a long silence means the client is gone).
    pub fn last_datagram(&self) -> Instant {
        self.last_datagram
    }

    /// Drops since the last call, for logging and counters.
    pub fn take_drops(&mut self) -> std::vec::Drain<'_, IngestDrop> {
        self.drops.drain(..)
    }

    /// Ends a read turn: sends the NACKs its gaps call for into `send` (the
    /// socket's batch) and returns how many media packets it published.
    pub fn finish_read(&mut self, now: Instant, send: &mut SendBatch) -> usize {
        self.send_nacks(now, send);
        std::mem::take(&mut self.published)
    }

    /// Classifies one datagram from `source` and acts on it; a ping's echo
    /// goes into `send` (the socket's batch).
    pub fn handle_datagram(
        &mut self,
        now: Instant,
        source: SocketAddr,
        datagram: &[u8],
        send: &mut SendBatch,
    ) {
        if self.classify(now, source, datagram, send) {
            self.published += 1;
        }
    }

    /// Classifies one datagram and acts on it; true if media was published.
    fn classify(
        &mut self,
        now: Instant,
        source: SocketAddr,
        datagram: &[u8],
        send: &mut SendBatch,
    ) -> bool {
        if source.ip() != self.client_ip {
            self.drop(IngestDrop::WrongSource);
            return false;
        }
        if datagram.is_empty() {
            self.drop(IngestDrop::Truncated);
            return false;
        }
        let datagram = classify(datagram, &self.params);
        if !matches!(datagram, Datagram::Drop(_)) {
            // Latch the port of the latest good datagram: NACKs and ping
            // echoes go there (FTL-SPEC §4.1).
            self.latched = Some(source);
            self.last_datagram = now;
        }
        match datagram {
            Datagram::Ping(echo) => {
                // Echoed verbatim; the client measures its RTT with it (§4.3).
                send.push(source, echo.to_vec());
                false
            }
            Datagram::SenderReport(_) => false,
            Datagram::Video(packet) => {
                self.seen_video = true;
                match self.nack.on_packet(now, packet.sequence) {
                    ftl::Arrival::Recovered => {
                        self.stream
                            .counters()
                            .recovered
                            .fetch_add(1, Ordering::Relaxed);
                    }
                    // A duplicate, or a retransmission given up on: viewers
                    // already have it, or have moved on.
                    ftl::Arrival::Stale => {
                        self.drop(IngestDrop::Duplicate);
                        return false;
                    }
                    _ => {}
                }
                publish(&mut self.video, &self.stream, now, &packet)
            }
            Datagram::Audio(packet) => {
                // ftl-sdk's speed test sends garbage as audio before the
                // stream starts; with no video announced there is none to wait for.
                if !self.seen_video && self.params.video.is_some() {
                    self.drop(IngestDrop::AudioBeforeVideo);
                    return false;
                }
                publish(&mut self.audio, &self.stream, now, &packet)
            }
            Datagram::Drop(reason) => {
                self.drop(IngestDrop::Classified(reason));
                false
            }
        }
    }

    fn drop(&mut self, why: IngestDrop) {
        self.stream
            .counters()
            .dropped
            .fetch_add(1, Ordering::Relaxed);
        // Bounded: the worker drains these after every read turn.
        if self.drops.len() < READ_BUDGET {
            self.drops.push(why);
        }
    }

    fn send_nacks(&mut self, now: Instant, send: &mut SendBatch) {
        let (Some(destination), Some(video)) = (self.latched, self.params.video) else {
            return;
        };
        self.stream
            .counters()
            .lost
            .store(self.nack.stats().lost, Ordering::Relaxed);
        self.nack_buf.clear();
        let requested = self
            .nack
            .poll_nack(now, video.ssrc, video.ssrc, &mut self.nack_buf);
        if requested > 0 {
            self.stream
                .counters()
                .nacked
                .fetch_add(requested as u64, Ordering::Relaxed);
            send.push(destination, self.nack_buf.clone());
        }
    }
}

/// Publishes one media packet to its track, if the stream announced it:
/// the payload's one allocation and one copy.
fn publish(
    writer: &mut Option<TrackWriter>,
    stream: &Stream,
    now: Instant,
    packet: &RtpPacket<'_>,
) -> bool {
    let Some(writer) = writer else {
        return false;
    };
    let rtp = RtpFields {
        sequence: packet.sequence,
        timestamp: packet.timestamp,
        marker: packet.marker,
    };
    writer.publish(stream, rtp, now, Arc::from(packet.payload));
    true
}
