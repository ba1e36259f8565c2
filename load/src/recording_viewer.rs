//! One WHEP viewer on str0m (full ICE, RTP mode) over its own UDP socket,
//! driven on the caller's thread: it offers recvonly H.264 + Opus (or
//! answers a server's offer), takes the answer and records every RTP packet
//! it receives, for byte-by-byte comparison with what was sent. It can drop
//! a chosen media datagram, as a network would, so that str0m NACKs it.

use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use str0m::change::{SdpOffer, SdpPendingOffer};
use str0m::media::{Direction, KeyframeRequestKind, MediaKind, Mid};
use str0m::{Event, Rtc};

use crate::negotiation::{self, OfferedVideo};
use crate::rtc_client::{RtcClient, SessionError};

/// The payload type of the first H.264 profile offered.
const FIRST_PAYLOAD_TYPE: u8 = 102;

/// One received RTP packet.
#[derive(Debug, Clone)]
pub struct Received {
    /// Audio or video.
    pub kind: MediaKind,
    /// The extended sequence number the viewer saw.
    pub sequence: u64,
    /// The RTP timestamp.
    pub timestamp: u32,
    /// The RTP marker bit.
    pub marker: bool,
    /// The payload, as received.
    pub payload: Vec<u8>,
    /// When it arrived.
    pub at: Instant,
}

/// A viewer that records what it receives.
pub struct RecordingViewer {
    client: RtcClient,
    video: Mid,
    audio: Mid,
    pending: Option<SdpPendingOffer>,
    /// Every RTP packet received, in arrival order.
    pub received: Vec<Received>,
    /// The SDP answer, for a viewer made with [`RecordingViewer::answering`].
    pub answer: Option<String>,
    /// When ICE and DTLS completed (updated by each step).
    pub connected_at: Option<Instant>,
    /// Drop the n-th incoming media datagram (counting from 0), as the
    /// network would, so str0m NACKs it.
    pub drop_media_datagram: Option<usize>,
    media_datagrams: usize,
}

impl RecordingViewer {
    /// A viewer on a socket bound to `bind` and its SDP offer of `video`
    /// and Opus, recvonly.
    pub fn offer(video: OfferedVideo, bind: IpAddr) -> Result<(Self, String), SessionError> {
        let mut client = RtcClient::new(negotiation::rtc_config(video, FIRST_PAYLOAD_TYPE), bind)?;
        let offer = negotiation::offer(client.rtc_mut(), Direction::RecvOnly)?;
        let viewer = Self::with(client, offer.video, offer.audio, Some(offer.pending), None);
        Ok((viewer, offer.sdp))
    }

    /// A viewer of Baseline H.264 on a socket bound to `bind`, answering a
    /// server's offer (the original Waveguide flow); the answer is in
    /// [`Self::answer`].
    pub fn answering(offer: &str, bind: IpAddr) -> Result<Self, SessionError> {
        let config = negotiation::rtc_config(OfferedVideo::Baseline, FIRST_PAYLOAD_TYPE);
        let mut client = RtcClient::new(config, bind)?;
        let offer = SdpOffer::from_sdp_string(offer).map_err(SessionError::negotiation)?;
        let answer = client
            .rtc_mut()
            .sdp_api()
            .accept_offer(offer)
            .map_err(SessionError::negotiation)?
            .to_sdp_string();
        // str0m reports the mids once SRTP is up: read them off the answer.
        let mut mids = Vec::new();
        let mut video = None;
        for line in answer.lines() {
            if let Some(media) = line.strip_prefix("m=") {
                video = Some(media.starts_with("video"));
            } else if let (Some(video), Some(mid)) = (video, line.strip_prefix("a=mid:")) {
                mids.push((video, Mid::from(mid.trim())));
            }
        }
        let mid_of = |wanted: bool| {
            mids.iter()
                .find(|(video, _)| *video == wanted)
                .map(|(_, mid)| *mid)
                .ok_or_else(|| SessionError::negotiation("the answer lacks an m-line"))
        };
        let (video, audio) = (mid_of(true)?, mid_of(false)?);
        Ok(Self::with(client, video, audio, None, Some(answer)))
    }

