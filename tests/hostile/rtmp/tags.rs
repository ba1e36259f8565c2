//! RTMP cases with garbage FLV tags after a good publish: each is dropped
//! (the stream keeps going) or closes the connection, and which is fixed.

use waveguide::Node;
use waveguide_load::rtmp_publisher::flv;

use super::{AAC_CONFIG, Case, Check, IDR, PPS, SPS};

/// Seeded noise (xorshift32), the same on every run.
fn noise(seed: u32, length: usize) -> Vec<u8> {
    let mut state = seed;
    (0..length)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            state as u8
        })
        .collect()
}

/// One message a case sends.
enum Tag {
    Video(Vec<u8>),
    Audio(Vec<u8>),
}

/// Garbage FLV tags after a good publish: each is dropped (the stream
/// keeps going) or closes the connection; never a panic.
pub fn garbage_tags(node: &Node, check: &mut Check) {
    let (video, audio) = (Tag::Video, Tag::Audio);
    let avc_config = || video(flv::avc_sequence_header(&SPS, &PPS));
    let aac_config = || audio(flv::aac_sequence_header(&AAC_CONFIG));
    let noisy_frames = (0..64u32).map(|i| {
        let keyframe = i % 8 == 0;
        video(flv::avc_frame(
            keyframe,
            (i as i32 % 5) - 2,
            &noise(i + 1, 40 + i as usize * 13),
        ))
    });
    let noisy_aac = (0..64u32).map(|i| audio(flv::aac_frame(&noise(i + 100, 10 + i as usize * 7))));
    let noisy_tags = (0..64u32).map(|i| video(noise(i + 200, 1 + i as usize * 11)));
    let cases: Vec<(&str, Vec<Tag>, &str)> = vec![
        ("an empty video tag", vec![video(vec![])], "kept going"),
        ("a one-byte video tag", vec![video(vec![0x17])], "closed"),
        (
            "an AVC frame before any sequence header",
            vec![video(flv::avc_frame(true, 0, &flv::avcc(&[&IDR])))],
            "kept going",
        ),
        (
            "an AVC sequence header whose record is 0xff bytes",
            vec![video([&[0x17, 0, 0, 0, 0][..], &[0xff; 8]].concat())],
            "closed",
        ),
        (
            "AVC packet type 7",
            vec![video(vec![0x17, 7, 0, 0, 0])],
            "closed",
        ),
        (
            "an AVC frame whose NAL length runs past its end",
            vec![
                avc_config(),
                video(flv::avc_frame(true, 0, &[0, 0, 1, 0, 0x65])),
            ],
            "kept going",
        ),
        (
            "an AVC frame with a NAL length of 0",
            vec![avc_config(), video(flv::avc_frame(true, 0, &[0; 4]))],
            "kept going",
        ),
        (
            "64 AVC frames of seeded noise",
            std::iter::once(avc_config()).chain(noisy_frames).collect(),
            "kept going",
        ),
        (
            "64 video tags of seeded noise",
            noisy_tags.collect(),
            "NetStream.Publish.Rejected, closed",
        ),
        (
            "an Enhanced 'avc1' tag of packet type 15",
            vec![video(flv::enhanced_video(true, 15, *b"avc1", &[0; 4]))],
            "closed",
        ),
        ("a one-byte audio tag", vec![audio(vec![0xaf])], "closed"),
        (
            "an AAC sequence header of one byte",
            vec![audio(flv::aac_sequence_header(&[0x12]))],
            "closed",
        ),
        (
            "an AAC sequence header the decoder cannot use",
            vec![audio(flv::aac_sequence_header(&[0xff, 0xff]))],
            "kept going",
        ),
        (
            "64 AAC frames of seeded noise after a good config",
            std::iter::once(aac_config()).chain(noisy_aac).collect(),
            "kept going",
        ),
    ];
    for (index, (case, tags, expected)) in cases.into_iter().enumerate() {
        let channel = (50 + index).to_string();
        let mut run = Case::publishing(node, &channel);
        for (timestamp, tag) in (0..).step_by(33).zip(tags) {
            let _ = match tag {
                Tag::Video(tag) => run.client.video_tag(timestamp, &tag),
                Tag::Audio(tag) => run.client.audio_tag(timestamp, &tag),
            };
        }
        check(
            &format!("after a good publish, {case}"),
            run.goes_on(node, &channel),
            expected,
        );
    }
}
