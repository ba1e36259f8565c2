//! Viewer: one WHEP viewer's str0m `Rtc` and what it forwards. It feeds the
//! `Rtc` one input at a time and drains it to a future timeout, re-feeding
//! timeouts that are already due, because `write_rtp` only queues a packet
//! (DESIGN.md, "str0m: facts that shape the code").

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use str0m::change::{SdpAnswer, SdpOffer, SdpPendingOffer};
use str0m::format::Codec;
use str0m::media::{Direction, MediaKind, Mid, Pt};
use str0m::rtp::{Extension, RtpWrite, SeqNo};
use str0m::{Candidate, Event, IceCreds, Rtc, RtcConfig, RtcError};

use crate::catch_up::CatchUp;
use crate::ring::{ReadPin, RingCursor, RingPacket};
use crate::rtc_io::{RtcIo, RtcPeer};
use crate::stream::{Stream, TrackKind};
use crate::udp::SendBatch;

/// Payload type we offer H.264 on, and its RTX twin.
const H264_PT: u8 = 102;
const H264_RTX_PT: u8 = 103;

/// The profile-level-id offered while a stream has sent no SPS yet:
/// constrained baseline, level 3.1, which every browser decodes.
const DEFAULT_PROFILE_LEVEL_ID: u32 = 0x42e01f;

/// How long sent video stays available for retransmission: NACKs that come
/// later than this are for frames a low-latency player has given up on.
const RTX_HISTORY: Duration = Duration::from_secs(1);
/// Most packets kept for retransmission: 1 s up to about 3 Mbit/s. str0m
/// keeps each as a ~430-byte entry (the payload itself is the ring's,
/// shared) in a buffer that never shrinks, so this caps a viewer's largest
/// allocation at about 110 KB even after a join's backlog.
const RTX_HISTORY_PACKETS: usize = 256;
/// str0m's default: stop resending when repairs exceed this share of the rate.
const RTX_RATIO_CAP: f32 = 0.15;
/// Packets written to str0m between drains.
const WRITE_BATCH: usize = 16;
/// The header extension id of `sdes:mid` in our own offers.
const MID_EXTENSION_ID: u8 = 4;

/// Why a viewer could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum ViewerError {
    /// The offer is not valid SDP.
    #[error("invalid SDP: {0}")]
    BadSdp(String),
    /// The offer has no H.264 this stream can feed (or no media at all).
    #[error(
        "the offer has no H.264 (packetization-mode 1, profile {0:06x}) to receive this stream"
    )]
    NoH264(u32),
    /// str0m refused the offer or answer.
    #[error("WebRTC negotiation failed: {0}")]
    Negotiation(#[from] RtcError),
    /// An answer came for a viewer that sent its own offer, or twice.
    #[error("this session is not waiting for an answer")]
    NotAwaitingAnswer,
    /// A publisher offered simulcast; Waveguide takes one encoding.
    #[error("simulcast is not supported: publish a single encoding")]
    Simulcast,
    /// A publisher's offer has no H.264 (packetization-mode 1) to send.
    #[error("the offer has no H.264 with packetization-mode 1 to publish")]
    NoH264ToPublish,
    /// The origin's answer to a relay's offer sends no H.264.
    #[error("the origin's answer has no H.264 to relay")]
    NoH264ToRelay,
}

/// An SDP body str0m could not parse. Its parser's message is logged, not
/// returned: it can carry a memory address (`PointerOffset(0x...)`), which a
/// peer must not learn.
pub(crate) fn unparseable(error: impl std::fmt::Display) -> ViewerError {
    tracing::debug!(%error, "unparseable SDP");
    ViewerError::BadSdp("not well-formed SDP".into())
}

/// Applies the remote side's `answer` to our `pending` offer (taken: a
/// second answer is refused).
pub(crate) fn accept_pending_answer(
    rtc: &mut Rtc,
    pending: &mut Option<SdpPendingOffer>,
    answer: &str,
) -> Result<(), ViewerError> {
    let answer = SdpAnswer::from_sdp_string(answer).map_err(unparseable)?;
    let pending = pending.take().ok_or(ViewerError::NotAwaitingAnswer)?;
    rtc.sdp_api().accept_answer(pending, answer)?;
    Ok(())
}

