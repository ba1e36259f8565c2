//! A WHIP publisher (RFC 9725) on str0m: full ICE, RTP mode, sendonly H.264
//! and Opus over one UDP socket; it counts the keyframe requests it gets.
//! [`WhipPublisher::connect`] does the whole exchange; a test drives it step
//! by step instead: [`WhipPublisher::offer`], its own POST, then
//! [`WhipPublisher::accept_answer`] and [`WhipPublisher::run`].

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use str0m::change::SdpPendingOffer;
use str0m::format::Codec;
use str0m::media::{Direction, Mid, Pt};
use str0m::rtp::{RtpWrite, SeqNo};
use str0m::{Event, Rtc};

use crate::negotiation::{self, OfferedVideo};
use crate::publisher::{MediaSink, PublisherStats};
use crate::rtc_client::{RtcClient, SessionError};
use crate::signalling::{SignalError, Signalling};

/// How long ICE and DTLS may take.
const CONNECT_DEADLINE: Duration = Duration::from_secs(10);
/// The payload type of the first H.264 profile offered.
const FIRST_PAYLOAD_TYPE: u8 = 96;

/// Why a WHIP publisher could not start.
#[derive(Debug, thiserror::Error)]
pub enum WhipError {
    /// The socket or the negotiation failed.
    #[error("{0}")]
    Session(#[from] SessionError),
    /// The offer was refused.
    #[error("{0}")]
    Signal(#[from] SignalError),
    /// ICE and DTLS did not complete in time.
    #[error("not connected within 10 s")]
    ConnectTimeout,
}

/// Why a packet could not be written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// No answer was accepted yet, so no payload type is agreed.
    #[error("no answer accepted yet")]
    NotNegotiated,
    /// The answer left this track without a send stream.
    #[error("the track has no send stream")]
    NoSendStream,
}

/// The payload types the answer agreed on.
#[derive(Debug, Clone, Copy)]
struct PayloadTypes {
    video: Pt,
    audio: Pt,
}

/// A WHIP publisher.
pub struct WhipPublisher {
    client: RtcClient,
    video: Mid,
    audio: Mid,
    pending: Option<SdpPendingOffer>,
    payload_types: Option<PayloadTypes>,
    /// Whether video is kept for retransmission (answering NACKs).
    retransmit_video: bool,
    sequence: u64,
    audio_sequence: u64,
    stats: PublisherStats,
    /// The WHIP resource to DELETE when dropped, if it was signalled here.
    resource: Option<(Signalling, reqwest::Url)>,
}

impl WhipPublisher {
    /// A publisher on a socket bound to `bind` and its SDP offer of `video`
    /// and Opus, sendonly.
    pub fn offer(video: OfferedVideo, bind: IpAddr) -> Result<(Self, String), WhipError> {
        let mut client = RtcClient::new(negotiation::rtc_config(video, FIRST_PAYLOAD_TYPE), bind)?;
        let offer = negotiation::offer(client.rtc_mut(), Direction::SendOnly)?;
        let publisher = Self {
            client,
            video: offer.video,
            audio: offer.audio,
            pending: Some(offer.pending),
            payload_types: None,
            retransmit_video: true,
            sequence: 1,
            audio_sequence: 1,
            stats: PublisherStats::default(),
            resource: None,
        };
        Ok((publisher, offer.sdp))
    }

    /// Keeps no video for retransmission, so a packet the server loses on
    /// the way in stays lost (a test that compares payloads byte for byte
    /// sees any loss instead of its repair).
    pub fn without_retransmission(mut self) -> Self {
        self.retransmit_video = false;
        self
    }

    /// Takes the server's SDP answer; ICE and DTLS follow in [`Self::run`].
    pub fn accept_answer(&mut self, answer: &str) -> Result<(), WhipError> {
        let pending = self
            .pending
            .take()
            .ok_or_else(|| SessionError::negotiation("the answer was already accepted"))?;
        let rtc = self.client.rtc_mut();
        negotiation::accept_answer(rtc, pending, answer)?;
        self.payload_types = Some(PayloadTypes {
            video: negotiation::payload_type(rtc, self.video, Codec::H264)?,
            audio: negotiation::payload_type(rtc, self.audio, Codec::Opus)?,
        });
        Ok(())
    }

