//! Fragments: one `moof` (a `traf` per track that has samples) and the one
//! `mdat` holding those samples, video first, with the data offsets that
//! point each `trun` at its bytes.

use mp4_atom::{Atom, Encode, Header, Mdat, Mfhd, Moof, Tfdt, Tfhd, Traf, Trun, TrunEntry};

use super::{AUDIO_TRACK_ID, CmafError, Sample, VIDEO_TRACK_ID};

/// Sample flags (ISO/IEC 14496-12 §8.8.3.1) of a sync sample: depends on
/// no other sample (`sample_depends_on` = 2), `sample_is_non_sync_sample` = 0.
pub const SYNC_SAMPLE_FLAGS: u32 = 0x0200_0000;
/// Sample flags of a non-sync sample: depends on others
/// (`sample_depends_on` = 1), `sample_is_non_sync_sample` = 1.
pub const NON_SYNC_SAMPLE_FLAGS: u32 = 0x0101_0000;
/// An `mdat` header without the 64-bit size, which is all a fragment whose
/// offsets fit an `i32` needs.
const MDAT_HEADER_SIZE: usize = 8;

/// The fragment numbered `sequence_number` (which should start at 1 and
/// grow by one per fragment) holding `video` then `audio`.
///
/// Each track's samples must be contiguous in time; a track with no
/// samples gets no `traf`. Errors with [`CmafError::NoSamples`] when both
/// are empty, [`CmafError::DecodeTimeGap`] when a sample does not start
/// where the previous one ended, and when a sample or the whole fragment is
/// too large for the 32-bit sizes and offsets `trun` has.
pub fn fragment(
    sequence_number: u32,
    video: &[Sample],
    audio: &[Sample],
) -> Result<Vec<u8>, CmafError> {
    let mut out = Vec::new();
    write_fragment(sequence_number, video, audio, &mut out)?;
    Ok(out)
}

/// [`fragment`], appended to `out`, a buffer the caller owns (reusing one
/// spares an allocation per fragment). On an error `out` may hold part of
/// a fragment; the caller truncates it.
pub fn write_fragment(
    sequence_number: u32,
    video: &[Sample],
    audio: &[Sample],
    out: &mut Vec<u8>,
) -> Result<(), CmafError> {
    let tracks = [
        (VIDEO_TRACK_ID, video, true),
        (AUDIO_TRACK_ID, audio, false),
    ];
    let mut media_size: usize = 0;
    let mut traf = Vec::with_capacity(2);
    for (track_id, samples, is_video) in tracks {
        let Some(first) = samples.first() else {
            continue;
        };
        check_contiguous(track_id, samples)?;
        let entries = samples
            .iter()
            .map(|sample| trun_entry(sample, is_video))
            .collect::<Result<Vec<_>, _>>()?;
        // Checked: samples may borrow the same bytes, so their sizes can
        // add up past what memory holds.
        let track_size = samples
            .iter()
            .try_fold(0usize, |total, sample| total.checked_add(sample.data.len()))
            .ok_or(CmafError::FragmentTooLarge)?;
        traf.push((
            media_size,
            Traf {
                tfhd: Tfhd {
                    track_id,
                    default_base_is_moof: true,
                    ..Tfhd::default()
                },
                tfdt: Some(Tfdt {
                    base_media_decode_time: first.decode_time,
                }),
                trun: vec![Trun {
                    data_offset: Some(0),
                    samples: entries.into(),
                }],
                ..Traf::default()
            },
        ));
        media_size = media_size
            .checked_add(track_size)
            .ok_or(CmafError::FragmentTooLarge)?;
    }
    if traf.is_empty() {
        return Err(CmafError::NoSamples);
    }

    // The data offsets are fixed-size fields, so a first encoding with
    // zeros gives the moof's size, and with it every offset.
    let mut moof = Moof {
        mfhd: Mfhd { sequence_number },
        traf: Vec::with_capacity(traf.len()),
    };
    let starts: Vec<usize> = traf.iter().map(|(start, _)| *start).collect();
    moof.traf = traf.into_iter().map(|(_, traf)| traf).collect();
    let base = out.len();
    moof.encode(out)?;
    let moof_size = out.len() - base;
    let media_start = moof_size
        .checked_add(MDAT_HEADER_SIZE)
        .ok_or(CmafError::FragmentTooLarge)?;
    if media_start
        .checked_add(media_size)
        .is_none_or(|end| i32::try_from(end).is_err())
    {
        return Err(CmafError::FragmentTooLarge);
    }
    for (traf, start) in moof.traf.iter_mut().zip(starts) {
        let offset = i32::try_from(media_start + start).map_err(|_| CmafError::FragmentTooLarge)?;
        for trun in &mut traf.trun {
            trun.data_offset = Some(offset);
        }
    }

    out.truncate(base);
    out.reserve(media_start + media_size);
    moof.encode(out)?;
    let encoded = out.len() - base;
    if encoded != moof_size {
        return Err(CmafError::MoofSizeChanged {
            before: moof_size,
            after: encoded,
        });
    }
    Header {
        kind: Mdat::KIND,
        size: Some(media_size),
    }
    .encode(out)?;
    for sample in video.iter().chain(audio) {
        out.extend_from_slice(sample.data);
    }
    Ok(())
}

