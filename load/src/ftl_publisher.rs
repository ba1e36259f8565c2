//! An FTL publisher: the `ftl` crate's client session over TCP for the
//! handshake and PINGs (on its own thread), RTP over UDP for media, and
//! retransmission of what the server NACKs. As a [`MediaSink`] it numbers
//! and keeps what it sends; a test numbers packets itself instead
//! ([`FtlPublisher::send_numbered_video`]), leaves gaps and answers the
//! NACKs it reads.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use ftl::{
    AudioTrack, ClientConfig, ClientError, ClientEvent, ClientOutput, ClientSession, StreamKey,
    StreamMetadata, VideoTrack,
};

use crate::media::rtp;
use crate::publisher::{MediaSink, PublisherStats};

/// Video payload type announced in the handshake.
const VIDEO_PT: u8 = 96;
/// Audio payload type announced in the handshake.
const AUDIO_PT: u8 = 97;
/// Sent video packets kept for retransmission.
const HISTORY: usize = 1024;
/// How long [`FtlPublisher::read_nacks`] waits for one more datagram.
const NACK_WAIT: Duration = Duration::from_millis(1);

/// Why an FTL publisher could not start.
#[derive(Debug, thiserror::Error)]
pub enum FtlError {
    /// The stream key is not `{channel}-{secret}`.
    #[error("bad stream key: {0}")]
    Key(#[from] ftl::StreamKeyError),
    /// A socket failed.
    #[error("FTL connection failed: {0}")]
    Io(#[from] std::io::Error),
    /// The server refused the handshake or broke the protocol.
    #[error("FTL handshake failed: {0}")]
    Handshake(ClientError),
}

impl FtlError {
    /// What the server answered, if the handshake failed on its reply.
    pub fn handshake(self) -> Option<ClientError> {
        match self {
            Self::Handshake(error) => Some(error),
            Self::Key(_) | Self::Io(_) => None,
        }
    }
}

/// A connected FTL publisher.
pub struct FtlPublisher {
    key: StreamKey,
    media: UdpSocket,
    media_addr: SocketAddr,
    history: Vec<Option<(u16, Vec<u8>)>>,
    sequence: u16,
    audio_sequence: u16,
    stats: PublisherStats,
    stop: Arc<AtomicBool>,
    control: Option<JoinHandle<Option<ClientError>>>,
}

impl FtlPublisher {
    /// Connects to the FTL control address and completes the handshake for
    /// an H.264 + Opus stream with `stream_key` (`{channel}-{secret}`).
    pub fn connect(ftl: SocketAddr, stream_key: &str) -> Result<Self, FtlError> {
        Self::connect_as(ftl, stream_key, "waveguide-load")
    }

    /// As [`Self::connect`], announcing `vendor_name` as the encoder.
    pub fn connect_as(
        ftl: SocketAddr,
        stream_key: &str,
        vendor_name: &str,
    ) -> Result<Self, FtlError> {
        let key = StreamKey::parse(stream_key)?;
        let metadata = StreamMetadata {
            protocol_version: Some("0.9".into()),
            vendor_name: Some(vendor_name.into()),
            vendor_version: Some(env!("CARGO_PKG_VERSION").into()),
            video: Some(VideoTrack {
                payload_type: VIDEO_PT,
                ssrc: key.video_ssrc(),
                width_hint: None,
                height_hint: None,
            }),
            audio: Some(AudioTrack {
                payload_type: AUDIO_PT,
                ssrc: key.audio_ssrc(),
            }),
        };
        let mut tcp = TcpStream::connect_timeout(&ftl, Duration::from_secs(5))?;
        tcp.set_read_timeout(Some(Duration::from_millis(100)))?;
        let mut session = ClientSession::new(
            Instant::now(),
            key.clone(),
            metadata,
            ClientConfig::default(),
        );
        let port = handshake(&mut tcp, &mut session)?;
        let media = UdpSocket::bind(SocketAddr::new(
            if ftl.is_ipv4() {
                [0, 0, 0, 0].into()
            } else {
                std::net::Ipv6Addr::UNSPECIFIED.into()
            },
            0,
        ))?;
        let media_addr = SocketAddr::new(ftl.ip(), port);
        media.connect(media_addr)?;
        media.set_read_timeout(Some(NACK_WAIT))?;
        let stop = Arc::new(AtomicBool::new(false));
        let control = {
            let stop = Arc::clone(&stop);
            std::thread::Builder::new()
                .name("ftl-control".into())
                .spawn(move || keep_alive(tcp, session, &stop))?
        };
        Ok(Self {
            key,
            media,
            media_addr,
            history: vec![None; HISTORY],
            sequence: 0,
            audio_sequence: 0,
            stats: PublisherStats::default(),
            stop,
            control: Some(control),
        })
    }

    /// The stream key.
    pub fn key(&self) -> &StreamKey {
        &self.key
    }

    /// The media socket (connected to the server's media port; its read
    /// timeout is short), for tests that send odd datagrams from it.
    pub fn media(&self) -> &UdpSocket {
        &self.media
    }

    /// The server's media port.
    pub fn media_addr(&self) -> SocketAddr {
        self.media_addr
    }

    /// Sends one video packet numbered `sequence` (not kept for
    /// retransmission: the caller answers NACKs itself).
    pub fn send_numbered_video(
        &self,
        sequence: u16,
        timestamp: u32,
        marker: bool,
        payload: &[u8],
    ) -> std::io::Result<()> {
        let packet = self.video_rtp(sequence, timestamp, marker, payload);
        self.media.send(&packet).map(drop)
    }

    fn video_rtp(&self, sequence: u16, timestamp: u32, marker: bool, payload: &[u8]) -> Vec<u8> {
        rtp(
            VIDEO_PT,
            marker,
            sequence,
            timestamp,
            self.key.video_ssrc(),
            payload,
        )
    }

    /// Sends one audio packet numbered `sequence`.
    pub fn send_numbered_audio(
        &self,
        sequence: u16,
        timestamp: u32,
        payload: &[u8],
    ) -> std::io::Result<()> {
        let packet = rtp(
            AUDIO_PT,
            false,
            sequence,
            timestamp,
            self.key.audio_ssrc(),
            payload,
        );
        self.media.send(&packet).map(drop)
    }

    /// The sequence numbers NACKed in what waits on the media socket.
    pub fn read_nacks(&self) -> Vec<u16> {
        let mut sequences = Vec::new();
        let mut buf = [0u8; 1500];
        if self.media.set_read_timeout(Some(NACK_WAIT)).is_err() {
            return sequences;
        }
        while let Ok(n) = self.media.recv(&mut buf) {
            sequences.extend(nacked(&buf[..n]));
        }
        sequences
    }

    /// Sends DISCONNECT and closes; returns why the control session ended,
    /// if the server ended it first.
    pub fn disconnect(mut self) -> Option<ClientError> {
        self.stop.store(true, Ordering::Release);
        self.control
            .take()
            .and_then(|control| control.join().ok())
            .flatten()
    }

    /// Whether the control session has ended (the server closed it).
    pub fn control_ended(&self) -> bool {
        self.control
            .as_ref()
            .is_none_or(|control| control.is_finished())
    }

    fn retransmit(&mut self, sequence: u16) {
        if let Some(Some((held, packet))) = self.history.get(usize::from(sequence) % HISTORY)
            && *held == sequence
            && self.media.send(packet).is_ok()
        {
            self.stats.retransmits += 1;
        }
    }
}

impl Drop for FtlPublisher {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(control) = self.control.take() {
            let _ = control.join();
        }
    }
}

/// The sequence numbers a generic NACK (RFC 4585 §6.2.1) asks for.
fn nacked(packet: &[u8]) -> impl Iterator<Item = u16> + '_ {
    let is_nack = packet.len() >= 16 && packet[1] == 205 && packet[0] & 0x1f == 1;
    packet
        .get(12..)
        .filter(|_| is_nack)
        .unwrap_or_default()
        .chunks_exact(4)
        .flat_map(|fci| {
            let pid = u16::from_be_bytes([fci[0], fci[1]]);
            let blp = u16::from_be_bytes([fci[2], fci[3]]);
            std::iter::once(pid).chain(
                (0..16u16)
                    .filter(move |i| blp & (1 << i) != 0)
                    .map(move |i| pid.wrapping_add(i + 1)),
            )
        })
}

