//! An FTL publisher: the `ftl` crate's client session over real TCP for the
//! handshake (kept alive with PINGs on a thread), and a UDP socket for media.

use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use ftl::{
    AudioTrack, ClientConfig, ClientError, ClientSession, StreamKey, StreamMetadata, VideoTrack,
};
use waveguide_load::ftl_publisher::{FtlError, handshake, keep_alive};

pub const VIDEO_PT: u8 = 96;
pub const AUDIO_PT: u8 = 97;

pub struct FtlPublisher {
    pub key: StreamKey,
    pub media: UdpSocket,
    pub media_addr: SocketAddr,
    stop: Arc<AtomicBool>,
    control: Option<JoinHandle<Option<ClientError>>>,
}

impl FtlPublisher {
    /// Connects to the node's FTL port with `stream_key` and completes the
    /// handshake for an H.264 + Opus stream.
    pub fn connect(ftl: SocketAddr, stream_key: &str) -> Result<Self, ClientError> {
        let key = StreamKey::parse(stream_key).unwrap();
        let metadata = StreamMetadata {
            protocol_version: Some("0.9".into()),
            vendor_name: Some("waveguide-tests".into()),
            vendor_version: Some("0".into()),
            video: Some(VideoTrack {
                payload_type: VIDEO_PT,
                ssrc: key.video_ssrc(),
                width_hint: Some(1280),
                height_hint: Some(720),
            }),
            audio: Some(AudioTrack {
                payload_type: AUDIO_PT,
                ssrc: key.audio_ssrc(),
            }),
        };
        let mut tcp = TcpStream::connect(ftl).unwrap();
        tcp.set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let mut session = ClientSession::new(
            Instant::now(),
            key.clone(),
            metadata,
            ClientConfig::default(),
        );
        let port = handshake(&mut tcp, &mut session).map_err(|error| match error {
            FtlError::Handshake(error) => error,
            // A reset or a read error: as before, a broken reply.
            _ => ClientError::MalformedReply,
        })?;
        let media = UdpSocket::bind("127.0.0.1:0").unwrap();
        media
            .set_read_timeout(Some(Duration::from_millis(1)))
            .unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let control = {
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || keep_alive(tcp, session, &stop))
        };
        Ok(Self {
            key,
            media,
            media_addr: SocketAddr::new(ftl.ip(), port),
            stop,
            control: Some(control),
        })
    }

    pub fn send_video(&self, sequence: u16, timestamp: u32, marker: bool, payload: &[u8]) {
        let packet = super::media::rtp(
            VIDEO_PT,
            marker,
            sequence,
            timestamp,
            self.key.video_ssrc(),
            payload,
        );
        self.media.send_to(&packet, self.media_addr).unwrap();
    }

    /// Sends the clip's first frame (SPS, PPS, IDR): until a stream has sent
    /// an SPS, viewers are asked to retry. Returns how many packets it sent.
    pub fn send_first_frame(&self, clip: &[super::media::MediaPacket]) -> usize {
        let first = clip
            .iter()
            .take_while(|p| p.timestamp == clip[0].timestamp)
            .count();
        for (sequence, packet) in clip.iter().take(first).enumerate() {
            self.send_video(
                sequence as u16,
                packet.timestamp,
                packet.marker,
                &packet.payload,
            );
        }
        first
    }

    /// Waits until the node has read the stream's SPS.
    pub fn wait_until_watchable(&self, node: &waveguide::Node) {
        let deadline = Instant::now() + Duration::from_secs(10);
        let channel = self.key.channel.to_string();
        while node
            .engine()
            .stream(&channel)
            .and_then(|s| s.sps().copied())
            .is_none()
        {
            assert!(Instant::now() < deadline, "the node never saw an SPS");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    pub fn send_audio(&self, sequence: u16, timestamp: u32, payload: &[u8]) {
        let packet = super::media::rtp(
            AUDIO_PT,
            false,
            sequence,
            timestamp,
            self.key.audio_ssrc(),
            payload,
        );
        self.media.send_to(&packet, self.media_addr).unwrap();
    }

    /// NACKed sequence numbers waiting on the media socket (RFC 4585 generic NACK).
    pub fn read_nacks(&self) -> Vec<u16> {
        let mut nacked = Vec::new();
        let mut buf = [0u8; 1500];
        while let Ok(n) = self.media.recv(&mut buf) {
            let packet = &buf[..n];
            if n < 16 || packet[1] != 205 || packet[0] & 0x1f != 1 {
                continue;
            }
            for fci in packet[12..].chunks_exact(4) {
                let pid = u16::from_be_bytes([fci[0], fci[1]]);
                let blp = u16::from_be_bytes([fci[2], fci[3]]);
                nacked.push(pid);
                nacked.extend(
                    (0..16)
                        .filter(|i| blp & (1 << i) != 0)
                        .map(|i| pid.wrapping_add(i + 1)),
                );
            }
        }
        nacked
    }

    /// Sends DISCONNECT and closes; returns why the control session ended.
    pub fn disconnect(mut self) -> Option<ClientError> {
        self.stop.store(true, Ordering::Release);
        self.control.take().and_then(|t| t.join().ok()).flatten()
    }

    /// Whether the control session has ended (the server closed it).
    pub fn control_ended(&self) -> bool {
        self.control.as_ref().is_none_or(|t| t.is_finished())
    }
}

/// Sends a clip at real time: video by its timestamps (90 kHz), an Opus
/// packet every 20 ms, from the video packet it starts at.
pub struct ClipPacer {
    start: Instant,
    base: u32,
    next_video: usize,
    next_audio: usize,
}

impl ClipPacer {
    /// Starts now, at video packet `first`.
    pub fn new(video: &[super::media::MediaPacket], first: usize) -> Self {
        Self {
            start: Instant::now(),
            base: video.get(first).map_or(0, |p| p.timestamp),
            next_video: first,
            next_audio: 0,
        }
    }

    /// Time since the start.
    pub fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }

    /// Sends every packet due by now, leaving out the video packets `skip`
    /// names (to be NACKed); false once all video is sent.
    pub fn send_due(
        &mut self,
        publisher: &FtlPublisher,
        video: &[super::media::MediaPacket],
        audio: &[Vec<u8>],
        skip: impl Fn(usize) -> bool,
    ) -> bool {
        let now = self.elapsed();
        while let Some(packet) = video.get(self.next_video) {
            let due =
                Duration::from_millis(u64::from(packet.timestamp.wrapping_sub(self.base) / 90));
            if due > now {
                break;
            }
            if !skip(self.next_video) {
                publisher.send_video(
                    self.next_video as u16,
                    packet.timestamp,
                    packet.marker,
                    &packet.payload,
                );
            }
            self.next_video += 1;
        }
        while let Some(payload) = audio.get(self.next_audio) {
            if Duration::from_millis(self.next_audio as u64 * 20) > now {
                break;
            }
            publisher.send_audio(
                self.next_audio as u16,
                self.next_audio as u32 * 960,
                payload,
            );
            self.next_audio += 1;
        }
        self.next_video < video.len()
    }

    /// Answers the NACKs that arrived; returns their sequence numbers.
    pub fn answer_nacks(
        &self,
        publisher: &FtlPublisher,
        video: &[super::media::MediaPacket],
    ) -> Vec<u16> {
        let nacked = publisher.read_nacks();
        for &sequence in &nacked {
            if let Some(packet) = video.get(usize::from(sequence)) {
                publisher.send_video(sequence, packet.timestamp, packet.marker, &packet.payload);
            }
        }
        nacked
    }
}
