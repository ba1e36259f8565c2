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
/// are empty, and when a sample or the whole fragment is too large for the
/// 32-bit sizes and offsets `trun` has.
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
        let entries = samples
            .iter()
            .map(|sample| trun_entry(sample, is_video))
            .collect::<Result<Vec<_>, _>>()?;
        let track_size = samples
            .iter()
            .map(|sample| sample.data.len())
            .sum::<usize>();
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
