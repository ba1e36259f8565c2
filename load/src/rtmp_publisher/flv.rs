//! FLV tag bodies for [`RtmpPublisher::video_tag`](super::RtmpPublisher::video_tag)
//! and [`RtmpPublisher::audio_tag`](super::RtmpPublisher::audio_tag) (FLV 10.1 Annex E.4; Enhanced RTMP v2).

/// The legacy video codec id of H.264.
pub const AVC: u8 = 7;
/// The legacy sound format of AAC.
pub const AAC: u8 = 10;

/// An AVC sequence header: a configuration record with one SPS and one
/// PPS, for access units with 4-byte NAL lengths.
pub fn avc_sequence_header(sps: &[u8], pps: &[u8]) -> Vec<u8> {
    let mut tag = vec![1 << 4 | AVC, 0, 0, 0, 0, 1];
    tag.extend_from_slice(sps.get(1..4).unwrap_or(&[0; 3]));
    tag.extend_from_slice(&[0xff, 0xe1]);
    sized(&mut tag, sps);
    tag.push(1);
    sized(&mut tag, pps);
    tag
}

/// An AVC access unit in AVCC form (see [`avcc`]), shown
/// `composition_time` ms after it is decoded (24 bits, signed).
pub fn avc_frame(keyframe: bool, composition_time: i32, avcc: &[u8]) -> Vec<u8> {
    let mut tag = vec![frame_type(keyframe) << 4 | AVC, 1];
    tag.extend_from_slice(&composition_time.to_be_bytes()[1..]);
    tag.extend_from_slice(avcc);
    tag
}

/// NAL units, each after its 4-byte length.
pub fn avcc(nal_units: &[&[u8]]) -> Vec<u8> {
    let mut data = Vec::new();
    for unit in nal_units {
        data.extend_from_slice(&u32::try_from(unit.len()).unwrap_or(u32::MAX).to_be_bytes());
        data.extend_from_slice(unit);
    }
    data
}

/// A legacy video tag with any codec id (low 4 bits), then `body`.
pub fn legacy_video(keyframe: bool, codec_id: u8, body: &[u8]) -> Vec<u8> {
    [&[frame_type(keyframe) << 4 | codec_id & 0x0f][..], body].concat()
}

/// An Enhanced RTMP video tag: packet type (0 SequenceStart,
/// 1 CodedFrames, ...), FourCC (`*b"hvc1"`, `*b"avc1"`, ...), then `body`.
pub fn enhanced_video(keyframe: bool, packet_type: u8, four_cc: [u8; 4], body: &[u8]) -> Vec<u8> {
    [
        &[0x80 | frame_type(keyframe) << 4 | packet_type & 0x0f][..],
        &four_cc,
        body,
    ]
    .concat()
}

/// An AAC sequence header carrying an AudioSpecificConfig.
pub fn aac_sequence_header(config: &[u8]) -> Vec<u8> {
    [&[AAC << 4 | 0x0f, 0][..], config].concat()
}

/// A raw AAC frame.
pub fn aac_frame(data: &[u8]) -> Vec<u8> {
    [&[AAC << 4 | 0x0f, 1][..], data].concat()
}

/// A legacy audio tag of any sound format (low 4 bits; 44 kHz, 16-bit,
/// stereo), then `body`.
pub fn legacy_audio(sound_format: u8, body: &[u8]) -> Vec<u8> {
    [&[(sound_format & 0x0f) << 4 | 0x0f][..], body].concat()
}

fn frame_type(keyframe: bool) -> u8 {
    if keyframe { 1 } else { 2 }
}

fn sized(tag: &mut Vec<u8>, parameter_set: &[u8]) {
    let length = u16::try_from(parameter_set.len()).unwrap_or(u16::MAX);
    tag.extend_from_slice(&length.to_be_bytes());
    tag.extend_from_slice(&parameter_set[..usize::from(length)]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_carry_their_codec_frame_type_and_composition_time() {
        let sps = [0x67, 0x42, 0xc0, 0x1e, 0xd9];
        let record = avc_sequence_header(&sps, &[0x68, 0xce]);
        assert_eq!(
            record,
            [
                0x17, 0, 0, 0, 0, 1, 0x42, 0xc0, 0x1e, 0xff, 0xe1, 0, 5, 0x67, 0x42, 0xc0, 0x1e,
                0xd9, 1, 0, 2, 0x68, 0xce
            ]
        );
        assert_eq!(avcc(&[&[0x65, 1]]), [0, 0, 0, 2, 0x65, 1]);
        assert_eq!(avc_frame(false, -33, &[5]), [0x27, 1, 0xff, 0xff, 0xdf, 5]);
        assert_eq!(legacy_video(true, 2, &[5]), [0x12, 5]);
        assert_eq!(
            enhanced_video(true, 0, *b"hvc1", &[]),
            [0x90, b'h', b'v', b'c', b'1']
        );
        assert_eq!(aac_sequence_header(&[0x12, 0x10]), [0xaf, 0, 0x12, 0x10]);
        assert_eq!(aac_frame(&[3]), [0xaf, 1, 3]);
        assert_eq!(legacy_audio(2, &[3]), [0x2f, 3]);
    }
}
