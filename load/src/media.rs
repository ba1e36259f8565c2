//! The media a synthetic publisher sends: an H.264 Annex B file split into
//! frames and packetized the way ftl-sdk does (FTL-SPEC §4.2), and an Ogg
//! Opus file split into its 20 ms packets.

/// RTP ticks per second of H.264 video.
pub const VIDEO_CLOCK: u32 = 90_000;
/// RTP ticks of one 20 ms Opus packet at 48 kHz.
pub const AUDIO_TICKS: u32 = 960;
/// Largest NAL unit sent whole; larger ones become FU-A fragments.
const SINGLE_NAL_MAX: usize = 1380;
/// FU-A fragment body size.
const FRAGMENT: usize = 1378;

/// One RTP payload of the video track.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VideoPacket {
    /// Index of the frame it belongs to.
    pub frame: u32,
    /// The last packet of its frame.
    pub marker: bool,
    /// The payload: a NAL unit or an FU-A fragment.
    pub payload: Vec<u8>,
}

/// Why a media file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    /// The H.264 file holds no slice.
    #[error("no H.264 frames in the video file (an Annex B byte stream is expected)")]
    NoVideoFrames,
    /// The Ogg file holds no Opus packet.
    #[error("no Opus packets in the audio file (an Ogg Opus file is expected)")]
    NoAudioPackets,
}

/// A clip: video packets in send order and audio packets.
#[derive(Debug, Clone)]
pub struct Clip {
    /// Video packets, frame by frame.
    pub video: Vec<VideoPacket>,
    /// Number of video frames.
    pub frames: u32,
    /// Opus packets, 20 ms each.
    pub audio: Vec<Vec<u8>>,
}

impl Clip {
    /// Parses an Annex B H.264 stream and an Ogg Opus file.
    pub fn parse(h264: &[u8], ogg_opus: &[u8]) -> Result<Self, MediaError> {
        let frames = frames(h264);
        if frames.is_empty() {
            return Err(MediaError::NoVideoFrames);
        }
        let mut video = Vec::new();
        for (index, frame) in frames.iter().enumerate() {
            for (n, nal) in frame.iter().enumerate() {
                packetize(nal, index as u32, n + 1 == frame.len(), &mut video);
            }
        }
        let audio = opus_packets(ogg_opus);
        if audio.is_empty() {
            return Err(MediaError::NoAudioPackets);
        }
        Ok(Self {
            video,
            frames: frames.len() as u32,
            audio,
        })
    }
}

/// NAL units of an Annex B byte stream, start codes removed.
pub fn nal_units(stream: &[u8]) -> Vec<&[u8]> {
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
        .filter(|nal| !nal.is_empty())
        .collect()
}

/// Groups NAL units into frames: the non-VCL units before a frame's first
/// slice (first_mb_in_slice 0, the first header bit set) belong to it.
fn frames(stream: &[u8]) -> Vec<Vec<&[u8]>> {
    let mut frames: Vec<Vec<&[u8]>> = Vec::new();
    let mut pending: Vec<&[u8]> = Vec::new();
    for nal in nal_units(stream) {
        let kind = nal[0] & 0x1f;
        let vcl = kind == 1 || kind == 5;
        let first_slice = nal.get(1).is_some_and(|b| b & 0x80 != 0);
        if vcl && first_slice {
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
    frames
}

/// ftl-sdk's packetization: a NAL of up to 1380 bytes is one packet, larger
/// ones are FU-A fragments; the marker goes on the frame's last packet.
fn packetize(nal: &[u8], frame: u32, last_of_frame: bool, out: &mut Vec<VideoPacket>) {
    if nal.len() <= SINGLE_NAL_MAX {
        out.push(VideoPacket {
            frame,
            marker: last_of_frame,
            payload: nal.to_vec(),
        });
        return;
    }
    let indicator = (nal[0] & 0x60) | 28;
    let kind = nal[0] & 0x1f;
    let chunks: Vec<&[u8]> = nal[1..].chunks(FRAGMENT).collect();
    for (i, chunk) in chunks.iter().enumerate() {
        let start = i == 0;
        let end = i + 1 == chunks.len();
        let mut payload = Vec::with_capacity(chunk.len() + 2);
        payload.push(indicator);
        payload.push((u8::from(start) << 7) | (u8::from(end) << 6) | kind);
        payload.extend_from_slice(chunk);
        out.push(VideoPacket {
            frame,
            marker: end && last_of_frame,
            payload,
        });
    }
}

/// The Opus packets of an Ogg file, without the OpusHead and OpusTags headers.
fn opus_packets(ogg: &[u8]) -> Vec<Vec<u8>> {
    let mut packets = Vec::new();
    let mut partial = Vec::new();
    let mut at = 0;
    while let Some(page) = ogg.get(at..)
        && page.len() >= 27
        && page.starts_with(b"OggS")
    {
        let segments = usize::from(page[26]);
        let Some(table) = page.get(27..27 + segments) else {
            break;
        };
        let mut body = 27 + segments;
        for &lacing in table {
            let Some(segment) = page.get(body..body + usize::from(lacing)) else {
                return packets;
            };
            partial.extend_from_slice(segment);
            body += usize::from(lacing);
            if lacing < 255 {
                packets.push(std::mem::take(&mut partial));
            }
        }
        at += body;
    }
    packets.retain(|p| !p.starts_with(b"OpusHead") && !p.starts_with(b"OpusTags"));
    packets
}

/// An RTP packet's bytes: version 2, no padding, extension or CSRCs.
pub fn rtp(
    payload_type: u8,
    marker: bool,
    sequence: u16,
    timestamp: u32,
    ssrc: u32,
    payload: &[u8],
) -> Vec<u8> {
    let mut packet = Vec::with_capacity(12 + payload.len());
    packet.push(0x80);
    packet.push((u8::from(marker) << 7) | payload_type);
    packet.extend_from_slice(&sequence.to_be_bytes());
    packet.extend_from_slice(&timestamp.to_be_bytes());
    packet.extend_from_slice(&ssrc.to_be_bytes());
    packet.extend_from_slice(payload);
    packet
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn large_nal_units_become_fu_a_fragments_with_one_marker() {
        let mut nal = vec![0x65];
        nal.extend(std::iter::repeat_n(7u8, 3000));
        let mut out = Vec::new();
        packetize(&nal, 4, true, &mut out);
        assert_eq!(out.len(), 3);
        assert_eq!(out[0].payload[..2], [0x7c, 0x85]);
        assert_eq!(out[2].payload[1], 0x45);
        assert_eq!(out.iter().filter(|p| p.marker).count(), 1);
        let body: usize = out.iter().map(|p| p.payload.len() - 2).sum();
        assert_eq!(body, 3000);
    }

    #[test]
    fn parameter_sets_join_the_next_frame() {
        let stream = [
            &[0, 0, 0, 1, 0x67, 0x42][..],
            &[0, 0, 1, 0x68, 0xce],
            &[0, 0, 1, 0x65, 0x88, 1],
            &[0, 0, 1, 0x41, 0x9a, 2],
        ]
        .concat();
        let frames = frames(&stream);
        assert_eq!(frames.len(), 2);
        assert_eq!(frames[0].len(), 3);
        assert_eq!(frames[1], vec![&[0x41, 0x9a, 2][..]]);
    }

    #[test]
    fn garbage_files_are_refused() {
        assert!(matches!(
            Clip::parse(b"not h264", b""),
            Err(MediaError::NoVideoFrames)
        ));
    }
}