fn trun_entry(sample: &Sample, is_video: bool) -> Result<TrunEntry, CmafError> {
    let size = u32::try_from(sample.data.len()).map_err(|_| CmafError::SampleTooLarge {
        len: sample.data.len(),
    })?;
    let flags = if !is_video || sample.keyframe {
        SYNC_SAMPLE_FLAGS
    } else {
        NON_SYNC_SAMPLE_FLAGS
    };
    Ok(TrunEntry {
        duration: Some(sample.duration),
        size: Some(size),
        flags: Some(flags),
        cts: is_video.then_some(i64::from(sample.composition_offset)),
    })
}

/// A `trun` carries durations, not times: each sample must start where the
/// one before it ended.
fn check_contiguous(track_id: u32, samples: &[Sample]) -> Result<(), CmafError> {
    for (index, pair) in samples.windows(2).enumerate() {
        if let [previous, sample] = pair {
            let expected = previous
                .decode_time
                .saturating_add(u64::from(previous.duration));
            if sample.decode_time != expected {
                return Err(CmafError::DecodeTimeGap {
                    track_id,
                    index: index.saturating_add(1),
                    decode_time: sample.decode_time,
                    expected,
                });
            }
        }
    }
    Ok(())
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    reason = "a failed unwrap or index in a test is a failed test"
)]
mod tests {
    use mp4_atom::{Decode, Moof};

    use super::*;