    fn with(
        client: RtcClient,
        video: Mid,
        audio: Mid,
        pending: Option<SdpPendingOffer>,
        answer: Option<String>,
    ) -> Self {
        Self {
            client,
            video,
            audio,
            pending,
            received: Vec::new(),
            answer,
            connected_at: None,
            drop_media_datagram: None,
            media_datagrams: 0,
        }
    }

    /// Takes the server's SDP answer; ICE and DTLS follow in [`Self::run`].
    pub fn accept_answer(&mut self, answer: &str) -> Result<(), SessionError> {
        let pending = self
            .pending
            .take()
            .ok_or_else(|| SessionError::negotiation("no offer waits for an answer"))?;
        negotiation::accept_answer(self.client.rtc_mut(), pending, answer)
    }

    /// Asks the server for a keyframe.
    pub fn request_keyframe(&mut self) {
        if let Some(rx) = self
            .client
            .rtc_mut()
            .direct_api()
            .stream_rx_by_mid(self.video, None)
        {
            rx.request_keyframe(KeyframeRequestKind::Pli);
        }
    }

    /// Received video packets, in the order they arrived.
    pub fn video(&self) -> Vec<&Received> {
        self.of_kind(MediaKind::Video)
    }

    /// Received audio packets, in the order they arrived.
    pub fn audio(&self) -> Vec<&Received> {
        self.of_kind(MediaKind::Audio)
    }

    fn of_kind(&self, kind: MediaKind) -> Vec<&Received> {
        self.received.iter().filter(|r| r.kind == kind).collect()
    }

    /// The video payloads received, in sequence order, once each.
    pub fn video_payloads_in_order(&self) -> Vec<Vec<u8>> {
        let mut video: Vec<_> = self
            .video()
            .into_iter()
            .map(|r| (r.sequence, r.payload.clone()))
            .collect();
        video.sort_by_key(|(sequence, _)| *sequence);
        video.dedup_by_key(|(sequence, _)| *sequence);
        video.into_iter().map(|(_, payload)| payload).collect()
    }

    /// Every address the server sent from.
    pub fn sources(&self) -> &BTreeSet<SocketAddr> {
        self.client.sources()
    }

    /// The audio mid.
    pub fn audio_mid(&self) -> Mid {
        self.audio
    }

    /// Drives the viewer for up to `budget`, returning early once `done`
    /// holds.
    pub fn run(&mut self, budget: Duration, mut done: impl FnMut(&Self) -> bool) {
        let deadline = Instant::now() + budget;
        let mut buf = vec![0u8; 2048];
        while Instant::now() < deadline && !done(self) {
            self.step(deadline, &mut buf);
        }
    }

    /// One round (see [`RtcClient::step`]): drops the chosen media
    /// datagram and records RTP packets.
    fn step(&mut self, until: Instant, buf: &mut [u8]) {
        let Self {
            client,
            video,
            received,
            drop_media_datagram,
            media_datagrams,
            ..
        } = self;
        let keep = |datagram: &[u8]| {
            // SRTP (not SRTCP): version 2 and a payload type outside 64..=95.
            let media = datagram.len() > 12
                && datagram[0] >> 6 == 2
                && !(64..=95).contains(&(datagram[1] & 0x7f));
            if !media {
                return true;
            }
            let index = *media_datagrams;
            *media_datagrams += 1;
            *drop_media_datagram != Some(index)
        };
        client.step(until, buf, keep, |rtc: &mut Rtc, event| {
            if let Event::RtpPacket(packet) = event {
                let mid = rtc
                    .direct_api()
                    .stream_rx(&packet.header.ssrc)
                    .map(|s| s.mid());
                let kind = if mid == Some(*video) {
                    MediaKind::Video
                } else {
                    MediaKind::Audio
                };
                received.push(Received {
                    kind,
                    sequence: *packet.seq_no,
                    timestamp: packet.header.timestamp,
                    marker: packet.header.marker,
                    payload: packet.payload.to_vec(),
                    at: Instant::now(),
                });
            }
        });
        self.connected_at = self.client.connected_at();
    }
}
