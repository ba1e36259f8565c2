//! The initialization segment: what the tracks are (`ftyp` + `moov`), from
//! the caller's [`TrackConfig`], with no samples in it (CMAF §7.3.1).

use mp4_atom::{
    Audio, Avc1, Avcc, Codec, Dinf, Dops, Dref, Esds, FourCC, Ftyp, Hdlr, Mdhd, Mdia, Minf, Moov,
    Mp4a, Mvex, Mvhd, Opus, Smhd, Stbl, Stco, Stsd, Tkhd, Trak, Trex, Url, Visual, Vmhd,
};

use super::{
    AUDIO_TRACK_ID, AudioConfig, CmafError, TrackConfig, VIDEO_TIMESCALE, VIDEO_TRACK_ID,
    VideoConfig,
};
use mp4_atom::Encode;
use mp4_atom::esds::{DecoderConfig, DecoderSpecific, EsDescriptor, SLConfig};

/// The Opus pre-skip written in `dOps`, in 48 kHz samples: libopus's
/// encoder delay, which is what WebRTC and OBS encoders have.
pub const OPUS_PRE_SKIP: u16 = 312;
/// The rate Opus always decodes at, and so the Opus track's timescale.
const OPUS_SAMPLE_RATE: u32 = 48_000;
/// MPEG-4 `objectTypeIndication` for MPEG-4 Audio (AAC), ISO/IEC 14496-1.
const OBJECT_TYPE_MPEG4_AUDIO: u8 = 0x40;
/// MPEG-4 `streamType` for an audio stream.
const STREAM_TYPE_AUDIO: u8 = 0x05;

/// The initialization segment for `config`: `ftyp` (major brand `iso6`,
/// compatible `iso6`, `cmfc`, `mp41`) and `moov` with one track per medium
/// and `mvex`/`trex` so that fragments follow.
///
/// Errors when there are no tracks or a track's parameters cannot be
/// written (see [`CmafError`]).
pub fn init_segment(config: &TrackConfig) -> Result<Vec<u8>, CmafError> {
    let mut out = Vec::with_capacity(1024);
    write_init_segment(config, &mut out)?;
    Ok(out)
}

/// [`init_segment`], appended to `out`, a buffer the caller owns. On an
/// error `out` may hold part of a segment; the caller truncates it.
pub fn write_init_segment(config: &TrackConfig, out: &mut Vec<u8>) -> Result<(), CmafError> {
    if config.video.is_none() && config.audio.is_none() {
        return Err(CmafError::NoTracks);
    }
    let mut trak = Vec::with_capacity(2);
    let mut trex = Vec::with_capacity(2);
    if let Some(video) = &config.video {
        trak.push(video_trak(video)?);
        trex.push(default_trex(VIDEO_TRACK_ID));
    }
    if let Some(audio) = &config.audio {
        trak.push(audio_trak(audio)?);
        trex.push(default_trex(AUDIO_TRACK_ID));
    }

    let ftyp = Ftyp {
        major_brand: FourCC::new(b"iso6"),
        minor_version: 0,
        compatible_brands: vec![
            FourCC::new(b"iso6"),
            FourCC::new(b"cmfc"),
            FourCC::new(b"mp41"),
        ],
    };
    let moov = Moov {
        mvhd: Mvhd {
            timescale: 1000,
            rate: 1u16.into(),
            volume: 1u8.into(),
            next_track_id: AUDIO_TRACK_ID + 1,
            ..Mvhd::default()
        },
        mvex: Some(Mvex { mehd: None, trex }),
        trak,
        ..Moov::default()
    };

    ftyp.encode(out)?;
    moov.encode(out)?;
    Ok(())
}

fn default_trex(track_id: u32) -> Trex {
    Trex {
        track_id,
        default_sample_description_index: 1,
        default_sample_duration: 0,
        default_sample_size: 0,
        default_sample_flags: 0,
    }
}

