//! FLV video tags (FLV 10.1 Annex E.4.3.1, Enhanced RTMP v2 "ExVideoTagHeader")
//! read with scuffle-flv into [`VideoTag`]s: H.264 only, legacy or 'avc1'.
//! Sequence headers' records are read by `avc_record.rs`.

use std::io::Cursor;

use bytes::Bytes;
use scuffle_flv::error::FlvError;
use scuffle_flv::video::body::VideoTagBody;
use scuffle_flv::video::body::enhanced::{ExVideoTagBody, VideoPacket, VideoPacketCodedFrames};
use scuffle_flv::video::header::enhanced::{ExVideoTagHeaderContent, VideoFourCc, VideoPacketType};
use scuffle_flv::video::header::legacy::{LegacyVideoTagHeader, LegacyVideoTagHeaderAvcPacket};
use scuffle_flv::video::header::{VideoFrameType, VideoTagHeader, VideoTagHeaderData};

use crate::codec_name::{four_cc_name, legacy_video_name};
use crate::error::{SessionError, TagError};
use crate::event::VideoTag;
use crate::{avc_record, mod_ex};

/// Reads one video message. `None` for what a publisher may send that we do
/// not need: an empty message, a video command frame, Enhanced metadata.
pub fn parse(payload: &Bytes) -> Result<Option<VideoTag>, SessionError> {
    let Some(&first) = payload.first() else {
        return Ok(None);
    };
    if first & 0x80 != 0 {
        mod_ex::check(payload).map_err(SessionError::MalformedVideoTag)?;
    }
    let mut cursor = Cursor::new(payload.clone());
    let header = VideoTagHeader::demux(&mut cursor).map_err(malformed)?;
    let keyframe = header.frame_type == VideoFrameType::KeyFrame;
    match &header.data {
        VideoTagHeaderData::Legacy(LegacyVideoTagHeader::VideoCommand(_)) => Ok(None),
        VideoTagHeaderData::Legacy(LegacyVideoTagHeader::Other { video_codec_id }) => Err(
            SessionError::UnsupportedVideoCodec(legacy_video_name(video_codec_id.0)),
        ),
        VideoTagHeaderData::Legacy(LegacyVideoTagHeader::AvcPacket(packet)) => match packet {
            LegacyVideoTagHeaderAvcPacket::SequenceHeader => avc_config(&rest(payload, &cursor)),
            LegacyVideoTagHeaderAvcPacket::Nalu {
                composition_time_offset,
            } => Ok(Some(VideoTag::AvcFrame {
                keyframe,
                composition_time: sign_extend_24(*composition_time_offset),
                data: rest(payload, &cursor),
            })),
            LegacyVideoTagHeaderAvcPacket::EndOfSequence => Ok(Some(VideoTag::EndOfSequence)),
            LegacyVideoTagHeaderAvcPacket::Unknown {
                avc_packet_type, ..
            } => Err(SessionError::MalformedVideoTag(
                TagError::UnknownPacketType(avc_packet_type.0),
            )),
        },
        VideoTagHeaderData::Enhanced(enhanced) => match &enhanced.content {
            ExVideoTagHeaderContent::VideoCommand(_) => Ok(None),
            ExVideoTagHeaderContent::NoMultiTrack(VideoFourCc::Avc) => {
                match enhanced.video_packet_type {
                    // Colour metadata; scuffle-flv would read its AMF0 unbounded.
                    VideoPacketType::Metadata | VideoPacketType::Mpeg2TsSequenceStart => Ok(None),
                    VideoPacketType::SequenceEnd => Ok(Some(VideoTag::EndOfSequence)),
                    VideoPacketType::SequenceStart => avc_config(&rest(payload, &cursor)),
                    VideoPacketType::CodedFrames | VideoPacketType::CodedFramesX => {
                        enhanced_frame(keyframe, header, &mut cursor)
                    }
                    other => Err(SessionError::MalformedVideoTag(
                        TagError::UnknownPacketType(other.0),
                    )),
                }
            }
            ExVideoTagHeaderContent::NoMultiTrack(four_cc) => {
                Err(SessionError::UnsupportedVideoCodec(four_cc_name(four_cc.0)))
            }
            _ => Err(SessionError::UnsupportedVideoCodec(
                "multitrack video (Enhanced RTMP)".to_owned(),
            )),
        },
    }
}

/// An 'avc1' CodedFrames or CodedFramesX body.
fn enhanced_frame(
    keyframe: bool,
    header: VideoTagHeader,
    cursor: &mut Cursor<Bytes>,
) -> Result<Option<VideoTag>, SessionError> {
    let VideoTagBody::Enhanced(ExVideoTagBody::NoMultitrack { packet, .. }) =
        VideoTagBody::demux(&header, cursor).map_err(malformed)?
    else {
        return Ok(None);
    };
    match packet {
        VideoPacket::CodedFrames(VideoPacketCodedFrames::Avc {
            composition_time_offset,
            data,
        }) => Ok(Some(VideoTag::AvcFrame {
            keyframe,
            composition_time: composition_time_offset,
            data,
        })),
        VideoPacket::CodedFramesX { data } => Ok(Some(VideoTag::AvcFrame {
            keyframe,
            composition_time: 0,
            data,
        })),
        _ => Ok(None),
    }
}

/// An AVC sequence header's record.
fn avc_config(record: &[u8]) -> Result<Option<VideoTag>, SessionError> {
    avc_record::parse(record)
        .map(|config| Some(VideoTag::AvcConfig(config)))
        .map_err(SessionError::MalformedVideoTag)
}

/// The payload from the cursor's position on.
fn rest(payload: &Bytes, cursor: &Cursor<Bytes>) -> Bytes {
    let start =
        usize::try_from(cursor.position()).map_or(payload.len(), |at| at.min(payload.len()));
    payload.slice(start..)
}

/// FLV's composition time is a signed 24-bit number.
fn sign_extend_24(value: u32) -> i32 {
    let shifted = (value << 8) as i32;
    shifted >> 8
}

fn malformed(error: FlvError) -> SessionError {
    SessionError::MalformedVideoTag(TagError::Flv(error))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn composition_times_are_signed() {
        assert_eq!(sign_extend_24(0x00_0021), 33);
        assert_eq!(sign_extend_24(0xff_ffdf), -33);
        assert_eq!(sign_extend_24(0x80_0000), -0x80_0000);
    }
}
