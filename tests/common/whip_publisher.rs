//! A WHIP publisher built on str0m (full ICE, RTP mode) over a real UDP
//! socket: it offers sendonly H.264 + Opus (or VP8 only, to be refused),
//! writes RTP packets, and counts the keyframe requests it receives.

use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::time::{Duration, Instant};

use str0m::change::{SdpAnswer, SdpPendingOffer};
use str0m::format::Codec;
use str0m::media::{Direction, MediaKind, Mid, Pt};
use str0m::net::{Protocol, Receive};
use str0m::rtp::{RtpWrite, SeqNo};
use str0m::{Candidate, Event, Input, Output, Rtc};

pub struct WhipPublisher {
    rtc: Rtc,
    socket: UdpSocket,
    local: SocketAddr,
    video: Mid,
    audio: Mid,
    pending: Option<SdpPendingOffer>,
    next_timeout: Instant,
    next_sequence: u64,
    next_audio_sequence: u64,
    pub connected: bool,
    pub keyframe_requests: usize,
}

impl WhipPublisher {
    /// A publisher and its offer; `h264` false offers VP8 video only.
    pub fn new(h264: bool) -> (Self, String) {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket.set_nonblocking(true).unwrap();
        let local = socket.local_addr().unwrap();
        let now = Instant::now();
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
        let mut rtc = config.build(now);
        rtc.add_local_candidate(Candidate::host(local, "udp").unwrap());
        let mut api = rtc.sdp_api();
        let video = api.add_media(MediaKind::Video, Direction::SendOnly, None, None, None);
        let audio = api.add_media(MediaKind::Audio, Direction::SendOnly, None, None, None);
        let (offer, pending) = api.apply().unwrap();
        let publisher = Self {
            rtc,
            socket,
            local,
            video,
            audio,
            pending: Some(pending),
            next_timeout: now,
            next_sequence: 1,
            next_audio_sequence: 1,
            connected: false,
            keyframe_requests: 0,
        };
        (publisher, offer.to_sdp_string())
    }

    pub fn accept_answer(&mut self, answer: &str) {
        let answer = SdpAnswer::from_sdp_string(answer).unwrap();
        self.rtc
            .sdp_api()
            .accept_answer(self.pending.take().unwrap(), answer)
            .unwrap();
    }

    fn payload_type(&self, mid: Mid, codec: Codec) -> Pt {
        let remote = self.rtc.media(mid).unwrap().remote_pts().to_vec();
        self.rtc
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
        let mut api = self.rtc.direct_api();
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
        let mut api = self.rtc.direct_api();
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
        let _ = self.rtc.handle_input(Input::Timeout(Instant::now()));
        self.drain();
    }

    /// Drives the publisher for up to `budget`, returning early once `done` holds.
    pub fn run(&mut self, budget: Duration, mut done: impl FnMut(&Self) -> bool) {
        let deadline = Instant::now() + budget;
        let mut buf = vec![0u8; 2048];
        while Instant::now() < deadline && !done(self) {
            let now = Instant::now();
            let mut fed = false;
            while let Ok((n, source)) = self.socket.recv_from(&mut buf) {
                if let Ok(receive) = Receive::new(Protocol::Udp, source, self.local, &buf[..n]) {
                    let _ = self.rtc.handle_input(Input::Receive(now, receive));
                    self.drain();
                    fed = true;
                }
            }
            if now >= self.next_timeout {
                let _ = self.rtc.handle_input(Input::Timeout(now));
                self.drain();
                fed = true;
            }
            if !fed {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    }

    fn drain(&mut self) {
        loop {
            match self.rtc.poll_output() {
                Ok(Output::Transmit(t)) => {
                    let _ = self.socket.send_to(&t.contents, t.destination);
                }
                Ok(Output::Event(Event::Connected)) => self.connected = true,
                Ok(Output::Event(Event::KeyframeRequest(_))) => self.keyframe_requests += 1,
                Ok(Output::Event(_)) => {}
                Ok(Output::Timeout(t)) => {
                    self.next_timeout = t;
                    return;
                }
                Err(_) => return,
            }
        }
    }
}