fn video_trak(video: &VideoConfig) -> Result<Trak, CmafError> {
    if video.sps.len() < 4 {
        return Err(CmafError::SpsTooShort {
            len: video.sps.len(),
        });
    }
    if video.pps.is_empty() {
        return Err(CmafError::EmptyPps);
    }
    for set in [&video.sps, &video.pps] {
        if u16::try_from(set.len()).is_err() {
            return Err(CmafError::ParameterSetTooLarge { len: set.len() });
        }
    }
    let too_large = CmafError::PictureTooLarge {
        width: video.width,
        height: video.height,
    };
    let (Ok(width), Ok(height)) = (u16::try_from(video.width), u16::try_from(video.height)) else {
        return Err(too_large);
    };

    let avc1 = Avc1 {
        visual: Visual {
            data_reference_index: 1,
            width,
            height,
            ..Visual::default()
        },
        avcc: Avcc::new(&video.sps, &video.pps)?,
        ..Avc1::default()
    };
    Ok(Trak {
        tkhd: Tkhd {
            track_id: VIDEO_TRACK_ID,
            enabled: true,
            in_movie: true,
            width: width.into(),
            height: height.into(),
            ..Tkhd::default()
        },
        mdia: Mdia {
            mdhd: mdhd(VIDEO_TIMESCALE),
            hdlr: Hdlr {
                handler: FourCC::new(b"vide"),
                name: "VideoHandler".into(),
            },
            minf: Minf {
                vmhd: Some(Vmhd::default()),
                dinf: self_contained_dinf(),
                stbl: empty_stbl(avc1.into()),
                ..Minf::default()
            },
        },
        ..Trak::default()
    })
}

fn audio_trak(audio: &AudioConfig) -> Result<Trak, CmafError> {
    let codec: Codec = match audio {
        AudioConfig::Opus { channels } => {
            if !matches!(channels, 1 | 2) {
                return Err(CmafError::InvalidAudio {
                    channels: *channels,
                    sample_rate: OPUS_SAMPLE_RATE,
                });
            }
            Opus {
                audio: audio_entry(*channels, OPUS_SAMPLE_RATE),
                dops: Dops {
                    output_channel_count: *channels,
                    pre_skip: OPUS_PRE_SKIP,
                    input_sample_rate: OPUS_SAMPLE_RATE,
                    output_gain: 0,
                    channel_mapping: None,
                },
                btrt: None,
            }
            .into()
        }
        AudioConfig::Aac {
            audio_specific_config,
            sample_rate,
            channels,
        } => {
            if *channels == 0 || *sample_rate == 0 {
                return Err(CmafError::InvalidAudio {
                    channels: *channels,
                    sample_rate: *sample_rate,
                });
            }
            let [first, second, ..] = audio_specific_config[..] else {
                return Err(CmafError::AudioSpecificConfigTooShort {
                    len: audio_specific_config.len(),
                });
            };
            Mp4a {
                audio: audio_entry(*channels, *sample_rate),
                esds: Esds {
                    es_desc: EsDescriptor {
                        es_id: 0,
                        dec_config: DecoderConfig {
                            object_type_indication: OBJECT_TYPE_MPEG4_AUDIO,
                            stream_type: STREAM_TYPE_AUDIO,
                            up_stream: 0,
                            buffer_size_db: Default::default(),
                            max_bitrate: 0,
                            avg_bitrate: 0,
                            // `raw` is what is written; the fields are
                            // mp4-atom's parsed view, filled in for
                            // readers of the struct.
                            dec_specific: Some(DecoderSpecific {
                                profile: first >> 3,
                                freq_index: ((first & 0x07) << 1) | (second >> 7),
                                chan_conf: (second >> 3) & 0x0f,
                                raw: audio_specific_config.clone(),
                            }),
                        },
                        sl_config: SLConfig::default(),
                        ..EsDescriptor::default()
                    },
                },
                btrt: None,
                taic: None,
            }
            .into()
        }
    };
    Ok(Trak {
        tkhd: Tkhd {
            track_id: AUDIO_TRACK_ID,
            enabled: true,
            in_movie: true,
            volume: 1u8.into(),
            ..Tkhd::default()
        },
        mdia: Mdia {
            mdhd: mdhd(audio.timescale()),
            hdlr: Hdlr {
                handler: FourCC::new(b"soun"),
                name: "SoundHandler".into(),
            },
            minf: Minf {
                smhd: Some(Smhd::default()),
                dinf: self_contained_dinf(),
                stbl: empty_stbl(codec),
                ..Minf::default()
            },
        },
        ..Trak::default()
    })
}

/// An audio sample entry; rates above 16 bits are written as 0, as the
/// 16.16 field cannot hold them (the timescale and the codec config carry
/// the real rate).
fn audio_entry(channels: u8, sample_rate: u32) -> Audio {
    Audio {
        data_reference_index: 1,
        channel_count: channels.into(),
        sample_size: 16,
        sample_rate: u16::try_from(sample_rate).unwrap_or(0).into(),
    }
}

fn mdhd(timescale: u32) -> Mdhd {
    Mdhd {
        timescale,
        language: "und".into(),
        ..Mdhd::default()
    }
}