impl MediaSink for FtlPublisher {
    fn send_video(&mut self, timestamp: u32, marker: bool, payload: &[u8]) {
        self.sequence = self.sequence.wrapping_add(1);
        let packet = self.video_rtp(self.sequence, timestamp, marker, payload);
        if self.media.send(&packet).is_ok() {
            self.stats.packets += 1;
            self.stats.bytes += payload.len() as u64;
        }
        self.history[usize::from(self.sequence) % HISTORY] = Some((self.sequence, packet));
    }

    fn send_audio(&mut self, timestamp: u32, payload: &[u8]) {
        self.audio_sequence = self.audio_sequence.wrapping_add(1);
        if self
            .send_numbered_audio(self.audio_sequence, timestamp, payload)
            .is_ok()
        {
            self.stats.packets += 1;
            self.stats.bytes += payload.len() as u64;
        }
    }

    fn serve_until(&mut self, until: Instant) {
        let mut buf = [0u8; 1500];
        loop {
            let now = Instant::now();
            if now >= until {
                return;
            }
            if self.media.set_read_timeout(Some(until - now)).is_err() {
                std::thread::sleep(until - now);
                return;
            }
            let Ok(n) = self.media.recv(&mut buf) else {
                continue;
            };
            let sequences: Vec<u16> = nacked(&buf[..n]).collect();
            for sequence in sequences {
                self.retransmit(sequence);
            }
        }
    }

