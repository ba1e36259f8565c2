//! FLV audio tags (FLV 10.1 Annex E.4.2.1, Enhanced RTMP v2
//! "ExAudioTagHeader") read with scuffle-flv into [`AudioTag`]s: AAC, legacy
//! or 'mp4a', and 'Opus'.

use std::io::Cursor;

use bytes::Bytes;
use scuffle_flv::audio::body::AudioTagBody;
use scuffle_flv::audio::body::enhanced::{AudioPacket, ExAudioTagBody};
use scuffle_flv::audio::body::legacy::LegacyAudioTagBody;
use scuffle_flv::audio::body::legacy::aac::AacAudioData;
use scuffle_flv::audio::header::AudioTagHeader;
use scuffle_flv::audio::header::enhanced::{AudioFourCc, AudioPacketType, ExAudioTagHeaderContent};
use scuffle_flv::audio::header::legacy::SoundFormat;
use scuffle_flv::error::FlvError;

use crate::codec_name::{four_cc_name, legacy_audio_name};
use crate::error::{SessionError, TagError};
use crate::event::AudioTag;
use crate::mod_ex;

/// The sound format that says an Enhanced RTMP header follows.
const EX_HEADER: u8 = 9;
/// An AudioSpecificConfig is at least two bytes (ISO/IEC 14496-3 §1.6.2.1).
const MIN_AAC_CONFIG: usize = 2;

/// Reads one audio message. `None` for what we do not need: an empty
/// message, a sequence end, a multichannel configuration.
pub fn parse(payload: &Bytes) -> Result<Option<AudioTag>, SessionError> {
    let Some(&first) = payload.first() else {
        return Ok(None);
    };
    if first >> 4 == EX_HEADER {
        mod_ex::check(payload).map_err(SessionError::MalformedAudioTag)?;
    }
    let mut cursor = Cursor::new(payload.clone());
    let header = AudioTagHeader::demux(&mut cursor).map_err(malformed)?;
    let codec = match &header {
        AudioTagHeader::Legacy(legacy) if legacy.sound_format == SoundFormat::Aac => Codec::Aac,
        AudioTagHeader::Legacy(legacy) => {
            return Err(SessionError::UnsupportedAudioCodec(legacy_audio_name(
                legacy.sound_format.0,
            )));
        }
        AudioTagHeader::Enhanced(enhanced) => {
            let codec = match &enhanced.content {
                ExAudioTagHeaderContent::NoMultiTrack(AudioFourCc::Aac) => Codec::Aac,
                ExAudioTagHeaderContent::NoMultiTrack(AudioFourCc::Opus) => Codec::Opus,
                ExAudioTagHeaderContent::NoMultiTrack(four_cc) => {
                    return Err(SessionError::UnsupportedAudioCodec(four_cc_name(four_cc.0)));
                }
                _ => {
                    return Err(SessionError::UnsupportedAudioCodec(
                        "multitrack audio (Enhanced RTMP)".to_owned(),
                    ));
                }
            };
            match enhanced.audio_packet_type {
                AudioPacketType::SequenceStart | AudioPacketType::CodedFrames => codec,
                AudioPacketType::SequenceEnd | AudioPacketType::MultichannelConfig => {
                    return Ok(None);
                }
                other => {
                    return Err(SessionError::MalformedAudioTag(
                        TagError::UnknownPacketType(other.0),
                    ));
                }
            }
        }
    };
    let body =
        AudioTagBody::demux(&header, &mut cursor).map_err(|error| malformed(error.into()))?;
    let (config, data) = match body {
        AudioTagBody::Legacy(LegacyAudioTagBody::Aac(AacAudioData::SequenceHeader(data))) => {
            (true, data)
        }
        AudioTagBody::Legacy(LegacyAudioTagBody::Aac(AacAudioData::Raw(data))) => (false, data),
        AudioTagBody::Legacy(LegacyAudioTagBody::Aac(AacAudioData::Unknown {
            aac_packet_type,
            ..
        })) => {
            return Err(SessionError::MalformedAudioTag(
                TagError::UnknownPacketType(aac_packet_type.0),
            ));
        }
        AudioTagBody::Enhanced(ExAudioTagBody::NoMultitrack { packet, .. }) => match packet {
            AudioPacket::SequenceStart { header_data } => (true, header_data),
            AudioPacket::CodedFrames { data } => (false, data),
            _ => return Ok(None),
        },
        _ => return Ok(None),
    };
    Ok(Some(match (codec, config) {
        (Codec::Aac, true) => {
            if data.len() < MIN_AAC_CONFIG {
                return Err(SessionError::MalformedAudioTag(TagError::ShortAacConfig(
                    data.len(),
                )));
            }
            // Copied: it lives as long as the stream and would pin the message's buffer.
            AudioTag::AacConfig(Bytes::copy_from_slice(&data))
        }
        (Codec::Aac, false) => AudioTag::AacFrame(data),
        (Codec::Opus, true) => AudioTag::OpusConfig(Bytes::copy_from_slice(&data)),
        (Codec::Opus, false) => AudioTag::OpusFrame(data),
    }))
}

/// The codecs we take.
#[derive(Clone, Copy)]
enum Codec {
    Aac,
    Opus,
}

fn malformed(error: FlvError) -> SessionError {
    SessionError::MalformedAudioTag(TagError::Flv(error))
}
