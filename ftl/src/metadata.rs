//! StreamMetadata: what the attributes announced, checked at `.` into the
//! tracks a media socket will accept (FTL-SPEC §3.3).

use crate::command::{Attribute, Codec};
use crate::media::{MediaParams, TrackParams};

/// An announced video track. Only H.264 gets this far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VideoTrack {
    /// RTP payload type of video packets.
    pub payload_type: u8,
    /// SSRC of video packets.
    pub ssrc: u32,
    /// `VideoWidth`, a hint only: ftl-sdk hard-codes 1280 (read the SPS instead).
    pub width_hint: Option<u32>,
    /// `VideoHeight`, a hint only: ftl-sdk hard-codes 720.
    pub height_hint: Option<u32>,
}

/// An announced audio track. Only Opus gets this far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AudioTrack {
    /// RTP payload type of audio packets.
    pub payload_type: u8,
    /// SSRC of audio packets.
    pub ssrc: u32,
}

/// Everything the client announced before `.`, validated.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StreamMetadata {
    /// `ProtocolVersion` as sent (ftl-sdk says `0.9`).
    pub protocol_version: Option<String>,
    /// `VendorName`, e.g. `OBS Studio`.
    pub vendor_name: Option<String>,
    /// `VendorVersion`.
    pub vendor_version: Option<String>,
    /// The H.264 video track, if `Video: true`.
    pub video: Option<VideoTrack>,
    /// The Opus audio track, if `Audio: true`.
    pub audio: Option<AudioTrack>,
}

impl StreamMetadata {
    /// What the media classifier needs to tell video from audio.
    pub fn media_params(&self) -> MediaParams {
        MediaParams {
            video: self.video.map(|v| TrackParams {
                payload_type: v.payload_type,
                ssrc: v.ssrc,
            }),
            audio: self.audio.map(|a| TrackParams {
                payload_type: a.payload_type,
                ssrc: a.ssrc,
            }),
        }
    }
}