/// `dinf` with one `url ` entry saying the media is in this file.
fn self_contained_dinf() -> Dinf {
    Dinf {
        dref: Dref {
            entries: vec![Url::default().into()],
        },
    }
}

/// A sample table with the one sample entry and no samples: in CMAF the
/// samples are all in fragments.
fn empty_stbl(codec: Codec) -> Stbl {
    Stbl {
        stsd: Stsd {
            codecs: vec![codec],
        },
        stco: Some(Stco::default()),
        ..Stbl::default()
    }
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    reason = "a failed unwrap in a test is a failed test"
)]
mod tests {
    use mp4_atom::{Decode, FixedPoint, StszSamples};

    use super::*;

    const SPS: &[u8] = &[0x67, 0x42, 0xc0, 0x1e, 0xd9, 0x00, 0xa0, 0x47];
    const PPS: &[u8] = &[0x68, 0xce, 0x3c, 0x80];

    fn video() -> VideoConfig {
        VideoConfig {
            sps: SPS.to_vec(),
            pps: PPS.to_vec(),
            width: 320,
            height: 240,
        }
    }

    /// The segment's `ftyp` and `moov`, checking nothing follows them.
    fn decode(segment: &[u8]) -> (Ftyp, Moov) {
        let mut rest = segment;
        let ftyp = Ftyp::decode(&mut rest).unwrap();
        let moov = Moov::decode(&mut rest).unwrap();
        assert!(rest.is_empty(), "{} bytes after moov", rest.len());
        (ftyp, moov)
    }

    fn assert_empty_tables(stbl: &Stbl) {
        assert!(stbl.stts.entries.is_empty());
        assert!(stbl.stsc.entries.is_empty());
        assert_eq!(stbl.stsz.samples, StszSamples::Different { sizes: vec![] });
        assert_eq!(stbl.stco, Some(Stco { entries: vec![] }));
    }

    #[test]
    fn video_and_opus_init_has_both_tracks_and_their_configs() {
        let config = TrackConfig {
            video: Some(video()),
            audio: Some(AudioConfig::Opus { channels: 2 }),
        };
        let (ftyp, moov) = decode(&init_segment(&config).unwrap());

        assert_eq!(ftyp.major_brand, FourCC::new(b"iso6"));
        assert!(ftyp.compatible_brands.contains(&FourCC::new(b"cmfc")));
        assert_eq!(moov.mvhd.next_track_id, 3);
        assert_eq!(moov.trak.len(), 2);

        let video = &moov.trak[0];
        assert_eq!(video.tkhd.track_id, VIDEO_TRACK_ID);
        assert_eq!(video.tkhd.width, FixedPoint::from(320u16));
        assert_eq!(video.tkhd.height, FixedPoint::from(240u16));
        assert_eq!(video.mdia.mdhd.timescale, VIDEO_TIMESCALE);
        assert_eq!(video.mdia.hdlr.handler, FourCC::new(b"vide"));
        assert!(video.mdia.minf.vmhd.is_some());
        let stbl = &video.mdia.minf.stbl;
        assert_empty_tables(stbl);
        let [Codec::Avc1(avc1)] = &stbl.stsd.codecs[..] else {
            panic!("not one avc1: {:?}", stbl.stsd.codecs);
        };
        assert_eq!((avc1.visual.width, avc1.visual.height), (320, 240));
        assert_eq!(avc1.avcc.avc_profile_indication, 0x42);
        assert_eq!(avc1.avcc.profile_compatibility, 0xc0);
        assert_eq!(avc1.avcc.avc_level_indication, 0x1e);
        assert_eq!(avc1.avcc.length_size, 4);
        assert_eq!(avc1.avcc.sequence_parameter_sets, [SPS]);
        assert_eq!(avc1.avcc.picture_parameter_sets, [PPS]);

        let audio = &moov.trak[1];
        assert_eq!(audio.tkhd.track_id, AUDIO_TRACK_ID);
        assert_eq!(audio.mdia.mdhd.timescale, 48_000);
        assert_eq!(audio.mdia.hdlr.handler, FourCC::new(b"soun"));
        assert!(audio.mdia.minf.smhd.is_some());
        let stbl = &audio.mdia.minf.stbl;
        assert_empty_tables(stbl);
        let [Codec::Opus(opus)] = &stbl.stsd.codecs[..] else {
            panic!("not one Opus: {:?}", stbl.stsd.codecs);
        };
        assert_eq!(opus.audio.channel_count, 2);
        assert_eq!(opus.dops.output_channel_count, 2);
        assert_eq!(opus.dops.pre_skip, 312);
        assert_eq!(opus.dops.input_sample_rate, 48_000);
        assert_eq!(opus.dops.channel_mapping, None);

        let trex = &moov.mvex.unwrap().trex;
        let ids: Vec<u32> = trex.iter().map(|trex| trex.track_id).collect();
        assert_eq!(ids, [VIDEO_TRACK_ID, AUDIO_TRACK_ID]);
        assert!(trex.iter().all(|t| t.default_sample_description_index == 1));
    }

