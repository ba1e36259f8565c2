//! Test media: the shipped H.264 clip and Opus file, split and packetized
//! by the load tool's `media` module (ftl-sdk's packetization, FTL-SPEC
//! §4.2), as the packets the tests send.

use std::path::PathBuf;

use waveguide_load::media::Clip;

/// One RTP packet the publisher sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaPacket {
    pub timestamp: u32,
    pub marker: bool,
    pub payload: Vec<u8>,
    /// The packet starts a keyframe (it is the SPS of an IDR access unit).
    pub keyframe_start: bool,
}

fn data(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The shipped clip, split and packetized.
pub fn clip() -> Clip {
    Clip::parse(
        &data("testsrc-320x240-30fps-baseline-gop30.h264"),
        &data("sine-440hz-48k-20ms.opus"),
    )
    .unwrap()
}

/// The shipped clip (320x240, 30 fps, baseline, a keyframe every 30 frames,
/// two slices per frame) as RTP packets, 3000 ticks of 90 kHz per frame.
pub fn h264_clip() -> Vec<MediaPacket> {
    clip()
        .video
        .into_iter()
        .map(|packet| MediaPacket {
            timestamp: packet.frame * 3000,
            marker: packet.marker,
            keyframe_start: packet.payload[0] & 0x1f == 7,
            payload: packet.payload,
        })
        .collect()
}

/// The Opus packets of the shipped Ogg file (20 ms each), without the
/// OpusHead and OpusTags header packets.
pub fn opus_packets() -> Vec<Vec<u8>> {
    clip().audio
}
