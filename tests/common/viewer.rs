//! A WHEP viewer built on str0m (full ICE, RTP mode) over a real UDP socket:
//! it offers recvonly H.264 + Opus, takes the server's answer and records
//! every RTP packet it receives.

use std::time::{Duration, Instant};

use str0m::change::{SdpAnswer, SdpPendingOffer};
use str0m::media::{Direction, KeyframeRequestKind, MediaKind, Mid};
use str0m::{Event, Rtc};

use super::rtc_client::RtcClient;

/// One received RTP packet.
#[derive(Debug, Clone)]
pub struct Received {
    pub kind: MediaKind,
    /// The extended sequence number the viewer saw.
    pub sequence: u64,
    pub timestamp: u32,
    pub marker: bool,
    pub payload: Vec<u8>,
    pub at: Instant,
}

pub struct TestViewer {
    client: RtcClient,
    video: Mid,
    audio: Mid,
    pending: Option<SdpPendingOffer>,
    pub received: Vec<Received>,
    /// The SDP answer, for a viewer made with [`TestViewer::answering`].
    pub answer: Option<String>,
    pub connected_at: Option<Instant>,
    /// Drop the n-th incoming media datagram (counting from 0), as the
    /// network would, so str0m NACKs it.
    pub drop_media_datagram: Option<usize>,
    media_datagrams: usize,
}

impl TestViewer {
    /// A viewer and its SDP offer.
    pub fn new() -> (Self, String) {
        Self::offering(true)
    }

    /// A viewer that offers VP8 video only: the server cannot feed it.
    pub fn new_vp8_only() -> (Self, String) {
        Self::offering(false)
    }

    fn build(h264: bool) -> RtcClient {
        let mut config = Rtc::builder()
            .set_rtp_mode(true)
            .clear_codecs()
            .enable_opus(true, false);
        if h264 {
            config
                .codec_config()
                .add_h264(102.into(), Some(103.into()), true, 0x42e01f);
        } else {
            config = config.enable_vp8(true);
        }
        RtcClient::new(config)
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

    fn offering(h264: bool) -> (Self, String) {
        let mut client = Self::build(h264);
        let mut api = client.rtc.sdp_api();
        let video = api.add_media(MediaKind::Video, Direction::RecvOnly, None, None, None);
        let audio = api.add_media(MediaKind::Audio, Direction::RecvOnly, None, None, None);
        let (offer, pending) = api.apply().unwrap();
        (
            Self::with(client, video, audio, Some(pending), None),
            offer.to_sdp_string(),
        )
    }

    /// A viewer answering a server's offer (the original Waveguide flow).
    pub fn answering(offer: &str) -> Self {
        let mut client = Self::build(true);
        let offer = str0m::change::SdpOffer::from_sdp_string(offer).unwrap();
        let answer = client
            .rtc
            .sdp_api()
            .accept_offer(offer)
            .unwrap()
            .to_sdp_string();
        let mut mids = Vec::new();
        let mut kind = None;
        for line in answer.lines() {
            if let Some(media) = line.strip_prefix("m=") {
                kind = Some(media.starts_with("video"));
            } else if let (Some(video), Some(mid)) = (kind, line.strip_prefix("a=mid:")) {
                mids.push((video, Mid::from(mid.trim())));
            }
        }
        let video = mids
            .iter()
            .find(|(video, _)| *video)
            .map(|(_, mid)| *mid)
            .unwrap();
        let audio = mids
            .iter()
            .find(|(video, _)| !*video)
            .map(|(_, mid)| *mid)
            .unwrap();
        Self::with(client, video, audio, None, Some(answer))
    }

    pub fn accept_answer(&mut self, answer: &str) {
        let answer = SdpAnswer::from_sdp_string(answer).unwrap();
        self.client
            .rtc
            .sdp_api()
            .accept_answer(self.pending.take().unwrap(), answer)
            .unwrap();
    }

    /// Asks the server for a keyframe.
    pub fn request_keyframe(&mut self) {
        if let Some(rx) = self
            .client
            .rtc
            .direct_api()
            .stream_rx_by_mid(self.video, None)
        {
            rx.request_keyframe(KeyframeRequestKind::Pli);
        }
    }

    /// Received video packets, in the order they arrived.
    pub fn video(&self) -> Vec<&Received> {
        self.received
            .iter()
            .filter(|r| r.kind == MediaKind::Video)
            .collect()
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

    /// Received audio packets.
    pub fn audio(&self) -> Vec<&Received> {
        self.received
            .iter()
            .filter(|r| r.kind == MediaKind::Audio)
            .collect()
    }

    /// Drives the viewer for up to `budget`, returning early once `done` holds.
    pub fn run(&mut self, budget: Duration, mut done: impl FnMut(&Self) -> bool) {
        let deadline = Instant::now() + budget;
        let mut buf = vec![0u8; 2048];
        while Instant::now() < deadline && !done(self) {
            self.step(&mut buf);
        }
    }

    /// One round: read what waits (dropping the chosen media datagram),
    /// fire timers, send; record RTP packets.
    pub fn step(&mut self, buf: &mut [u8]) {
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
        client.step(buf, keep, |rtc, event| {
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
        self.connected_at = self.client.connected_at;
    }

    /// Every address the server sent from.
    pub fn sources(&self) -> &std::collections::BTreeSet<std::net::SocketAddr> {
        &self.client.sources
    }

    /// The audio mid, for checks.
    pub fn audio_mid(&self) -> Mid {
        self.audio
    }
}