/// What a viewer wants its worker to know after a drain.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct DrainOutcome {
    /// Keyframe requests (PLI/FIR) the viewer sent.
    pub keyframe_requests: u32,
    /// The peer is gone: close and remove it.
    pub closed: bool,
    /// Media packets a publisher put into the rings.
    pub published: u32,
}

/// One outgoing track: where it goes in the `Rtc` and where it reads the ring.
struct Outbound {
    kind: TrackKind,
    mid: Mid,
    pt: Option<Pt>,
    cursor: Option<RingCursor>,
    /// Our sequence number = the publisher's extended one + this offset.
    offset: i64,
    last_in: Option<u64>,
    last_out: u64,
    skipped_seen: u64,
    awaiting_keyframe: bool,
}

impl Outbound {
    fn new(kind: TrackKind, mid: Mid) -> Self {
        Self {
            kind,
            mid,
            pt: None,
            cursor: None,
            offset: 0,
            last_in: None,
            last_out: 0,
            skipped_seen: 0,
            awaiting_keyframe: kind == TrackKind::Video,
        }
    }

    /// Extends a 16-bit sequence number to the one nearest the last seen.
    fn extend(&self, sequence: u16) -> u64 {
        let Some(last) = self.last_in else {
            return (1 << 16) | u64::from(sequence);
        };
        let delta = sequence.wrapping_sub(last as u16) as i16;
        last.saturating_add_signed(i64::from(delta))
    }

    /// The viewer's sequence number for a packet, or `None` to skip it.
    /// Starts at 1 (so the SRTP rollover counter starts at 0) and closes the
    /// gap a lap or a join leaves, so viewers never NACK what we skipped.
    fn map_sequence(&mut self, packet: &RingPacket, skipped: u64) -> Option<u64> {
        let extended = self.extend(packet.sequence);
        if self.last_in.is_none() || skipped != self.skipped_seen {
            self.skipped_seen = skipped;
            self.offset = (self.last_out as i64 + 1) - extended as i64;
        }
        let out = extended as i64 + self.offset;
        if out < 1 {
            return None;
        }
        if self.last_in.is_none_or(|last| extended > last) {
            self.last_in = Some(extended);
        }
        self.last_out = self.last_out.max(out as u64);
        Some(out as u64)
    }
}

/// One WHEP viewer.
pub struct Viewer {
    io: RtcIo,
    stream: Arc<Stream>,
    tracks: Vec<Outbound>,
    pending_offer: Option<SdpPendingOffer>,
    created: Instant,
    /// Packets forwarded, for stats.
    pub forwarded: u64,
    /// Times this viewer fell a whole ring behind and skipped ahead.
    pub laps: u64,
    /// Paces the backlog of a join or a lap.
    catch_up: CatchUp,
    /// When paced backlog may continue, while some waits.
    resume_at: Option<Instant>,
}

/// The codec configuration a viewer of `stream` is offered.
fn viewer_config(stream: &Stream, base: &RtcConfig) -> (RtcConfig, u32) {
    let profile = stream
        .sps()
        .map(|sps| {
            let [profile, constraints, level] = sps.profile_level_id();
            (u32::from(profile) << 16) | (u32::from(constraints) << 8) | u32::from(level)
        })
        .unwrap_or(DEFAULT_PROFILE_LEVEL_ID);
    // Only the mid extension: forwarding needs no bandwidth estimation
    // (transport-cc would make str0m track every packet sent) nor levels.
    let mut config = base
        .clone()
        .clear_codecs()
        .enable_opus(true, false)
        .clear_extension_map()
        .set_extension(MID_EXTENSION_ID, Extension::RtpMid);
    config
        .codec_config()
        .add_h264(H264_PT.into(), Some(H264_RTX_PT.into()), true, profile);
    (config, profile)
}

impl Viewer {
    /// A viewer of `stream` answering `offer` (standard WHEP). `candidates`
    /// are the worker's advertised addresses; `ufrag` routes its STUN to us.
    pub fn answer(
        now: Instant,
        base: &RtcConfig,
        ufrag: String,
        candidates: impl Into<LocalAddresses>,
        stream: Arc<Stream>,
        offer: &str,
    ) -> Result<(Self, String), ViewerError> {
        let offer = SdpOffer::from_sdp_string(offer).map_err(unparseable)?;
        let (config, profile) = viewer_config(&stream, base);
        let mut rtc = build_rtc(now, config, ufrag, candidates.into())?;
        let answer = rtc.sdp_api().accept_offer(offer)?;
        let answer = answer.to_sdp_string();
        let mut viewer = Self::new(now, rtc, stream);
        // accept_offer created the send streams, but str0m reports them
        // (MediaAdded) only once media can flow: take the mids from the answer.
        for (kind, mid) in sending_or_receiving_mids(&answer) {
            if !viewer.tracks.iter().any(|t| t.kind == kind) {
                viewer.tracks.push(Outbound::new(kind, mid));
            }
        }
        viewer.resolve_payload_types();
        if !viewer
            .tracks
            .iter()
            .any(|t| t.kind == TrackKind::Video && t.pt.is_some())
        {
            return Err(ViewerError::NoH264(profile));
        }
        Ok((viewer, answer))
    }