    fn stats(&self) -> PublisherStats {
        self.stats
    }
}

/// Drives a client session on `tcp` (with a read timeout set) until it
/// yields the media port.
pub fn handshake(tcp: &mut TcpStream, session: &mut ClientSession) -> Result<u16, FtlError> {
    let mut buf = [0u8; 2048];
    loop {
        loop {
            match session.poll_output() {
                ClientOutput::Send(bytes) => tcp.write_all(bytes)?,
                ClientOutput::Event(ClientEvent::MediaPort(port)) => return Ok(port),
                ClientOutput::Event(_) => {}
                ClientOutput::Close(error) => return Err(FtlError::Handshake(error)),
                ClientOutput::Timeout(_) => break,
            }
        }
        match tcp.read(&mut buf) {
            Ok(0) => return Err(FtlError::Handshake(ClientError::MalformedReply)),
            Ok(n) => session.handle_input(Instant::now(), &buf[..n]),
            Err(e) if is_timeout(&e) => session.handle_timeout(Instant::now()),
            Err(e) => return Err(e.into()),
        }
    }
}

fn is_timeout(error: &std::io::Error) -> bool {
    matches!(
        error.kind(),
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
    )
}

/// Keeps the control connection alive with PINGs until `stop`, then
/// disconnects; returns the error that ended the session, if the server
/// ended it.
pub fn keep_alive(
    mut tcp: TcpStream,
    mut session: ClientSession,
    stop: &AtomicBool,
) -> Option<ClientError> {
    let mut buf = [0u8; 1024];
    loop {
        if stop.load(Ordering::Acquire) {
            session.disconnect();
        }
        loop {
            match session.poll_output() {
                ClientOutput::Send(bytes) => {
                    if tcp.write_all(bytes).is_err() {
                        return None;
                    }
                }
                ClientOutput::Event(_) => {}
                ClientOutput::Close(error) => return Some(error),
                ClientOutput::Timeout(_) => break,
            }
        }
        match tcp.read(&mut buf) {
            Ok(0) => return None,
            Ok(n) => session.handle_input(Instant::now(), &buf[..n]),
            Err(e) if is_timeout(&e) => session.handle_timeout(Instant::now()),
            Err(_) => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nack_bitmasks_expand_to_sequence_numbers() {
        let mut packet = vec![0x81, 205, 0, 3, 0, 0, 0, 1, 0, 0, 0, 2];
        packet.extend_from_slice(&[0xff, 0xfe, 0b0000_0000, 0b0000_0101]);
        let got: Vec<u16> = nacked(&packet).collect();
        assert_eq!(got, vec![0xfffe, 0xffff, 1]);
        packet[1] = 200;
        assert_eq!(nacked(&packet).count(), 0);
    }
}
