//! The AVCDecoderConfigurationRecord (ISO/IEC 14496-15 §5.3.3.1) an AVC
//! sequence header carries: the NAL length size and the parameter sets.
//!
//! Read here rather than by scuffle-flv, which hands it to scuffle-h264: for
//! High profiles that also parses the record's extension with
//! scuffle-expgolomb, whose arithmetic overflows on hostile bits (a panic in
//! debug builds). We need only the parameter sets; whatever follows them is
//! kept, unread, in [`AvcConfig::record`].

use bytes::Bytes;

use crate::error::TagError;
use crate::event::AvcConfig;

/// Reads a record (the whole payload after the FLV video tag header).
/// Parameter sets and the record are copied: they are small and live as long
/// as the stream, and would otherwise pin the buffer the message arrived in.
pub fn parse(record: &[u8]) -> Result<AvcConfig, TagError> {
    let mut rest = record;
    // configurationVersion, AVCProfileIndication, profile_compatibility,
    // AVCLevelIndication, then 6 reserved bits and lengthSizeMinusOne.
    let (&[_, _, _, _, length_size_byte], after) = rest
        .split_first_chunk::<5>()
        .ok_or(TagError::TruncatedAvcConfig)?;
    rest = after;
    let nal_length_size = (length_size_byte & 0b11) + 1;
    if nal_length_size == 3 {
        return Err(TagError::InvalidNalLengthSize(3));
    }
    let sps_count = take_byte(&mut rest)? & 0b1_1111;
    let sps = parameter_sets(&mut rest, sps_count)?;
    let pps_count = take_byte(&mut rest)?;
    let pps = parameter_sets(&mut rest, pps_count)?;
    Ok(AvcConfig {
        nal_length_size,
        sps,
        pps,
        record: Bytes::copy_from_slice(record),
    })
}

fn take_byte(rest: &mut &[u8]) -> Result<u8, TagError> {
    let (&byte, after) = rest.split_first().ok_or(TagError::TruncatedAvcConfig)?;
    *rest = after;
    Ok(byte)
}

/// `count` parameter sets, each after its 16-bit length.
fn parameter_sets(rest: &mut &[u8], count: u8) -> Result<Vec<Bytes>, TagError> {
    let mut sets = Vec::with_capacity(usize::from(count));
    for _ in 0..count {
        let (length, after) = rest
            .split_first_chunk::<2>()
            .ok_or(TagError::TruncatedAvcConfig)?;
        let length = usize::from(u16::from_be_bytes(*length));
        let set = after.get(..length).ok_or(TagError::TruncatedAvcConfig)?;
        sets.push(Bytes::copy_from_slice(set));
        *rest = &after[length..];
    }
    Ok(sets)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_parameter_sets_and_keeps_the_extension_unread() {
        let record = [
            1, 100, 0, 0x1f, 0xff, 0xe1, 0, 2, 0x67, 0x64, 2, 0, 1, 0x68, 0, 2, 0x68, 0xce,
            // A High profile extension with hostile exp-Golomb bits.
            0xfd, 0xf8, 0xf8, 1, 0, 4, 0, 0, 0, 0,
        ];
        let config = parse(&record).unwrap();
        assert_eq!(config.nal_length_size, 4);
        assert_eq!(config.sps, [Bytes::from_static(&[0x67, 0x64])]);
        assert_eq!(
            config.pps,
            [
                Bytes::from_static(&[0x68]),
                Bytes::from_static(&[0x68, 0xce])
            ]
        );
        assert_eq!(&config.record[..], record);
    }

    #[test]
    fn lengths_past_the_end_and_three_byte_lengths_are_refused() {
        let truncated = |record: &[u8]| matches!(parse(record), Err(TagError::TruncatedAvcConfig));
        assert!(truncated(&[1, 66, 0, 30]));
        assert!(truncated(&[1, 66, 0, 30, 0xff, 0xe1, 0, 9, 0x67]));
        assert!(truncated(&[1, 66, 0, 30, 0xff, 0xe0]));
        assert!(matches!(
            parse(&[1, 66, 0, 30, 0xfe, 0xe0, 0]),
            Err(TagError::InvalidNalLengthSize(3))
        ));
        assert_eq!(
            parse(&[1, 66, 0, 30, 0xfc, 0xe0, 0])
                .unwrap()
                .nal_length_size,
            1
        );
    }
}