    /// A viewer that gets our offer first (the original Waveguide player's
    /// flow); it answers through [`accept_answer`](Self::accept_answer).
    pub fn offer(
        now: Instant,
        base: &RtcConfig,
        ufrag: String,
        candidates: impl Into<LocalAddresses>,
        stream: Arc<Stream>,
    ) -> Result<(Self, String), ViewerError> {
        let (config, _) = viewer_config(&stream, base);
        let mut rtc = build_rtc(now, config, ufrag, candidates.into())?;
        let mut api = rtc.sdp_api();
        let video = api.add_media(
            MediaKind::Video,
            Direction::SendOnly,
            Some("waveguide".into()),
            Some("video".into()),
            None,
        );
        let audio = api.add_media(
            MediaKind::Audio,
            Direction::SendOnly,
            Some("waveguide".into()),
            Some("audio".into()),
            None,
        );
        let Some((offer, pending)) = api.apply() else {
            return Err(ViewerError::NotAwaitingAnswer);
        };
        let mut viewer = Self::new(now, rtc, stream);
        viewer.tracks.push(Outbound::new(TrackKind::Video, video));
        viewer.tracks.push(Outbound::new(TrackKind::Audio, audio));
        viewer.pending_offer = Some(pending);
        Ok((viewer, offer.to_sdp_string()))
    }

    /// Completes the server-offer flow with the viewer's answer.
    pub fn accept_answer(&mut self, answer: &str) -> Result<(), ViewerError> {
        accept_pending_answer(&mut self.io.rtc, &mut self.pending_offer, answer)?;
        self.resolve_payload_types();
        if !self
            .tracks
            .iter()
            .any(|t| t.kind == TrackKind::Video && t.pt.is_some())
        {
            return Err(ViewerError::NoH264(0));
        }
        Ok(())
    }

    fn new(now: Instant, rtc: Rtc, stream: Arc<Stream>) -> Self {
        Self {
            io: RtcIo::new(rtc, now),
            stream,
            tracks: Vec::with_capacity(2),
            pending_offer: None,
            created: now,
            forwarded: 0,
            laps: 0,
            catch_up: CatchUp::new(now),
            resume_at: None,
        }
    }

    fn resolve_payload_types(&mut self) {
        for track in &mut self.tracks {
            let codec = match track.kind {
                TrackKind::Video => Codec::H264,
                TrackKind::Audio => Codec::Opus,
            };
            track.pt = self.io.rtc.media(track.mid).and_then(|media| {
                if !media.direction().is_sending() {
                    return None;
                }
                let remote = media.remote_pts();
                self.io
                    .rtc
                    .codec_config()
                    .find(|p| p.spec().codec == codec && remote.contains(&p.pt()))
                    .map(|p| p.pt())
            });
        }
    }

    /// The stream this viewer watches.
    pub fn stream(&self) -> &Arc<Stream> {
        &self.stream
    }

    /// When the viewer was opened.
    pub fn created(&self) -> Instant {
        self.created
    }

    /// Writes every new packet of the stream's rings, then drains.
    pub fn forward(&mut self, now: Instant, send: &mut SendBatch) -> DrainOutcome {
        let mut outcome = DrainOutcome::default();
        if !self.io.connected || self.io.closed {
            return outcome;
        }
        self.resume_at = None;
        for track in 0..self.tracks.len() {
            loop {
                let written = self.write_batch(track, now);
                if written == 0 {
                    break;
                }
                // Drained after every batch, so str0m's send queue (whose
                // entries are ~400 bytes and whose capacity never shrinks)
                // stays small even for a keyframe or a join backlog.
                let drained = self.handle_timeout(now, send);
                outcome.keyframe_requests += drained.keyframe_requests;
                if drained.closed {
                    outcome.closed = true;
                    return outcome;
                }
                if written < WRITE_BATCH {
                    break;
                }
            }
        }
        outcome
    }

