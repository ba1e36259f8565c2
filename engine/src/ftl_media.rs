//! FtlIngest: one FTL stream's media socket on its worker. It classifies
//! datagrams with `ftl`, echoes pings, latches the client's address (only
//! the control connection's IP is accepted), NACKs video gaps, drops audio
//! until the first video (FTL-SPEC §4.2, §5), and publishes media to the
//! stream's rings: one allocation and one copy per packet, the shared payload.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use ftl::{Datagram, MediaParams, NackConfig, NackTracker, RtpPacket, classify};

use crate::ring::{RingPacket, RingWriter};
use crate::stream::Stream;
use crate::udp::{BATCH, RecvBatch};

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

/// What one read turn did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReadOutcome {
    /// Media packets published to the rings.
    pub published: usize,
    /// The budget ran out before the socket was empty: read again soon.
    pub more: bool,
}

/// One FTL stream's media socket and the state behind it.
pub struct FtlIngest {
    socket: mio::net::UdpSocket,
    client_ip: IpAddr,
    params: MediaParams,
    latched: Option<SocketAddr>,
    video: Option<RingWriter>,
    audio: Option<RingWriter>,
    stream: Arc<Stream>,
    nack: NackTracker,
    nack_buf: Vec<u8>,
    seen_video: bool,
    last_datagram: Instant,
    drops: Vec<IngestDrop>,
}

impl FtlIngest {
    /// Ingest for `stream` on `socket`, accepting datagrams from `client_ip` only.
    pub fn new(
        now: Instant,
        socket: mio::net::UdpSocket,
        client_ip: IpAddr,
        params: MediaParams,
        stream: Arc<Stream>,
        video: Option<RingWriter>,
        audio: Option<RingWriter>,
    ) -> Self {
        Self {
            socket,
            client_ip,
            params,
            latched: None,
            video,
            audio,
            stream,
            nack: NackTracker::new(NackConfig::default()),
            nack_buf: Vec::with_capacity(1500),
            seen_video: false,
            last_datagram: now,
            drops: Vec::new(),
        }
    }

    /// The socket, for registering with the worker's poll.
    pub fn socket_mut(&mut self) -> &mut mio::net::UdpSocket {
        &mut self.socket
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

    /// Reads datagrams until the socket is empty or the budget is spent.
    pub fn read(&mut self, now: Instant, batch: &mut RecvBatch) -> io::Result<ReadOutcome> {
        let mut outcome = ReadOutcome::default();
        let mut read = 0;
        loop {
            if read >= READ_BUDGET {
                outcome.more = true;
                break;
            }
            let count = match batch.recv(&self.socket) {
                Ok(count) => count,
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => break,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                Err(error) => return Err(error),
            };
            read += count;
            for (source, datagram) in batch.datagrams() {
                if self.handle_datagram(now, source, datagram) {
                    outcome.published += 1;
                }
            }
        }
        self.send_nacks(now);
        Ok(outcome)
    }

    /// Classifies one datagram and acts on it; true if media was published.
    fn handle_datagram(&mut self, now: Instant, source: SocketAddr, datagram: &[u8]) -> bool {
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
                let _ = self.socket.send_to(echo, source);
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
                if let Some(sps) = codec::h264::sps_in_payload(packet.payload)
                    && let Ok(sps) = codec::h264::Sps::parse(sps)
                {
                    self.stream.set_sps(sps);
                }
                let keyframe = codec::h264::is_keyframe(packet.payload);
                publish(&mut self.video, &self.stream, now, &packet, keyframe)
            }
            Datagram::Audio(packet) => {
                // ftl-sdk's speed test sends garbage as audio before the
                // stream starts; with no video announced there is none to wait for.
                if !self.seen_video && self.params.video.is_some() {
                    self.drop(IngestDrop::AudioBeforeVideo);
                    return false;
                }
                publish(&mut self.audio, &self.stream, now, &packet, false)
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

    fn send_nacks(&mut self, now: Instant) {
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
            let _ = self.socket.send_to(&self.nack_buf, destination);
        }
    }
}

fn publish(
    writer: &mut Option<RingWriter>,
    stream: &Stream,
    now: Instant,
    packet: &RtpPacket<'_>,
    keyframe: bool,
) -> bool {
    let Some(writer) = writer else {
        return false;
    };
    let counters = stream.counters();
    counters.packets_in.fetch_add(1, Ordering::Relaxed);
    counters
        .bytes_in
        .fetch_add(packet.payload.len() as u64, Ordering::Relaxed);
    writer.push(RingPacket {
        sequence: packet.sequence,
        timestamp: packet.timestamp,
        marker: packet.marker,
        keyframe,
        arrival: now,
        payload: Arc::from(packet.payload),
    });
    true
}