    fn sample(decode_time: u64, duration: u32, keyframe: bool, data: &[u8]) -> Sample<'_> {
        Sample {
            decode_time,
            duration,
            composition_offset: 0,
            keyframe,
            data,
        }
    }

    /// The fragment's `moof`, its size in bytes, and the `mdat` payload.
    fn decode(fragment: &[u8]) -> (Moof, usize, Vec<u8>) {
        let mut rest = fragment;
        let moof = Moof::decode(&mut rest).unwrap();
        let moof_size = fragment.len() - rest.len();
        let mdat = Mdat::decode(&mut rest).unwrap();
        assert!(rest.is_empty(), "{} bytes after mdat", rest.len());
        (moof, moof_size, mdat.data)
    }

    fn entries(traf: &Traf) -> Vec<TrunEntry> {
        let [trun] = &traf.trun[..] else {
            panic!("{} truns", traf.trun.len());
        };
        trun.samples.iter().collect()
    }

    /// The `len` bytes that `traf`'s data offset points at, counted from
    /// the start of the moof (default-base-is-moof).
    fn at_offset(fragment: &[u8], traf: &Traf, len: usize) -> Vec<u8> {
        let offset = usize::try_from(traf.trun[0].data_offset.unwrap()).unwrap();
        fragment[offset..offset + len].to_vec()
    }

    #[test]
    fn video_and_audio_runs_point_at_their_own_bytes() {
        let idr = [0, 0, 0, 2, 0x65, 0x88];
        let p_frame = [0, 0, 0, 3, 0x41, 0x9a, 0x01];
        let video = [
            Sample {
                composition_offset: 3000,
                ..sample(90_000, 3000, true, &idr)
            },
            Sample {
                composition_offset: -1500,
                ..sample(93_000, 3000, false, &p_frame)
            },
        ];
        let packets: [&[u8]; 3] = [&[0xfc, 1], &[0xfc, 2, 2], &[0xfc, 3, 3, 3]];
        let audio: Vec<Sample> = (0u64..)
            .zip(packets)
            .map(|(n, packet)| sample(48_000 + n * 960, 960, false, packet))
            .collect();
        let fragment = fragment(7, &video, &audio).unwrap();
        let (moof, moof_size, mdat) = decode(&fragment);

        assert_eq!(moof.mfhd.sequence_number, 7);
        let [video_traf, audio_traf] = &moof.traf[..] else {
            panic!("{} trafs", moof.traf.len());
        };
        assert_eq!(video_traf.tfhd.track_id, VIDEO_TRACK_ID);
        assert_eq!(audio_traf.tfhd.track_id, AUDIO_TRACK_ID);
        for traf in [video_traf, audio_traf] {
            assert!(traf.tfhd.default_base_is_moof);
            assert_eq!(traf.tfhd.base_data_offset, None);
        }
        // Each track keeps its own clock.
        assert_eq!(
            video_traf.tfdt.as_ref().unwrap().base_media_decode_time,
            90_000
        );
        assert_eq!(
            audio_traf.tfdt.as_ref().unwrap().base_media_decode_time,
            48_000
        );

        assert_eq!(
            entries(video_traf),
            [
                TrunEntry {
                    duration: Some(3000),
                    size: Some(6),
                    flags: Some(SYNC_SAMPLE_FLAGS),
                    cts: Some(3000),
                },
                TrunEntry {
                    duration: Some(3000),
                    size: Some(7),
                    flags: Some(NON_SYNC_SAMPLE_FLAGS),
                    cts: Some(-1500),
                },
            ]
        );
        // Audio is all sync samples, with no composition offsets.
        let audio_entries = entries(audio_traf);
        assert_eq!(audio_entries.len(), 3);
        for (entry, packet) in audio_entries.iter().zip(packets) {
            assert_eq!(entry.duration, Some(960));
            assert_eq!(entry.size, Some(u32::try_from(packet.len()).unwrap()));
            assert_eq!(entry.flags, Some(SYNC_SAMPLE_FLAGS));
            assert_eq!(entry.cts, None);
        }

        // Video then audio in one mdat, right after the moof and an 8-byte
        // mdat header.
        let media = [&idr[..], &p_frame, packets[0], packets[1], packets[2]].concat();
        assert_eq!(mdat, media);
        assert_eq!(
            video_traf.trun[0].data_offset,
            Some(i32::try_from(moof_size + 8).unwrap())
        );
        assert_eq!(at_offset(&fragment, video_traf, 13), media[..13]);
        assert_eq!(at_offset(&fragment, audio_traf, 9), media[13..]);
    }

    #[test]
    fn audio_only_fragment_has_one_traf_at_the_first_byte() {
        let packet = [0xfc, 0xff, 0xfe];
        let audio = [sample(960, 960, true, &packet)];
        let fragment = fragment(1, &[], &audio).unwrap();
        let (moof, _, mdat) = decode(&fragment);
        let [traf] = &moof.traf[..] else {
            panic!("{} trafs", moof.traf.len());
        };
        assert_eq!(traf.tfhd.track_id, AUDIO_TRACK_ID);
        assert_eq!(traf.tfdt.as_ref().unwrap().base_media_decode_time, 960);
        assert_eq!(entries(traf)[0].flags, Some(SYNC_SAMPLE_FLAGS));
        assert_eq!(at_offset(&fragment, traf, 3), packet);
        assert_eq!(mdat, packet);
    }

    #[test]
    fn a_lone_non_sync_video_sample_keeps_its_flags() {
        // With one entry mp4-atom writes its flags as first-sample-flags.
        let p_frame = [0, 0, 0, 1, 0x41];
        let fragment = fragment(2, &[sample(0, 3000, false, &p_frame)], &[]).unwrap();
        let (moof, _, _) = decode(&fragment);
        assert_eq!(entries(&moof.traf[0])[0].flags, Some(NON_SYNC_SAMPLE_FLAGS));
    }

    #[test]
    fn no_samples_is_an_error() {
        assert!(matches!(fragment(1, &[], &[]), Err(CmafError::NoSamples)));
    }

    #[test]
    fn a_sample_that_does_not_follow_the_last_is_refused() {
        let data = [0xfc];
        let audio = [sample(0, 960, true, &data), sample(1000, 960, true, &data)];
        assert!(matches!(
            fragment(1, &[], &audio),
            Err(CmafError::DecodeTimeGap {
                track_id: AUDIO_TRACK_ID,
                index: 1,
                decode_time: 1000,
                expected: 960,
            })
        ));
    }

    #[test]
    fn appending_writes_the_same_bytes_after_what_was_there() {
        let data = [0, 0, 0, 1, 0x65];
        let video = [sample(0, 3000, true, &data)];
        let mut buf = b"init".to_vec();
        write_fragment(3, &video, &[], &mut buf).unwrap();
        assert_eq!(&buf[..4], b"init");
        assert_eq!(buf[4..], fragment(3, &video, &[]).unwrap());
    }
}
