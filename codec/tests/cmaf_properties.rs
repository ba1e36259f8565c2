//! Properties of the CMAF writer over arbitrary input: `init_segment` and
//! `fragment` never panic, and whatever they accept decodes back with
//! mp4-atom to what was given (every sample's bytes where its `trun`
//! points). Seeds are fixed, so every run checks the same cases.

#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    reason = "a failed unwrap or index in a test is a failed test"
)]

use codec::cmaf::{
    self, AUDIO_TRACK_ID, AudioConfig, CmafError, Sample, TrackConfig, VIDEO_TRACK_ID, VideoConfig,
};
use mp4_atom::{Codec, Decode, DecodeMaybe, Ftyp, Header, Moof, Moov};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::test_runner::RngSeed;

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: None,
        rng_seed: RngSeed::Fixed(0xc0ff_ee26),
        ..ProptestConfig::default()
    }
}

fn video_config() -> impl Strategy<Value = VideoConfig> {
    (
        vec(any::<u8>(), 0..40),
        vec(any::<u8>(), 0..12),
        prop_oneof![3 => 0u32..4000, 1 => any::<u32>()],
        prop_oneof![3 => 0u32..4000, 1 => any::<u32>()],
    )
        .prop_map(|(sps, pps, width, height)| VideoConfig {
            sps,
            pps,
            width,
            height,
        })
}

fn audio_config() -> impl Strategy<Value = AudioConfig> {
    prop_oneof![
        prop_oneof![3 => 1u8..=2, 1 => any::<u8>()]
            .prop_map(|channels| AudioConfig::Opus { channels }),
        (
            vec(any::<u8>(), 0..8),
            prop_oneof![3 => 8_000u32..96_001, 1 => any::<u32>()],
            prop_oneof![3 => 1u8..=8, 1 => any::<u8>()],
        )
            .prop_map(
                |(audio_specific_config, sample_rate, channels)| AudioConfig::Aac {
                    audio_specific_config,
                    sample_rate,
                    channels,
                }
            ),
    ]
}

/// A sample before it is placed in time: duration, composition offset,
/// keyframe, bytes.
type RawSample = (u32, i32, bool, Vec<u8>);

/// A track's samples as (duration, composition offset, keyframe, bytes),
/// laid end to end from `start`.
fn track() -> impl Strategy<Value = (u64, Vec<RawSample>)> {
    (
        any::<u64>().prop_map(|start| start >> 1),
        vec(
            (
                0u32..100_000,
                any::<i32>(),
                any::<bool>(),
                vec(any::<u8>(), 0..300),
            ),
            0..12,
        ),
    )
}

fn samples(start: u64, raw: &[RawSample]) -> Vec<Sample<'_>> {
    let mut time = start;
    raw.iter()
        .map(|(duration, composition_offset, keyframe, data)| {
            let sample = Sample {
                decode_time: time,
                duration: *duration,
                composition_offset: *composition_offset,
                keyframe: *keyframe,
                data,
            };
            time += u64::from(*duration);
            sample
        })
        .collect()
}

proptest! {
    #![proptest_config(config(1024))]

    #[test]
    fn init_segment_is_total_and_decodes_back(
        video in proptest::option::of(video_config()),
        audio in proptest::option::of(audio_config()),
    ) {
        let config = TrackConfig { video, audio };
        let Ok(segment) = cmaf::init_segment(&config) else {
            return Ok(());
        };
        let mut rest = &segment[..];
        Ftyp::decode(&mut rest).unwrap();
        let moov = Moov::decode(&mut rest).unwrap();
        prop_assert!(rest.is_empty());
        let ids: Vec<u32> = moov.trak.iter().map(|trak| trak.tkhd.track_id).collect();
        let expected: Vec<u32> = [
            config.video.as_ref().map(|_| VIDEO_TRACK_ID),
            config.audio.as_ref().map(|_| AUDIO_TRACK_ID),
        ]
        .into_iter()
        .flatten()
        .collect();
        prop_assert_eq!(ids, expected);
        if let Some(video) = &config.video {
            let Codec::Avc1(avc1) = &moov.trak[0].mdia.minf.stbl.stsd.codecs[0] else {
                panic!("no avc1");
            };
            prop_assert_eq!(&avc1.avcc.sequence_parameter_sets, std::slice::from_ref(&video.sps));
            prop_assert_eq!(&avc1.avcc.picture_parameter_sets, std::slice::from_ref(&video.pps));
            prop_assert!(cmaf::codecs(&config).starts_with("avc1."));
        }
        if let Some(audio) = &config.audio {
            let trak = moov.trak.last().unwrap();
            prop_assert_eq!(trak.mdia.mdhd.timescale, audio.timescale());
        }
    }

    #[test]
    fn fragment_is_total_and_every_offset_is_exact(
        sequence_number in any::<u32>(),
        (video_start, video_raw) in track(),
        (audio_start, audio_raw) in track(),
    ) {
        let video = samples(video_start, &video_raw);
        let audio = samples(audio_start, &audio_raw);
        let fragment = match cmaf::fragment(sequence_number, &video, &audio) {
            Ok(fragment) => fragment,
            Err(CmafError::NoSamples) => {
                prop_assert!(video.is_empty() && audio.is_empty());
                return Ok(());
            }
            Err(error) => panic!("refused: {error}"),
        };
        let mut rest = &fragment[..];
        let moof = Moof::decode(&mut rest).unwrap();
        let header = Header::decode_maybe(&mut rest).unwrap().unwrap();
        prop_assert_eq!(header.size, Some(rest.len()));
        prop_assert_eq!(moof.mfhd.sequence_number, sequence_number);

        let tracks = [(VIDEO_TRACK_ID, &video), (AUDIO_TRACK_ID, &audio)];
        let mut trafs = moof.traf.iter();
        for (track_id, samples) in tracks {
            if samples.is_empty() {
                continue;
            }
            let traf = trafs.next().unwrap();
            prop_assert_eq!(traf.tfhd.track_id, track_id);
            prop_assert_eq!(
                traf.tfdt.as_ref().unwrap().base_media_decode_time,
                samples[0].decode_time
            );
            let trun = &traf.trun[0];
            let mut at = usize::try_from(trun.data_offset.unwrap()).unwrap();
            prop_assert_eq!(trun.samples.len(), samples.len());
            for (entry, sample) in trun.samples.iter().zip(samples.iter()) {
                let size = entry.size.unwrap() as usize;
                prop_assert_eq!(&fragment[at..at + size], sample.data);
                prop_assert_eq!(entry.duration, Some(sample.duration));
                at += size;
            }
        }
        prop_assert!(trafs.next().is_none());
    }
}
