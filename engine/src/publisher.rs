//! Publisher: one receive-only str0m `Rtc` (RTP mode) feeding a stream: a
//! WHIP publisher (it offers, we answer) or an edge relay's upstream session
//! (we offer to the origin's WHEP endpoint, it answers). Its RTP packets go
//! into the stream's rings unchanged, reusing str0m's `Arc<[u8]>` payload
//! with no copy; keyframe requests from viewers go upstream as PLIs, at most
//! one per stream per 500 ms.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use str0m::change::{SdpOffer, SdpPendingOffer};
use str0m::format::Codec;
use str0m::media::{Direction, KeyframeRequestKind, MediaKind, Mid};
use str0m::{Event, Rtc, RtcConfig};

use crate::error::ViewerError;
use crate::negotiation::{
    LocalAddresses, accept_pending_answer, build_rtc, sending_or_receiving_mids, unparseable,
};
use crate::ring::RingWriter;
use crate::rtc_driver::{DrainOutcome, Route, RtcDriver};
use crate::stream::{Stream, TrackKind};
use crate::track_writer::{RtpFields, TrackWriter};
use crate::udp::SendBatch;

/// Fewest time between two keyframe requests sent upstream.
pub const KEYFRAME_REQUEST_INTERVAL: Duration = Duration::from_millis(500);

/// H.264 profiles a publisher may send, each with packetization-mode 1: the
/// offer's own profile is taken whichever it is (levels are negotiable).
const H264_PROFILES: [(u8, u32); 5] = [
    (102, 0x42e01f), // constrained baseline
    (104, 0x42001f), // baseline
    (106, 0x4d001f), // main
    (108, 0x64001f), // high
    (110, 0x640c1f), // constrained high
];

struct Inbound {
    mid: Mid,
    writer: TrackWriter,
}

impl Inbound {
    fn new(kind: TrackKind, mid: Mid, writer: RingWriter) -> Self {
        Self {
            mid,
            writer: TrackWriter::new(kind, writer),
        }
    }

    fn kind(&self) -> TrackKind {
        self.writer.kind()
    }
}

/// One WHIP publisher, or a relay's session with its origin.
pub struct Publisher {
    driver: RtcDriver,
    stream: Arc<Stream>,
    tracks: Vec<Inbound>,
    /// Our offer, while a relay waits for the origin's answer.
    pending_offer: Option<SdpPendingOffer>,
    created: Instant,
    last_media: Instant,
    last_keyframe_request: Option<Instant>,
}

/// The codec configuration a publisher is answered with.
fn publisher_config(base: &RtcConfig) -> RtcConfig {
    let mut config = base.clone().clear_codecs().enable_opus(true, false);
    for (pt, profile) in H264_PROFILES {
        config
            .codec_config()
            .add_h264(pt.into(), Some((pt + 1).into()), true, profile);
    }
    config
}

impl Publisher {
    /// A publisher of `stream` answering `offer`; `video` and `audio` are the
    /// writers of the stream's rings.
    pub fn answer(
        now: Instant,
        base: &RtcConfig,
        ufrag: String,
        candidates: impl Into<LocalAddresses>,
        stream: Arc<Stream>,
        (video, audio): (Option<RingWriter>, Option<RingWriter>),
        offer: &str,
    ) -> Result<(Self, String), ViewerError> {
        // Each simulcast layer has its own SSRC, sequence and resolution; one
        // ring holds one encoding, so a simulcast offer is refused.
        if offer.lines().any(|line| line.starts_with("a=simulcast:")) {
            return Err(ViewerError::Simulcast);
        }
        let offer = SdpOffer::from_sdp_string(offer).map_err(unparseable)?;
        let mut rtc = build_rtc(now, publisher_config(base), ufrag, candidates.into())?;
        let answer = rtc.sdp_api().accept_offer(offer)?.to_sdp_string();
        let mut tracks = Vec::with_capacity(2);
        let mut writers = [(TrackKind::Video, video), (TrackKind::Audio, audio)];
        for (kind, mid) in sending_or_receiving_mids(&answer) {
            let negotiated = receives(&rtc, kind, mid);
            let writer = writers
                .iter_mut()
                .find(|(k, _)| *k == kind)
                .and_then(|(_, writer)| writer.take_if(|_| negotiated));
            if let Some(writer) = writer {
                tracks.push(Inbound::new(kind, mid, writer));
            }
        }
        if !tracks.iter().any(|t| t.kind() == TrackKind::Video) {
            return Err(ViewerError::NoH264ToPublish);
        }
        Ok((Self::new(now, rtc, stream, tracks), answer))
    }

