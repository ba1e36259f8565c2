//! Our answers to the offers real clients send, kept as SDP fixtures written
//! for the project (tests/data): OBS (libdatachannel) and GStreamer whipsink
//! publishing over WHIP, Firefox and Chromium watching over WHEP.

#![allow(
    clippy::unwrap_used,
    reason = "a failed unwrap in a test is a failed test"
)]

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use codec::h264::Sps;
use engine::internals::{PacketRing, Publisher, RingWriter, Viewer};
use engine::{Stream, ViewerError};
use str0m::{Rtc, RtcConfig};

const CANDIDATE: &str = "192.0.2.1:8200";

fn fixture(name: &str) -> String {
    std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data")
            .join(name),
    )
    .unwrap()
}

fn base() -> RtcConfig {
    Rtc::builder().set_ice_lite(true).set_rtp_mode(true)
}

/// A stream with both rings, and an SPS of the given profile-level-id.
fn stream(profile_level_id: Option<[u8; 3]>) -> (Arc<Stream>, RingWriter, RingWriter) {
    let origin = Instant::now();
    let (video_writer, video) = PacketRing::new(64, origin);
    let (audio_writer, audio) = PacketRing::new(64, origin);
    let stream = Arc::new(Stream::new(1, "123".into(), Some(video), Some(audio)));
    if let Some([profile_idc, constraint_flags, level_idc]) = profile_level_id {
        stream.set_sps(Sps {
            profile_idc,
            constraint_flags,
            level_idc,
            width: 1280,
            height: 720,
        });
    }
    (stream, video_writer, audio_writer)
}

/// The m-section of `kind` in an SDP: its payload types, direction and fmtp lines.
struct Section {
    payload_types: Vec<String>,
    direction: String,
    lines: Vec<String>,
}

fn section(sdp: &str, kind: &str) -> Section {
    let mut found = None::<Section>;
    for line in sdp.lines() {
        if let Some(media) = line.strip_prefix("m=") {
            if found.is_some() {
                break;
            }
            if media.starts_with(kind) {
                found = Some(Section {
                    payload_types: media.split(' ').skip(3).map(str::to_owned).collect(),
                    direction: String::new(),
                    lines: Vec::new(),
                });
            }
        } else if let Some(section) = found.as_mut() {
            if ["a=sendonly", "a=recvonly", "a=sendrecv", "a=inactive"].contains(&line) {
                section.direction = line[2..].to_owned();
            }
            section.lines.push(line.to_owned());
        }
    }
    found.unwrap_or_else(|| panic!("no m={kind} in {sdp}"))
}

impl Section {
    fn fmtp(&self, pt: &str) -> String {
        let prefix = format!("a=fmtp:{pt} ");
        self.lines
            .iter()
            .find_map(|l| l.strip_prefix(&prefix))
            .unwrap_or_default()
            .to_owned()
    }

    fn rtpmap(&self, pt: &str) -> String {
        let prefix = format!("a=rtpmap:{pt} ");
        self.lines
            .iter()
            .find_map(|l| l.strip_prefix(&prefix))
            .unwrap_or_default()
            .to_owned()
    }

    /// The payload types mapped to `codec` (case-insensitive), in order.
    fn codec(&self, codec: &str) -> Vec<String> {
        self.payload_types
            .iter()
            .filter(|pt| {
                self.rtpmap(pt)
                    .to_ascii_lowercase()
                    .starts_with(&codec.to_ascii_lowercase())
            })
            .cloned()
            .collect()
    }
}

fn publish(offer: &str) -> Result<String, ViewerError> {
    let (stream, video, audio) = stream(None);
    let candidate: SocketAddr = CANDIDATE.parse().unwrap();
    Publisher::answer(
        Instant::now(),
        &base(),
        "wg0g0".into(),
        candidate,
        stream,
        (Some(video), Some(audio)),
        offer,
    )
    .map(|(_, answer)| answer)
}

fn watch(offer: &str, profile_level_id: [u8; 3]) -> Result<String, ViewerError> {
    let (stream, _, _) = stream(Some(profile_level_id));
    let candidate: SocketAddr = CANDIDATE.parse().unwrap();
    Viewer::answer(
        Instant::now(),
        &base(),
        "wg0g0".into(),
        candidate,
        stream,
        offer,
    )
    .map(|(_, answer)| answer)
}

