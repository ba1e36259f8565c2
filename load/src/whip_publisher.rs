//! A WHIP publisher (RFC 9725) on str0m: full ICE, RTP mode, sendonly H.264
//! and Opus over one UDP socket; it counts the keyframe requests it gets.

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::Arc;
use std::time::{Duration, Instant};

use str0m::change::SdpAnswer;
use str0m::format::Codec;
use str0m::media::{Direction, MediaKind, Mid, Pt};
use str0m::net::{Protocol, Receive};
use str0m::rtp::{RtpWrite, SeqNo};
use str0m::{Candidate, Event, Input, Output, Rtc};

use crate::publisher::{MediaSink, PublisherStats};
use crate::signalling::{SignalError, Signalling};

/// Why a WHIP publisher could not start.
#[derive(Debug, thiserror::Error)]
pub enum WhipError {
    /// A socket failed.
    #[error("socket: {0}")]
    Io(#[from] std::io::Error),
    /// The offer was refused.
    #[error("{0}")]
    Signal(#[from] SignalError),
    /// str0m could not build the offer or take the answer.
    #[error("negotiation: {0}")]
    Negotiation(String),
    /// ICE and DTLS did not complete in time.
    #[error("not connected within 10 s")]
    ConnectTimeout,
}

/// A connected WHIP publisher.
pub struct WhipPublisher {
    rtc: Rtc,
    socket: UdpSocket,
    local: SocketAddr,
    video: (Mid, Pt),
    audio: (Mid, Pt),
    sequence: u64,
    audio_sequence: u64,
    stats: PublisherStats,
    signalling: Signalling,
    resource: Option<reqwest::Url>,
}

fn negotiation(error: impl std::fmt::Display) -> WhipError {
    WhipError::Negotiation(error.to_string())
}

impl WhipPublisher {
    /// Offers to `/whip/endpoint/{channel}` with `bearer` and waits until
    /// ICE and DTLS are up.
    pub fn connect(
        signalling: &Signalling,
        channel: &str,
        bearer: &str,
        bind: IpAddr,
    ) -> Result<Self, WhipError> {
        let socket = UdpSocket::bind(SocketAddr::new(bind, 0))?;
        let local = socket.local_addr()?;
        let mut config = Rtc::builder()
            .set_rtp_mode(true)
            .clear_codecs()
            .enable_opus(true, false);
        config
            .codec_config()
            .add_h264(96.into(), Some(97.into()), true, 0x42e01f);
        let mut rtc = config.build(Instant::now());
        rtc.add_local_candidate(Candidate::host(local, "udp").map_err(negotiation)?);
        let mut api = rtc.sdp_api();
        let video = api.add_media(MediaKind::Video, Direction::SendOnly, None, None, None);
        let audio = api.add_media(MediaKind::Audio, Direction::SendOnly, None, None, None);
        let (offer, pending) = api.apply().ok_or_else(|| negotiation("no offer"))?;
        let deadline = Instant::now() + Duration::from_secs(10);
        let session = signalling.offer(
            &format!("/whip/endpoint/{channel}"),
            &offer.to_sdp_string(),
            Some(bearer),
            deadline,
        )?;
        let answer = SdpAnswer::from_sdp_string(&session.answer).map_err(negotiation)?;
        rtc.sdp_api()
            .accept_answer(pending, answer)
            .map_err(negotiation)?;
        let video_pt = payload_type(&rtc, video, Codec::H264)?;
        let audio_pt = payload_type(&rtc, audio, Codec::Opus)?;
        let mut publisher = Self {
            rtc,
            socket,
            local,
            video: (video, video_pt),
            audio: (audio, audio_pt),
            sequence: 1,
            audio_sequence: 1,
            stats: PublisherStats::default(),
            signalling: signalling.clone(),
            resource: session.resource,
        };
        while !publisher.rtc.is_connected() {
            if Instant::now() >= deadline {
                return Err(WhipError::ConnectTimeout);
            }
            publisher.serve_until(Instant::now() + Duration::from_millis(10));
        }
        Ok(publisher)
    }

    fn write(&mut self, audio: bool, timestamp: u32, marker: bool, payload: &[u8]) {
        let ((mid, pt), sequence) = if audio {
            self.audio_sequence += 1;
            (self.audio, self.audio_sequence - 1)
        } else {
            self.sequence += 1;
            (self.video, self.sequence - 1)
        };
        let now = Instant::now();
        let mut api = self.rtc.direct_api();
        let Some(tx) = api.stream_tx_by_mid(mid, None) else {
            return;
        };
        let payload: Arc<[u8]> = Arc::from(payload);
        let length = payload.len() as u64;
        let write = RtpWrite::new(pt, SeqNo::from(sequence), timestamp, now, payload)
            .marker(marker)
            .nackable(!audio);
        tx.write_rtp(write);
        self.stats.packets += 1;
        self.stats.bytes += length;
        let _ = self.rtc.handle_input(Input::Timeout(now));
        self.drain();
    }

    /// Sends what str0m has to send; returns when it next wants the time.
    fn drain(&mut self) -> Instant {
        loop {
            match self.rtc.poll_output() {
                Ok(Output::Transmit(t)) => {
                    let _ = self.socket.send_to(&t.contents, t.destination);
                }
                Ok(Output::Event(Event::KeyframeRequest(_))) => {
                    self.stats.keyframe_requests += 1;
                }
                Ok(Output::Event(_)) => {}
                Ok(Output::Timeout(at)) => return at,
                Err(_) => return Instant::now() + Duration::from_millis(10),
            }
        }
    }
}

fn payload_type(rtc: &Rtc, mid: Mid, codec: Codec) -> Result<Pt, WhipError> {
    let remote = rtc
        .media(mid)
        .map(|m| m.remote_pts().to_vec())
        .unwrap_or_default();
    rtc.codec_config()
        .find(|p| p.spec().codec == codec && remote.contains(&p.pt()))
        .map(|p| p.pt())
        .ok_or_else(|| negotiation(format!("the answer has no {codec:?}")))
}

impl Drop for WhipPublisher {
    fn drop(&mut self) {
        if let Some(resource) = self.resource.take() {
            self.signalling.delete(&resource);
        }
    }
}

impl MediaSink for WhipPublisher {
    fn send_video(&mut self, timestamp: u32, marker: bool, payload: &[u8]) {
        self.write(false, timestamp, marker, payload);
    }

    fn send_audio(&mut self, timestamp: u32, payload: &[u8]) {
        self.write(true, timestamp, false, payload);
    }

    fn serve_until(&mut self, until: Instant) {
        let mut buf = [0u8; 2048];
        loop {
            let now = Instant::now();
            let _ = self.rtc.handle_input(Input::Timeout(now));
            let wake = self.drain().min(until);
            if now >= until {
                return;
            }
            let wait = wake
                .saturating_duration_since(now)
                .max(Duration::from_micros(100));
            if self.socket.set_read_timeout(Some(wait)).is_err() {
                return;
            }
            if let Ok((n, source)) = self.socket.recv_from(&mut buf)
                && let Ok(receive) = Receive::new(Protocol::Udp, source, self.local, &buf[..n])
            {
                let _ = self
                    .rtc
                    .handle_input(Input::Receive(Instant::now(), receive));
            }
        }
    }

    fn stats(&self) -> PublisherStats {
        self.stats
    }
}
