//! Viewer: one WHEP viewer's str0m `Rtc` and what it forwards. It feeds the
//! `Rtc` one input at a time and drains it to a future timeout, re-feeding
//! timeouts that are already due, because `write_rtp` only queues a packet
//! (DESIGN.md, "str0m: facts that shape the code").

use std::sync::Arc;
use std::time::{Duration, Instant};

use str0m::change::{SdpOffer, SdpPendingOffer};
use str0m::format::Codec;
use str0m::media::{Direction, MediaKind, Mid, Pt};
use str0m::rtp::{Extension, RtpWrite, SeqNo};
use str0m::{Event, Rtc, RtcConfig};

use crate::catch_up::CatchUp;
use crate::error::ViewerError;
use crate::negotiation::{
    LocalAddresses, accept_pending_answer, build_rtc, sending_or_receiving_mids, unparseable,
};
use crate::ring::{ReadPin, RingCursor, RingPacket};
use crate::rtc_driver::{DrainOutcome, Route, RtcDriver};
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
    driver: RtcDriver,
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
        accept_pending_answer(&mut self.driver.rtc, &mut self.pending_offer, answer)?;
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
            driver: RtcDriver::new(rtc, now),
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
            track.pt = self.driver.rtc.media(track.mid).and_then(|media| {
                if !media.direction().is_sending() {
                    return None;
                }
                let remote = media.remote_pts();
                self.driver
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
        if !self.driver.connected || self.driver.closed {
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
            driver,
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
        let mut api = driver.rtc.direct_api();
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

    /// When [`handle_timeout`](Self::handle_timeout) is due: the `Rtc`'s
    /// timeout, or sooner when paced backlog may continue.
    pub fn next_timeout(&self) -> Instant {
        match self.resume_at {
            Some(resume) => resume.min(self.driver.next_timeout),
            None => self.driver.next_timeout,
        }
    }

    /// Whether ICE and DTLS are up.
    #[cfg(feature = "internals")]
    pub fn is_connected(&self) -> bool {
        self.driver.is_connected()
    }

    /// The `Rtc` driver, for routing checks.
    pub(crate) fn driver(&self) -> &RtcDriver {
        &self.driver
    }

    /// The `Rtc` itself, for benches (for example to install fixed SRTP keys).
    #[cfg(feature = "internals")]
    pub fn rtc_mut(&mut self) -> &mut Rtc {
        &mut self.driver.rtc
    }

    fn drain(&mut self, now: Instant, send: &mut SendBatch) -> DrainOutcome {
        let mut keyframe_requests = 0;
        let closed = self.driver.drain(now, send, |_, event| {
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
}