#[test]
fn obs_whip_offer_audio_first_with_ssrc_lines() {
    let answer = publish(&fixture("obs-whip-libdatachannel.sdp")).unwrap();
    let video = section(&answer, "video");
    assert_eq!(video.direction, "recvonly");
    assert_eq!(
        video.codec("H264"),
        vec!["96"],
        "the publisher's own payload type"
    );
    assert!(video.fmtp("96").contains("packetization-mode=1"));
    assert!(video.fmtp("96").contains("profile-level-id=42e01f"));
    let audio = section(&answer, "audio");
    assert_eq!(audio.direction, "recvonly");
    assert_eq!(audio.codec("opus"), vec!["111"]);
    assert!(answer.contains("a=candidate:") && answer.contains("192.0.2.1 8200 typ host"));
    assert!(answer.contains("a=setup:passive"));
    assert!(answer.contains("a=ice-lite"));
}

#[test]
fn gstreamer_whipsink_high_profile_is_taken() {
    let answer = publish(&fixture("gstreamer-whipsink-high-640028.sdp")).unwrap();
    let video = section(&answer, "video");
    assert_eq!(video.direction, "recvonly");
    assert_eq!(video.codec("H264"), vec!["96"]);
    assert!(
        video.fmtp("96").contains("profile-level-id=64"),
        "High profile: {}",
        video.fmtp("96")
    );
    assert!(video.fmtp("96").contains("packetization-mode=1"));
    assert_eq!(section(&answer, "audio").codec("opus"), vec!["111"]);
}

#[test]
fn a_publisher_without_h264_is_refused() {
    let offer = fixture("obs-whip-libdatachannel.sdp")
        .replace("H264/90000", "VP8/90000")
        .replace(
            "a=fmtp:96 profile-level-id=42e01f;packetization-mode=1;level-asymmetry-allowed=1\r\n",
            "",
        );
    assert!(matches!(publish(&offer), Err(ViewerError::NoH264ToPublish)));
}

#[test]
fn firefox_whep_offer_gets_h264_packetization_mode_1() {
    let answer = watch(&fixture("firefox-whep-recvonly.sdp"), [0x42, 0xe0, 0x1f]).unwrap();
    let video = section(&answer, "video");
    assert_eq!(video.direction, "sendonly");
    assert_eq!(
        video.codec("H264"),
        vec!["126"],
        "pm1, not Firefox's pm0 payload type 97"
    );
    assert!(video.codec("VP8").is_empty());
    assert_eq!(section(&answer, "audio").codec("opus"), vec!["109"]);
}

#[test]
fn chromium_whep_offer_is_matched_to_the_stream_profile() {
    let offer = fixture("chromium-whep-recvonly.sdp");
    // A constrained-baseline encoder (x264's baseline SPS says 42c0).
    let answer = watch(&offer, [0x42, 0xc0, 0x1e]).unwrap();
    let video = section(&answer, "video");
    assert_eq!(video.direction, "sendonly");
    let h264 = video.codec("H264");
    assert_eq!(h264.len(), 1, "one H.264 payload type: {h264:?}");
    assert!(video.fmtp(&h264[0]).contains("packetization-mode=1"));
    assert!(
        ["102", "106"].contains(&h264[0].as_str()),
        "a baseline payload type: {h264:?}"
    );
    // A High-profile encoder (OBS's default) gets Chromium's High payload type.
    let answer = watch(&offer, [0x64, 0x00, 0x28]).unwrap();
    assert_eq!(section(&answer, "video").codec("H264"), vec!["112"]);
    assert_eq!(section(&answer, "audio").codec("opus"), vec!["111"]);
}

#[test]
fn a_viewer_that_cannot_take_the_stream_profile_is_refused() {
    // Firefox offers only baseline H.264; a High-profile stream cannot go to it.
    let refused = watch(&fixture("firefox-whep-recvonly.sdp"), [0x64, 0x00, 0x28]);
    assert!(
        matches!(refused, Err(ViewerError::NoH264(0x640028))),
        "{refused:?}"
    );
}

#[test]
fn a_simulcast_publisher_is_refused() {
    let offer = fixture("obs-whip-libdatachannel.sdp").replace(
        "a=mid:1\r\na=sendonly\r\n",
        "a=mid:1\r\na=sendonly\r\na=rid:h send\r\na=rid:l send\r\na=simulcast:send h;l\r\n",
    );
    assert!(offer.contains("a=simulcast:send h;l"));
    let result = publish(&offer);
    assert!(matches!(result, Err(ViewerError::Simulcast)), "{result:?}");
}