    /// A session that pulls `stream` from another node: our receive-only
    /// offer (every H.264 profile, and Opus) for the origin's WHEP endpoint,
    /// completed by [`accept_answer`](Self::accept_answer). We are the ICE
    /// controlling side here, so this `Rtc` is not ICE-lite.
    pub fn offer(
        now: Instant,
        base: &RtcConfig,
        ufrag: String,
        candidate: SocketAddr,
        stream: Arc<Stream>,
        (video, audio): (Option<RingWriter>, Option<RingWriter>),
    ) -> Result<(Self, String), ViewerError> {
        let config = publisher_config(base).set_ice_lite(false);
        let mut rtc = build_rtc(now, config, ufrag, candidate.into())?;
        let mut api = rtc.sdp_api();
        let mut tracks = Vec::with_capacity(2);
        for (kind, writer) in [(TrackKind::Video, video), (TrackKind::Audio, audio)] {
            let media = match kind {
                TrackKind::Video => MediaKind::Video,
                TrackKind::Audio => MediaKind::Audio,
            };
            let mid = api.add_media(media, Direction::RecvOnly, None, None, None);
            if let Some(writer) = writer {
                tracks.push(Inbound::new(kind, mid, writer));
            }
        }
        let Some((offer, pending)) = api.apply() else {
            return Err(ViewerError::NotAwaitingAnswer);
        };
        let mut publisher = Self::new(now, rtc, stream, tracks);
        publisher.pending_offer = Some(pending);
        Ok((publisher, offer.to_sdp_string()))
    }

    /// Completes a relay's session with the origin's answer. Tracks the
    /// origin does not send are dropped; without H.264 the relay is refused.
    pub fn accept_answer(&mut self, answer: &str) -> Result<(), ViewerError> {
        accept_pending_answer(&mut self.driver.rtc, &mut self.pending_offer, answer)?;
        let rtc = &self.driver.rtc;
        self.tracks
            .retain(|track| receives(rtc, track.kind(), track.mid));
        if !self.tracks.iter().any(|t| t.kind() == TrackKind::Video) {
            return Err(ViewerError::NoH264ToRelay);
        }
        Ok(())
    }

    fn new(now: Instant, rtc: Rtc, stream: Arc<Stream>, tracks: Vec<Inbound>) -> Self {
        Self {
            driver: RtcDriver::new(rtc, now),
            stream,
            tracks,
            pending_offer: None,
            created: now,
            last_media: now,
            last_keyframe_request: None,
        }
    }

    /// The stream this publisher feeds.
    pub fn stream(&self) -> &Arc<Stream> {
        &self.stream
    }

    /// When the publisher was opened.
    pub fn created(&self) -> Instant {
        self.created
    }

    /// When the last media packet arrived.
    pub fn last_media(&self) -> Instant {
        self.last_media
    }

