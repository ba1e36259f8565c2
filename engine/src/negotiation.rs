//! What every peer's `Rtc` is built from and how its SDP is read: the
//! shared base configuration (one DTLS certificate), the local candidates,
//! and the offer/answer helpers viewers, publishers and relays share.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use str0m::change::{SdpAnswer, SdpPendingOffer};
use str0m::media::Mid;
use str0m::{Candidate, IceCreds, Rtc, RtcConfig};

use crate::error::ViewerError;
use crate::stream::TrackKind;

/// The `RtcConfig` every peer starts from: ICE-lite, RTP mode, and one DTLS
/// certificate shared by all (a new one per peer costs ~28 ms).
#[derive(Clone)]
pub struct RtcBase {
    config: RtcConfig,
}

impl RtcBase {
    /// A base with a fresh DTLS certificate.
    pub fn new() -> io::Result<Self> {
        let provider = str0m::crypto::from_feature_flags();
        let certificate = provider
            .dtls_provider
            .generate_certificate()
            .ok_or_else(|| io::Error::other("could not generate a DTLS certificate"))?;
        let config = str0m::Rtc::builder()
            .set_crypto_provider(Arc::new(provider))
            .set_dtls_cert(certificate)
            .set_ice_lite(true)
            .set_rtp_mode(true);
        Ok(Self { config })
    }

    /// The configuration itself.
    pub fn config(&self) -> &RtcConfig {
        &self.config
    }
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

#[cfg(test)]
mod tests {
    use super::*;

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
