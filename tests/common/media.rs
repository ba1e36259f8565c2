//! Test media: the shipped H.264 clip split into access units and packetized
//! the way ftl-sdk does (FTL-SPEC §4.2), and the shipped Opus file's packets.

use std::path::PathBuf;

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

/// NAL units of an Annex B byte stream, start codes removed.
fn nal_units(stream: &[u8]) -> Vec<&[u8]> {
    let mut starts = Vec::new();
    let mut i = 0;
    while i + 3 <= stream.len() {
        if stream[i..i + 3] == [0, 0, 1] {
            starts.push(i + 3);
            i += 3;
        } else {
            i += 1;
        }
    }
    starts
        .iter()
        .enumerate()
        .map(|(n, &start)| {
            let mut end = starts.get(n + 1).map_or(stream.len(), |&next| next - 3);
            while end > start && stream[end - 1] == 0 {
                end -= 1;
            }
            &stream[start..end]
        })
        .collect()
}

/// ftl-sdk's packetization: a NAL ≤ 1380 bytes is one packet, larger ones are
/// FU-A fragments of 1378 bytes; the marker is on the last packet of a frame.
fn packetize(nal: &[u8], timestamp: u32, last_of_frame: bool, out: &mut Vec<MediaPacket>) {
    let keyframe_start = nal[0] & 0x1f == 7;
    if nal.len() <= 1380 {
        out.push(MediaPacket {
            timestamp,
            marker: last_of_frame,
            payload: nal.to_vec(),
            keyframe_start,
        });
        return;
    }
    let indicator = (nal[0] & 0x60) | 28;
    let kind = nal[0] & 0x1f;
    let chunks: Vec<&[u8]> = nal[1..].chunks(1378).collect();
    for (i, chunk) in chunks.iter().enumerate() {
        let start = i == 0;
        let end = i == chunks.len() - 1;
        let mut payload = vec![
            indicator,
            (u8::from(start) << 7) | (u8::from(end) << 6) | kind,
        ];
        payload.extend_from_slice(chunk);
        out.push(MediaPacket {
            timestamp,
            marker: end && last_of_frame,
            payload,
            keyframe_start: false,
        });
    }
}

/// The shipped clip (320x240, 30 fps, baseline, a keyframe every 30 frames,
/// two slices per frame) as RTP packets, 3000 ticks of 90 kHz per frame.
pub fn h264_clip() -> Vec<MediaPacket> {
    let stream = data("testsrc-320x240-30fps-baseline-gop30.h264");
    let nals = nal_units(&stream);
    // A frame is the non-VCL NALs before its slices plus the slices; a slice
    // with first_mb_in_slice == 0 (first bit of the slice header set) starts one.
    let mut frames: Vec<Vec<&[u8]>> = Vec::new();
    let mut pending: Vec<&[u8]> = Vec::new();
    for nal in nals {
        let kind = nal[0] & 0x1f;
        let vcl = kind == 1 || kind == 5;
        if vcl && nal[1] & 0x80 != 0 {
            let mut frame = std::mem::take(&mut pending);
            frame.push(nal);
            frames.push(frame);
        } else if vcl {
            if let Some(frame) = frames.last_mut() {
                frame.push(nal);
            }
        } else {
            pending.push(nal);
        }
    }
    let mut packets = Vec::new();
    for (index, frame) in frames.iter().enumerate() {
        let timestamp = (index as u32) * 3000;
        for (n, nal) in frame.iter().enumerate() {
            packetize(nal, timestamp, n == frame.len() - 1, &mut packets);
        }
    }
    packets
}

/// The Opus packets of the shipped Ogg file (20 ms each), without the
/// OpusHead and OpusTags header packets.
pub fn opus_packets() -> Vec<Vec<u8>> {
    let ogg = data("sine-440hz-48k-20ms.opus");
    let mut packets = Vec::new();
    let mut partial = Vec::new();
    let mut at = 0;
    while at + 27 <= ogg.len() && &ogg[at..at + 4] == b"OggS" {
        let segments = usize::from(ogg[at + 26]);
        let table = &ogg[at + 27..at + 27 + segments];
        let mut body = at + 27 + segments;
        for &lacing in table {
            partial.extend_from_slice(&ogg[body..body + usize::from(lacing)]);
            body += usize::from(lacing);
            if lacing < 255 {
                packets.push(std::mem::take(&mut partial));
            }
        }
        at = body;
    }
    packets.retain(|p| !p.starts_with(b"OpusHead") && !p.starts_with(b"OpusTags"));
    packets
}

/// An RTP packet's bytes.
pub fn rtp(
    payload_type: u8,
    marker: bool,
    sequence: u16,
    timestamp: u32,
    ssrc: u32,
    payload: &[u8],
) -> Vec<u8> {
    let mut packet = vec![0x80, (u8::from(marker) << 7) | payload_type];
    packet.extend_from_slice(&sequence.to_be_bytes());
    packet.extend_from_slice(&timestamp.to_be_bytes());
    packet.extend_from_slice(&ssrc.to_be_bytes());
    packet.extend_from_slice(payload);
    packet
}