    /// Sends a PLI upstream if a viewer asked for a keyframe and the last
    /// request is at least `KEYFRAME_REQUEST_INTERVAL` old.
    pub fn forward_keyframe_request(&mut self, now: Instant, send: &mut SendBatch) -> DrainOutcome {
        if !self.driver.connected {
            return DrainOutcome::default();
        }
        let too_soon = self
            .last_keyframe_request
            .is_some_and(|last| now.saturating_duration_since(last) < KEYFRAME_REQUEST_INTERVAL);
        let Some(video) = self
            .tracks
            .iter()
            .find(|t| t.kind() == TrackKind::Video)
            .map(|t| t.mid)
        else {
            return DrainOutcome::default();
        };
        // The flag is taken only when a PLI really goes out: a request made
        // too soon, or before the video stream is known, waits for a later turn.
        let mut api = self.driver.rtc.direct_api();
        let Some(rx) = api.stream_rx_by_mid(video, None) else {
            return DrainOutcome::default();
        };
        if too_soon || !self.stream.take_keyframe_request() {
            return DrainOutcome::default();
        }
        rx.request_keyframe(KeyframeRequestKind::Pli);
        self.last_keyframe_request = Some(now);
        self.stream
            .counters()
            .keyframe_requests
            .fetch_add(1, Ordering::Relaxed);
        self.handle_timeout(now, send)
    }

    /// Feeds one datagram (or ICE-TCP frame), then drains.
    pub fn handle_datagram(
        &mut self,
        now: Instant,
        route: Route,
        datagram: &[u8],
        send: &mut SendBatch,
    ) -> DrainOutcome {
        if !self.driver.receive(now, route, datagram) {
            return self.close(now, send);
        }
        self.drain(now, send)
    }

    /// Feeds a due timeout, then drains.
    pub fn handle_timeout(&mut self, now: Instant, send: &mut SendBatch) -> DrainOutcome {
        if !self.driver.timeout(now) {
            return self.close(now, send);
        }
        self.drain(now, send)
    }

    /// Closes the `Rtc`, sending what a clean close sends.
    pub fn close(&mut self, now: Instant, send: &mut SendBatch) -> DrainOutcome {
        self.driver.close(now, send);
        DrainOutcome::closed()
    }

    /// When [`handle_timeout`](Self::handle_timeout) is due.
    pub fn next_timeout(&self) -> Instant {
        self.driver.next_timeout
    }

    /// Whether ICE and DTLS are up.
    pub fn is_connected(&self) -> bool {
        self.driver.is_connected()
    }

    /// The `Rtc` driver, for routing checks.
    pub(crate) fn driver(&self) -> &RtcDriver {
        &self.driver
    }

    fn drain(&mut self, now: Instant, send: &mut SendBatch) -> DrainOutcome {
        let Self {
            driver,
            stream,
            tracks,
            last_media,
            ..
        } = self;
        let mut published = 0;
        let closed = driver.drain(now, send, |rtc, event| {
            if let Event::RtpPacket(packet) = event
                && publish(rtc, tracks, stream, packet)
            {
                *last_media = now;
                published += 1;
            }
        });
        DrainOutcome {
            closed,
            published,
            ..DrainOutcome::default()
        }
    }
}

/// Whether `mid` receives `kind`'s codec from the remote side.
fn receives(rtc: &Rtc, kind: TrackKind, mid: Mid) -> bool {
    let codec = match kind {
        TrackKind::Video => Codec::H264,
        TrackKind::Audio => Codec::Opus,
    };
    rtc.media(mid).is_some_and(|media| {
        let remote = media.remote_pts();
        media.direction().is_receiving()
            && rtc
                .codec_config()
                .iter()
                .any(|p| p.spec().codec == codec && remote.contains(&p.pt()))
    })
}

/// Puts one received packet into its track's ring, unchanged: str0m's
/// `Arc<[u8]>` payload is shared, not copied. Returns whether it had a track.
fn publish(
    rtc: &mut Rtc,
    tracks: &mut [Inbound],
    stream: &Stream,
    packet: str0m::rtp::RtpPacket,
) -> bool {
    let mid = rtc
        .direct_api()
        .stream_rx(&packet.header.ssrc)
        .map(|rx| rx.mid());
    let Some(track) = tracks.iter_mut().find(|t| Some(t.mid) == mid) else {
        return false;
    };
    let rtp = RtpFields {
        sequence: packet.header.sequence_number,
        timestamp: packet.header.timestamp,
        marker: packet.header.marker,
    };
    track
        .writer
        .publish(stream, rtp, packet.timestamp, packet.payload);
    true
}
