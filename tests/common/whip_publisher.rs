//! A WHIP publisher built on str0m (full ICE, RTP mode) over a real UDP
//! socket: it offers sendonly H.264 + Opus (or VP8 only, to be refused),
//! writes RTP packets, and counts the keyframe requests it receives.

use std::sync::Arc;
use std::time::{Duration, Instant};

use str0m::change::{SdpAnswer, SdpPendingOffer};
use str0m::format::Codec;
use str0m::media::{Direction, MediaKind, Mid, Pt};
use str0m::rtp::{RtpWrite, SeqNo};
use str0m::{Event, Rtc};

use super::rtc_client::RtcClient;

pub struct WhipPublisher {
    client: RtcClient,
    video: Mid,
    audio: Mid,
    pending: Option<SdpPendingOffer>,
    next_sequence: u64,
    next_audio_sequence: u64,
    pub connected: bool,
    pub keyframe_requests: usize,
}

impl WhipPublisher {
    /// A publisher and its offer; `h264` false offers VP8 video only.
    pub fn new(h264: bool) -> (Self, String) {
        let mut config = Rtc::builder()
            .set_rtp_mode(true)
            .clear_codecs()
            .enable_opus(true, false);
        if h264 {
            config
                .codec_config()
                .add_h264(96.into(), Some(97.into()), true, 0x42e01f);
        } else {
            config = config.enable_vp8(true);
        }
        let mut client = RtcClient::new(config);
        let mut api = client.rtc.sdp_api();
        let video = api.add_media(MediaKind::Video, Direction::SendOnly, None, None, None);
        let audio = api.add_media(MediaKind::Audio, Direction::SendOnly, None, None, None);
        let (offer, pending) = api.apply().unwrap();
        let publisher = Self {
            client,
            video,
            audio,
            pending: Some(pending),
            next_sequence: 1,
            next_audio_sequence: 1,
            connected: false,
            keyframe_requests: 0,
        };
        (publisher, offer.to_sdp_string())
    }

    pub fn accept_answer(&mut self, answer: &str) {
        let answer = SdpAnswer::from_sdp_string(answer).unwrap();
        self.client
            .rtc
            .sdp_api()
            .accept_answer(self.pending.take().unwrap(), answer)
            .unwrap();
    }

    fn payload_type(&self, mid: Mid, codec: Codec) -> Pt {
        let remote = self.client.rtc.media(mid).unwrap().remote_pts().to_vec();
        self.client
            .rtc
            .codec_config()
            .find(|p| p.spec().codec == codec && remote.contains(&p.pt()))
            .map(|p| p.pt())
            .unwrap()
    }

    /// Writes one video packet (sequence numbers are consecutive).
    pub fn send_video(&mut self, timestamp: u32, marker: bool, payload: &[u8]) {
        let pt = self.payload_type(self.video, Codec::H264);
        let sequence = self.next_sequence;
        self.next_sequence += 1;
        let mut api = self.client.rtc.direct_api();
        let tx = api.stream_tx_by_mid(self.video, None).unwrap();
        let payload: Arc<[u8]> = Arc::from(payload);
        tx.write_rtp(
            RtpWrite::new(
                pt,
                SeqNo::from(sequence),
                timestamp,
                Instant::now(),
                payload,
            )
            .marker(marker),
        );
        self.flush();
    }

    /// Writes one audio packet.
    pub fn send_audio(&mut self, timestamp: u32, payload: &[u8]) {
        let pt = self.payload_type(self.audio, Codec::Opus);
        let sequence = self.next_audio_sequence;
        self.next_audio_sequence += 1;
        let mut api = self.client.rtc.direct_api();
        let tx = api.stream_tx_by_mid(self.audio, None).unwrap();
        let payload: Arc<[u8]> = Arc::from(payload);
        tx.write_rtp(RtpWrite::new(
            pt,
            SeqNo::from(sequence),
            timestamp,
            Instant::now(),
            payload,
        ));
        self.flush();
    }

    fn flush(&mut self) {
        let keyframe_requests = &mut self.keyframe_requests;
        self.client
            .flush(&mut |_: &mut Rtc, event| count_keyframe_requests(keyframe_requests, event));
        self.connected = self.client.connected_at.is_some();
    }

    /// Drives the publisher for up to `budget`, returning early once `done` holds.
    pub fn run(&mut self, budget: Duration, mut done: impl FnMut(&Self) -> bool) {
        let deadline = Instant::now() + budget;
        let mut buf = vec![0u8; 2048];
        while Instant::now() < deadline && !done(self) {
            let keyframe_requests = &mut self.keyframe_requests;
            self.client.step(
                &mut buf,
                |_| true,
                |_, event| count_keyframe_requests(keyframe_requests, event),
            );
            self.connected = self.client.connected_at.is_some();
        }
    }
}

fn count_keyframe_requests(count: &mut usize, event: Event) {
    if let Event::KeyframeRequest(_) = event {
        *count += 1;
    }
}