    /// Writes up to [`WRITE_BATCH`] new packets of one track; returns how many.
    fn write_batch(&mut self, track: usize, now: Instant) -> usize {
        let Self {
            io,
            stream,
            tracks,
            catch_up,
            resume_at,
            forwarded,
            laps,
            ..
        } = self;
        let Some(track) = tracks.get_mut(track) else {
            return 0;
        };
        let (Some(pt), Some(ring)) = (track.pt, stream.ring(track.kind)) else {
            return 0;
        };
        if track
            .cursor
            .as_ref()
            .is_some_and(|c| c.position() == ring.head())
        {
            return 0; // Caught up: no ring read at all.
        }
        let mut api = io.rtc.direct_api();
        let Some(tx) = api.stream_tx_by_mid(track.mid, None) else {
            return 0;
        };
        let mut cursor = match track.cursor.take() {
            Some(cursor) => cursor,
            None => {
                if track.kind == TrackKind::Video {
                    tx.set_rtx_cache(RTX_HISTORY_PACKETS, RTX_HISTORY, Some(RTX_RATIO_CAP));
                }
                RingCursor::at_keyframe(ring)
            }
        };
        let skipped_before = cursor.skipped();
        let mut written = 0;
        let pin = ReadPin::new();
        while written < WRITE_BATCH
            && let Some(packet) = cursor.peek_pinned(ring, &pin)
        {
            // A lap may restart mid-GOP (no keyframe held): wait for one.
            if cursor.skipped() != track.skipped_seen && track.kind == TrackKind::Video {
                track.awaiting_keyframe = true;
            }
            if track.awaiting_keyframe && !packet.keyframe {
                cursor.advance(); // Skipped, not sent: it costs no token.
                continue;
            }
            if !catch_up.admit(now, packet.arrival) {
                *resume_at = Some(catch_up.next_token());
                break;
            }
            cursor.advance();
            track.awaiting_keyframe = false;
            let Some(sequence) = track.map_sequence(&packet, cursor.skipped()) else {
                continue;
            };
            let video = track.kind == TrackKind::Video;
            tx.write_rtp(
                RtpWrite::new(
                    pt,
                    SeqNo::from(sequence),
                    packet.timestamp,
                    packet.arrival,
                    packet.payload,
                )
                .marker(packet.marker)
                .nackable(video),
            );
            *forwarded += 1;
            written += 1;
        }
        if cursor.skipped() > skipped_before {
            *laps += 1;
        }
        track.cursor = Some(cursor);
        written
    }

    fn drain_events(&mut self, now: Instant, send: &mut SendBatch) -> DrainOutcome {
        let mut keyframe_requests = 0;
        let closed = self.io.drain(now, send, |_, event| {
            if let Event::KeyframeRequest(_) = event {
                keyframe_requests += 1;
            }
        });
        DrainOutcome {
            keyframe_requests,
            closed,
            published: 0,
        }
    }
}

/// The video and audio m-lines of an answer, with their mids (whether they
/// send or receive is checked against the `Rtc`).
pub(crate) fn sending_or_receiving_mids(answer: &str) -> Vec<(TrackKind, Mid)> {
    let mut mids = Vec::with_capacity(2);
    let mut kind = None;
    for line in answer.lines() {
        if let Some(media) = line.strip_prefix("m=") {
            kind = match media.split(' ').next() {
                Some("video") => Some(TrackKind::Video),
                Some("audio") => Some(TrackKind::Audio),
                _ => None,
            };
        } else if let (Some(kind), Some(mid)) = (kind, line.strip_prefix("a=mid:")) {
            mids.push((kind, Mid::from(mid.trim())));
        }
    }
    mids
}

/// Where a worker's peers are reached: its UDP socket's announced address,
/// those of its extra interfaces, and, with ICE-TCP, its TCP listener's (a
/// passive candidate, RFC 6544).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalAddresses {
    /// The main UDP host candidate.
    pub udp: SocketAddr,
    /// One more UDP host candidate per extra interface.
    pub more_udp: Vec<SocketAddr>,
    /// The passive TCP host candidate, if ICE-TCP is on.
    pub tcp: Option<SocketAddr>,
}