/// Why the attributes do not describe a stream Waveguide can take.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum MetadataError {
    /// Neither `Video: true` nor `Audio: true`.
    #[error("neither video nor audio is enabled")]
    NoMedia,
    /// An enabled track lacks its codec, payload type or SSRC.
    #[error("{0} is enabled but its codec, payload type or SSRC is missing")]
    IncompleteTrack(&'static str),
    /// The video codec is not H.264 or the audio codec is not Opus.
    #[error("unsupported {0} codec (video must be H264, audio OPUS)")]
    UnsupportedCodec(&'static str),
    /// Audio and video share a payload type, so they cannot be told apart.
    #[error("audio and video use the same payload type")]
    PayloadTypeCollision,
    /// Audio and video share an SSRC.
    #[error("audio and video use the same SSRC")]
    SsrcCollision,
}

/// Attributes collected between `CONNECT` and `.`; the last value of a
/// repeated key wins.
#[derive(Debug, Clone, Default)]
pub(crate) struct AttributeSet {
    protocol_version: Option<String>,
    vendor_name: Option<String>,
    vendor_version: Option<String>,
    video: bool,
    video_codec: Option<Codec>,
    video_width: Option<u32>,
    video_height: Option<u32>,
    video_payload_type: Option<u8>,
    video_ssrc: Option<u32>,
    audio: bool,
    audio_codec: Option<Codec>,
    audio_payload_type: Option<u8>,
    audio_ssrc: Option<u32>,
}

impl AttributeSet {
    pub(crate) fn apply(&mut self, attribute: Attribute) {
        match attribute {
            Attribute::ProtocolVersion(v) => self.protocol_version = Some(v),
            Attribute::VendorName(v) => self.vendor_name = Some(v),
            Attribute::VendorVersion(v) => self.vendor_version = Some(v),
            Attribute::Video(v) => self.video = v,
            Attribute::VideoCodec(v) => self.video_codec = Some(v),
            Attribute::VideoWidth(v) => self.video_width = Some(v),
            Attribute::VideoHeight(v) => self.video_height = Some(v),
            Attribute::VideoPayloadType(v) => self.video_payload_type = Some(v),
            Attribute::VideoIngestSsrc(v) => self.video_ssrc = Some(v),
            Attribute::Audio(v) => self.audio = v,
            Attribute::AudioCodec(v) => self.audio_codec = Some(v),
            Attribute::AudioPayloadType(v) => self.audio_payload_type = Some(v),
            Attribute::AudioIngestSsrc(v) => self.audio_ssrc = Some(v),
            Attribute::Unknown => {}
        }
    }

    pub(crate) fn finish(self) -> Result<StreamMetadata, MetadataError> {
        if !self.video && !self.audio {
            return Err(MetadataError::NoMedia);
        }
        let video = if self.video {
            let (Some(codec), Some(payload_type), Some(ssrc)) =
                (self.video_codec, self.video_payload_type, self.video_ssrc)
            else {
                return Err(MetadataError::IncompleteTrack("video"));
            };
            if codec != Codec::H264 {
                return Err(MetadataError::UnsupportedCodec("video"));
            }
            Some(VideoTrack {
                payload_type,
                ssrc,
                width_hint: self.video_width,
                height_hint: self.video_height,
            })
        } else {
            None
        };
        let audio = if self.audio {
            let (Some(codec), Some(payload_type), Some(ssrc)) =
                (self.audio_codec, self.audio_payload_type, self.audio_ssrc)
            else {
                return Err(MetadataError::IncompleteTrack("audio"));
            };
            if codec != Codec::Opus {
                return Err(MetadataError::UnsupportedCodec("audio"));
            }
            Some(AudioTrack { payload_type, ssrc })
        } else {
            None
        };
        if let (Some(v), Some(a)) = (video, audio) {
            if v.payload_type == a.payload_type {
                return Err(MetadataError::PayloadTypeCollision);
            }
            if v.ssrc == a.ssrc {
                return Err(MetadataError::SsrcCollision);
            }
        }
        Ok(StreamMetadata {
            protocol_version: self.protocol_version,
            vendor_name: self.vendor_name,
            vendor_version: self.vendor_version,
            video,
            audio,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ftl_sdk_set() -> AttributeSet {
        let mut set = AttributeSet::default();
        for attribute in [
            Attribute::ProtocolVersion("0.9".into()),
            Attribute::VendorName("ftl_app".into()),
            Attribute::VendorVersion("0.0.1".into()),
            Attribute::Video(true),
            Attribute::VideoCodec(Codec::H264),
            Attribute::VideoHeight(720),
            Attribute::VideoWidth(1280),
            Attribute::VideoPayloadType(96),
            Attribute::VideoIngestSsrc(124),
            Attribute::Audio(true),
            Attribute::AudioCodec(Codec::Opus),
            Attribute::AudioPayloadType(97),
            Attribute::AudioIngestSsrc(123),
        ] {
            set.apply(attribute);
        }
        set
    }

    #[test]
    fn ftl_sdk_attributes_make_two_tracks() {
        let metadata = ftl_sdk_set().finish().unwrap();
        assert_eq!(metadata.vendor_name.as_deref(), Some("ftl_app"));
        let video = metadata.video.unwrap();
        assert_eq!((video.payload_type, video.ssrc), (96, 124));
        assert_eq!(
            (video.width_hint, video.height_hint),
            (Some(1280), Some(720))
        );
        assert_eq!(
            metadata.audio,
            Some(AudioTrack {
                payload_type: 97,
                ssrc: 123
            })
        );
    }

    #[test]
    fn no_media() {
        assert_eq!(
            AttributeSet::default().finish(),
            Err(MetadataError::NoMedia)
        );
        let mut set = ftl_sdk_set();
        set.apply(Attribute::Video(false));
        set.apply(Attribute::Audio(false));
        assert_eq!(set.finish(), Err(MetadataError::NoMedia));
    }

    #[test]
    fn video_false_ignores_video_fields() {
        let mut set = ftl_sdk_set();
        set.apply(Attribute::Video(false));
        set.apply(Attribute::VideoCodec(Codec::Vp8));
        let metadata = set.finish().unwrap();
        assert_eq!(metadata.video, None);
        assert!(metadata.audio.is_some());
    }

    #[test]
    fn video_true_without_fields() {
        let mut set = AttributeSet::default();
        set.apply(Attribute::Video(true));
        assert_eq!(set.finish(), Err(MetadataError::IncompleteTrack("video")));
    }

    #[test]
    fn unsupported_codecs() {
        let mut set = ftl_sdk_set();
        set.apply(Attribute::VideoCodec(Codec::Vp8));
        assert_eq!(set.finish(), Err(MetadataError::UnsupportedCodec("video")));
        let mut set = ftl_sdk_set();
        set.apply(Attribute::AudioCodec(Codec::Aac));
        assert_eq!(set.finish(), Err(MetadataError::UnsupportedCodec("audio")));
    }

    #[test]
    fn collisions() {
        let mut set = ftl_sdk_set();
        set.apply(Attribute::AudioPayloadType(96));
        assert_eq!(set.finish(), Err(MetadataError::PayloadTypeCollision));
        let mut set = ftl_sdk_set();
        set.apply(Attribute::AudioIngestSsrc(124));
        assert_eq!(set.finish(), Err(MetadataError::SsrcCollision));
    }

    #[test]
    fn last_duplicate_wins() {
        let mut set = ftl_sdk_set();
        set.apply(Attribute::VideoPayloadType(100));
        assert_eq!(set.finish().unwrap().video.unwrap().payload_type, 100);
    }
}