    /// Offers to `/whip/endpoint/{channel}` with `bearer` and waits until
    /// ICE and DTLS are up; the resource is deleted when it is dropped.
    pub fn connect(
        signalling: &Signalling,
        channel: &str,
        bearer: &str,
        bind: IpAddr,
    ) -> Result<Self, WhipError> {
        let (mut publisher, offer) = Self::offer(OfferedVideo::Baseline, bind)?;
        let deadline = Instant::now() + CONNECT_DEADLINE;
        let session = signalling.offer(
            &format!("/whip/endpoint/{channel}"),
            &offer,
            Some(bearer),
            deadline,
        )?;
        publisher.resource = session
            .resource
            .map(|resource| (signalling.clone(), resource));
        publisher.accept_answer(&session.answer)?;
        publisher.run(deadline.saturating_duration_since(Instant::now()), |p| {
            p.is_connected()
        });
        if !publisher.is_connected() {
            return Err(WhipError::ConnectTimeout);
        }
        Ok(publisher)
    }

    /// Whether ICE and DTLS completed.
    pub fn is_connected(&self) -> bool {
        self.client.connected_at().is_some()
    }

    /// PLIs and FIRs the server sent so far.
    pub fn keyframe_requests(&self) -> u64 {
        self.stats.keyframe_requests
    }

    /// Writes one video packet (sequence numbers are consecutive; video is
    /// kept for retransmission unless [`Self::without_retransmission`]).
    pub fn send_video(
        &mut self,
        timestamp: u32,
        marker: bool,
        payload: &[u8],
    ) -> Result<(), SendError> {
        self.write(false, timestamp, marker, payload)
    }

    /// Writes one audio packet.
    pub fn send_audio(&mut self, timestamp: u32, payload: &[u8]) -> Result<(), SendError> {
        self.write(true, timestamp, false, payload)
    }

    /// Drives the publisher for up to `budget`, returning early once `done`
    /// holds.
    pub fn run(&mut self, budget: Duration, mut done: impl FnMut(&Self) -> bool) {
        let deadline = Instant::now() + budget;
        let mut buf = [0u8; 2048];
        while Instant::now() < deadline && !done(self) {
            let stats = &mut self.stats;
            self.client.step(
                deadline,
                &mut buf,
                |_| true,
                |_, event| count_keyframe_requests(stats, event),
            );
        }
    }

    fn write(
        &mut self,
        audio: bool,
        timestamp: u32,
        marker: bool,
        payload: &[u8],
    ) -> Result<(), SendError> {
        let payload_types = self.payload_types.ok_or(SendError::NotNegotiated)?;
        let (mid, pt, sequence) = if audio {
            self.audio_sequence += 1;
            (self.audio, payload_types.audio, self.audio_sequence - 1)
        } else {
            self.sequence += 1;
            (self.video, payload_types.video, self.sequence - 1)
        };
        let mut api = self.client.rtc_mut().direct_api();
        let tx = api
            .stream_tx_by_mid(mid, None)
            .ok_or(SendError::NoSendStream)?;
        let payload: Arc<[u8]> = Arc::from(payload);
        let length = payload.len() as u64;
        let write = RtpWrite::new(
            pt,
            SeqNo::from(sequence),
            timestamp,
            Instant::now(),
            payload,
        )
        .marker(marker)
        .nackable(!audio && self.retransmit_video);
        tx.write_rtp(write);
        self.stats.packets += 1;
        self.stats.bytes += length;
        let stats = &mut self.stats;
        self.client
            .flush(&mut |_: &mut Rtc, event| count_keyframe_requests(stats, event));
        Ok(())
    }
}

fn count_keyframe_requests(stats: &mut PublisherStats, event: Event) {
    if let Event::KeyframeRequest(_) = event {
        stats.keyframe_requests += 1;
    }
}

impl Drop for WhipPublisher {
    fn drop(&mut self) {
        if let Some((signalling, resource)) = self.resource.take() {
            signalling.delete(&resource);
        }
    }
}

/// The load tool's sink: a connected publisher always has both tracks, so
/// a refused write cannot happen there and is not counted.
impl MediaSink for WhipPublisher {
    fn send_video(&mut self, timestamp: u32, marker: bool, payload: &[u8]) {
        let _ = WhipPublisher::send_video(self, timestamp, marker, payload);
    }

    fn send_audio(&mut self, timestamp: u32, payload: &[u8]) {
        let _ = WhipPublisher::send_audio(self, timestamp, payload);
    }

    fn serve_until(&mut self, until: Instant) {
        self.run(until.saturating_duration_since(Instant::now()), |_| false);
    }

    fn stats(&self) -> PublisherStats {
        self.stats
    }
}
