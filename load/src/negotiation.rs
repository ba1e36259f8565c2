//! What the str0m clients offer and how they take the answer: the codecs
//! (H.264 in one or every profile, or VP8 alone, with Opus), an audio and a
//! video m-line in one direction, the answer, and the payload type the
//! answer agreed on.

use str0m::change::{SdpAnswer, SdpPendingOffer};
use str0m::format::Codec;
use str0m::media::{Direction, MediaKind, Mid, Pt};
use str0m::{Rtc, RtcConfig};

use crate::rtc_client::SessionError;

/// H.264 profile-level-ids: Constrained Baseline, Main and High, level 3.1.
const BASELINE: u32 = 0x42e01f;
const MAIN: u32 = 0x4d001f;
const HIGH: u32 = 0x64001f;

/// The video a client offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OfferedVideo {
    /// H.264 Constrained Baseline, packetization-mode 1.
    Baseline,
    /// H.264 in Baseline, Main and High: whatever profile the stream has.
    AnyProfile,
    /// VP8 alone: a codec Waveguide neither takes nor serves.
    Vp8Only,
}

/// An RTP-mode configuration with Opus and `video`; H.264 profiles take
/// payload types from `first_payload_type` on, each with its RTX after it.
pub fn rtc_config(video: OfferedVideo, first_payload_type: u8) -> RtcConfig {
    let config = Rtc::builder()
        .set_rtp_mode(true)
        .clear_codecs()
        .enable_opus(true, false);
    let profiles: &[u32] = match video {
        OfferedVideo::Baseline => &[BASELINE],
        OfferedVideo::AnyProfile => &[BASELINE, MAIN, HIGH],
        OfferedVideo::Vp8Only => return config.enable_vp8(true),
    };
    let mut config = config;
    let mut payload_type = first_payload_type;
    for &profile in profiles {
        let rtx = payload_type.wrapping_add(1);
        config
            .codec_config()
            .add_h264(payload_type.into(), Some(rtx.into()), true, profile);
        payload_type = payload_type.wrapping_add(2);
    }
    config
}

/// An offer of a video and an audio m-line.
pub struct Offer {
    /// The video m-line.
    pub video: Mid,
    /// The audio m-line.
    pub audio: Mid,
    /// The SDP to send.
    pub sdp: String,
    /// What the answer is accepted into.
    pub pending: SdpPendingOffer,
}

/// Offers video and audio in `direction`.
pub fn offer(rtc: &mut Rtc, direction: Direction) -> Result<Offer, SessionError> {
    let mut api = rtc.sdp_api();
    let video = api.add_media(MediaKind::Video, direction, None, None, None);
    let audio = api.add_media(MediaKind::Audio, direction, None, None, None);
    let (offer, pending) = api
        .apply()
        .ok_or_else(|| SessionError::negotiation("str0m made no offer"))?;
    Ok(Offer {
        video,
        audio,
        sdp: offer.to_sdp_string(),
        pending,
    })
}

/// Takes the server's SDP answer to `pending`.
pub fn accept_answer(
    rtc: &mut Rtc,
    pending: SdpPendingOffer,
    answer: &str,
) -> Result<(), SessionError> {
    let answer = SdpAnswer::from_sdp_string(answer).map_err(SessionError::negotiation)?;
    rtc.sdp_api()
        .accept_answer(pending, answer)
        .map_err(SessionError::negotiation)
}

/// The payload type of `codec` on `mid` that both sides agreed on.
pub fn payload_type(rtc: &Rtc, mid: Mid, codec: Codec) -> Result<Pt, SessionError> {
    let remote = rtc
        .media(mid)
        .map(|m| m.remote_pts().to_vec())
        .unwrap_or_default();
    rtc.codec_config()
        .find(|p| p.spec().codec == codec && remote.contains(&p.pt()))
        .map(|p| p.pt())
        .ok_or_else(|| SessionError::negotiation(format!("the answer has no {codec:?}")))
}