impl From<SocketAddr> for LocalAddresses {
    fn from(udp: SocketAddr) -> Self {
        Self {
            udp,
            more_udp: Vec::new(),
            tcp: None,
        }
    }
}

pub(crate) fn build_rtc(
    now: Instant,
    config: RtcConfig,
    ufrag: String,
    addresses: LocalAddresses,
) -> Result<Rtc, ViewerError> {
    let mut credentials = IceCreds::new();
    credentials.ufrag = ufrag;
    let mut rtc = config.set_local_ice_credentials(credentials).build(now);
    let bad = |e: str0m::error::IceError| ViewerError::Negotiation(e.into());
    for udp in std::iter::once(addresses.udp).chain(addresses.more_udp) {
        rtc.add_local_candidate(Candidate::host(udp, "udp").map_err(bad)?);
    }
    if let Some(tcp) = addresses.tcp {
        let candidate = Candidate::builder()
            .tcp()
            .host(tcp)
            .tcptype(str0m::net::TcpType::Passive)
            .build()
            .map_err(bad)?;
        rtc.add_local_candidate(candidate);
    }
    Ok(rtc)
}

impl RtcPeer for Viewer {
    fn io(&self) -> &RtcIo {
        &self.io
    }

    fn next_timeout(&self) -> Instant {
        match self.resume_at {
            Some(resume) => resume.min(self.io.next_timeout),
            None => self.io.next_timeout,
        }
    }

    fn io_mut(&mut self) -> &mut RtcIo {
        &mut self.io
    }

    fn drain(&mut self, now: Instant, send: &mut SendBatch) -> DrainOutcome {
        self.drain_events(now, send)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packet(sequence: u16) -> RingPacket {
        RingPacket {
            sequence,
            timestamp: 0,
            marker: false,
            keyframe: false,
            arrival: Instant::now(),
            payload: Arc::from(&[][..]),
        }
    }

    fn outbound() -> Outbound {
        Outbound::new(TrackKind::Video, Mid::from("0"))
    }

    #[test]
    fn sequence_starts_at_one_whatever_the_publisher_uses() {
        let mut track = outbound();
        assert_eq!(track.map_sequence(&packet(40_000), 0), Some(1));
        assert_eq!(track.map_sequence(&packet(40_001), 0), Some(2));
    }

    #[test]
    fn publisher_wrap_is_continuous() {
        let mut track = outbound();
        assert_eq!(track.map_sequence(&packet(65_534), 0), Some(1));
        assert_eq!(track.map_sequence(&packet(65_535), 0), Some(2));
        assert_eq!(track.map_sequence(&packet(0), 0), Some(3));
        assert_eq!(track.map_sequence(&packet(1), 0), Some(4));
    }

    #[test]
    fn a_late_retransmission_keeps_its_place() {
        let mut track = outbound();
        assert_eq!(track.map_sequence(&packet(10), 0), Some(1));
        assert_eq!(track.map_sequence(&packet(12), 0), Some(3));
        assert_eq!(track.map_sequence(&packet(13), 0), Some(4));
        assert_eq!(
            track.map_sequence(&packet(11), 0),
            Some(2),
            "fills the hole the viewer NACKs"
        );
        assert_eq!(track.map_sequence(&packet(14), 0), Some(5));
    }

    #[test]
    fn a_lap_closes_the_gap_so_viewers_do_not_nack_skipped_packets() {
        let mut track = outbound();
        assert_eq!(track.map_sequence(&packet(100), 0), Some(1));
        assert_eq!(track.map_sequence(&packet(101), 0), Some(2));
        assert_eq!(track.map_sequence(&packet(900), 799), Some(3));
        assert_eq!(track.map_sequence(&packet(901), 799), Some(4));
    }

    #[test]
    fn a_retransmission_from_before_the_start_is_skipped() {
        let mut track = outbound();
        assert_eq!(track.map_sequence(&packet(500), 0), Some(1));
        assert_eq!(track.map_sequence(&packet(499), 0), None);
    }

    #[test]
    fn sending_mids_reads_the_answer() {
        let answer = "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 102\r\na=mid:v0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:a1\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\na=mid:d2\r\n";
        assert_eq!(
            sending_or_receiving_mids(answer),
            vec![
                (TrackKind::Video, Mid::from("v0")),
                (TrackKind::Audio, Mid::from("a1"))
            ]
        );
    }
}
