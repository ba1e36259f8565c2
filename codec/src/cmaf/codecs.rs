//! The RFC 6381 `CODECS` string of a [`TrackConfig`], for HLS playlists.

use super::{AudioConfig, TrackConfig};

/// The RFC 6381 codecs of `config`, video first, comma-joined:
/// `avc1.PPCCLL` (profile, constraints and level from the SPS, lowercase
/// hex), then `opus` or `mp4a.40.<audio object type>` (from the
/// AudioSpecificConfig's first 5 bits, with the escape for types past 30).
///
/// A configuration [`init_segment`](super::init_segment) would refuse
/// still gets a string: an SPS shorter than 4 bytes gives a bare `avc1`,
/// an AudioSpecificConfig too short for its object type a bare `mp4a.40`.
pub fn codecs(config: &TrackConfig) -> String {
    let mut parts = Vec::with_capacity(2);
    if let Some(video) = &config.video {
        parts.push(match video.sps.get(1..4) {
            Some([profile, constraints, level]) => {
                format!("avc1.{profile:02x}{constraints:02x}{level:02x}")
            }
            _ => "avc1".to_owned(),
        });
    }
    if let Some(audio) = &config.audio {
        parts.push(match audio {
            AudioConfig::Opus { .. } => "opus".to_owned(),
            AudioConfig::Aac {
                audio_specific_config,
                ..
            } => match audio_object_type(audio_specific_config) {
                Some(object_type) => format!("mp4a.40.{object_type}"),
                None => "mp4a.40".to_owned(),
            },
        });
    }
    parts.join(",")
}

/// `audioObjectType` of an AudioSpecificConfig (ISO/IEC 14496-3 §1.6.2.1):
/// 5 bits, or 32 plus the next 6 bits when those 5 are 31.
fn audio_object_type(config: &[u8]) -> Option<u8> {
    let first = *config.first()?;
    match first >> 3 {
        31 => {
            let second = *config.get(1)?;
            Some(32 + (((first & 0x07) << 3) | (second >> 5)))
        }
        object_type => Some(object_type),
    }
}