    #[test]
    fn aac_init_carries_the_audio_specific_config_in_esds() {
        // AAC-LC, 44.1 kHz, stereo.
        let asc = vec![0x12, 0x10];
        let config = TrackConfig {
            video: None,
            audio: Some(AudioConfig::Aac {
                audio_specific_config: asc.clone(),
                sample_rate: 44_100,
                channels: 2,
            }),
        };
        let (_, moov) = decode(&init_segment(&config).unwrap());
        let [trak] = &moov.trak[..] else {
            panic!("{} traks", moov.trak.len());
        };
        assert_eq!(trak.tkhd.track_id, AUDIO_TRACK_ID);
        assert_eq!(trak.mdia.mdhd.timescale, 44_100);
        let [Codec::Mp4a(mp4a)] = &trak.mdia.minf.stbl.stsd.codecs[..] else {
            panic!("not one mp4a");
        };
        assert_eq!(mp4a.audio.sample_rate, FixedPoint::from(44_100u16));
        let dec_config = &mp4a.esds.es_desc.dec_config;
        assert_eq!(dec_config.object_type_indication, 0x40);
        assert_eq!(dec_config.stream_type, 0x05);
        let dec_specific = dec_config.dec_specific.as_ref().unwrap();
        assert_eq!(dec_specific.raw, asc);
        assert_eq!(
            (
                dec_specific.profile,
                dec_specific.freq_index,
                dec_specific.chan_conf
            ),
            (2, 4, 2)
        );
        assert_eq!(moov.mvex.unwrap().trex.len(), 1);
    }

    #[test]
    fn bad_configurations_get_their_own_errors() {
        let init = |video, audio| init_segment(&TrackConfig { video, audio });
        assert!(matches!(init(None, None), Err(CmafError::NoTracks)));

        let with_sps = |sps: &[u8]| VideoConfig {
            sps: sps.to_vec(),
            ..video()
        };
        assert!(matches!(
            init(Some(with_sps(&[])), None),
            Err(CmafError::SpsTooShort { len: 0 })
        ));
        assert!(matches!(
            init(Some(with_sps(&SPS[..3])), None),
            Err(CmafError::SpsTooShort { len: 3 })
        ));
        let no_pps = VideoConfig {
            pps: vec![],
            ..video()
        };
        assert!(matches!(init(Some(no_pps), None), Err(CmafError::EmptyPps)));
        let huge_pps = VideoConfig {
            pps: vec![0x68; 65_536],
            ..video()
        };
        assert!(matches!(
            init(Some(huge_pps), None),
            Err(CmafError::ParameterSetTooLarge { len: 65_536 })
        ));
        let wide = VideoConfig {
            width: 65_536,
            ..video()
        };
        assert!(matches!(
            init(Some(wide), None),
            Err(CmafError::PictureTooLarge {
                width: 65_536,
                height: 240
            })
        ));

        for channels in [0, 3] {
            assert!(matches!(
                init(None, Some(AudioConfig::Opus { channels })),
                Err(CmafError::InvalidAudio { channels: c, .. }) if c == channels
            ));
        }
        let aac = |asc: &[u8], sample_rate| AudioConfig::Aac {
            audio_specific_config: asc.to_vec(),
            sample_rate,
            channels: 1,
        };
        assert!(matches!(
            init(None, Some(aac(&[0x11], 48_000))),
            Err(CmafError::AudioSpecificConfigTooShort { len: 1 })
        ));
        assert!(matches!(
            init(None, Some(aac(&[0x11, 0x88], 0))),
            Err(CmafError::InvalidAudio { sample_rate: 0, .. })
        ));
    }

    #[test]
    fn appending_keeps_what_the_buffer_held() {
        let config = TrackConfig {
            video: Some(video()),
            audio: None,
        };
        let mut buf = b"head".to_vec();
        write_init_segment(&config, &mut buf).unwrap();
        assert_eq!(&buf[..4], b"head");
        assert_eq!(buf[4..], init_segment(&config).unwrap());
    }
}
