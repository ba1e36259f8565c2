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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cmaf::VideoConfig;

    fn video(sps: &[u8]) -> VideoConfig {
        VideoConfig {
            sps: sps.to_vec(),
            pps: vec![0x68, 0xce, 0x3c, 0x80],
            width: 1280,
            height: 720,
        }
    }

    fn aac(audio_specific_config: &[u8]) -> AudioConfig {
        AudioConfig::Aac {
            audio_specific_config: audio_specific_config.to_vec(),
            sample_rate: 48_000,
            channels: 2,
        }
    }

    #[test]
    fn video_first_then_audio() {
        let config = TrackConfig {
            video: Some(video(&[0x67, 0x64, 0x00, 0x1f, 0xac])),
            audio: Some(AudioConfig::Opus { channels: 2 }),
        };
        assert_eq!(codecs(&config), "avc1.64001f,opus");
        let config = TrackConfig {
            video: Some(video(&[0x67, 0x42, 0xc0, 0x1e])),
            audio: Some(aac(&[0x11, 0x90])),
        };
        assert_eq!(codecs(&config), "avc1.42c01e,mp4a.40.2");
    }

    #[test]
    fn one_track_alone() {
        let video_only = TrackConfig {
            video: Some(video(&[0x67, 0x4d, 0x40, 0x28])),
            audio: None,
        };
        assert_eq!(codecs(&video_only), "avc1.4d4028");
        let audio_only = TrackConfig {
            video: None,
            audio: Some(AudioConfig::Opus { channels: 1 }),
        };
        assert_eq!(codecs(&audio_only), "opus");
        assert_eq!(codecs(&TrackConfig::default()), "");
    }

    #[test]
    fn audio_object_types_past_30_use_the_escape() {
        // HE-AAC (5), then 31 + 6 bits = 32 + 10 = 42 (USAC).
        let he = TrackConfig {
            video: None,
            audio: Some(aac(&[0x2b, 0x92, 0x08, 0x00])),
        };
        assert_eq!(codecs(&he), "mp4a.40.5");
        let escaped = TrackConfig {
            video: None,
            audio: Some(aac(&[0xf9, 0x40, 0x00])),
        };
        assert_eq!(codecs(&escaped), "mp4a.40.42");
    }

    #[test]
    fn short_configurations_give_bare_names() {
        let config = TrackConfig {
            video: Some(video(&[0x67, 0x42])),
            audio: Some(aac(&[])),
        };
        assert_eq!(codecs(&config), "avc1,mp4a.40");
        // An escape with no second byte cannot name the type.
        let config = TrackConfig {
            video: None,
            audio: Some(aac(&[0xf8])),
        };
        assert_eq!(codecs(&config), "mp4a.40");
    }
}
