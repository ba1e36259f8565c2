//! SDP offers at Waveguide's boundary: what a WHEP viewer's and a WHIP
//! publisher's POST bodies reach (`Viewer::answer`, `Publisher::answer`,
//! and so str0m's SDP parser and negotiation), on arbitrary text. Any
//! outcome but a panic is fine: a refused offer is an HTTP 4xx.
#![no_main]

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use engine::Stream;
use engine::internals::{PacketRing, Publisher, Viewer};
use str0m::RtcConfig;

/// One DTLS certificate for every run, as a worker shares one.
fn base() -> &'static RtcConfig {
    static BASE: OnceLock<RtcConfig> = OnceLock::new();
    BASE.get_or_init(|| {
        let provider = str0m::crypto::from_feature_flags();
        let certificate = provider.dtls_provider.generate_certificate();
        let mut config = str0m::Rtc::builder()
            .set_crypto_provider(Arc::new(provider))
            .set_ice_lite(true)
            .set_rtp_mode(true);
        if let Some(certificate) = certificate {
            config = config.set_dtls_cert(certificate);
        }
        config
    })
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Ok(offer) = std::str::from_utf8(data) else {
        return;
    };
    let now = Instant::now();
    let candidate = SocketAddr::from(([127, 0, 0, 1], 8200));
    let (_, video) = PacketRing::new(64, now);
    let (_, audio) = PacketRing::new(64, now);
    let watched = Arc::new(Stream::new(1, "fuzz".into(), Some(video), Some(audio)));
    let _ = Viewer::answer(now, base(), "wg1g0".into(), candidate, watched, offer);
    let (video_writer, video) = PacketRing::new(64, now);
    let (audio_writer, audio) = PacketRing::new(64, now);
    let published = Arc::new(Stream::new(2, "fuzz".into(), Some(video), Some(audio)));
    let _ = Publisher::answer(
        now,
        base(),
        "wg2g0".into(),
        candidate,
        published,
        (Some(video_writer), Some(audio_writer)),
        offer,
    );
});
