//! AVCC access units (ISO/IEC 14496-15 §5.3.2, the MP4 and FLV sample
//! format): NAL units without start codes, each prefixed by its big-endian
//! length in 1, 2 or 4 bytes, as the AVC sequence header's
//! `lengthSizeMinusOne` says.

// Lengths come from the peer: every offset is checked, none can wrap.
#![deny(clippy::arithmetic_side_effects)]

/// Why an AVCC access unit could not be split. Offsets count bytes from the
/// start of the access unit to the length prefix at fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AvccError {
    /// The length size is not 1, 2 or 4 (`lengthSizeMinusOne` 2 is not
    /// allowed): the caller's sequence header was misread.
    #[error("AVCC length size {length_size} is not 1, 2 or 4")]
    UnsupportedLengthSize {
        /// The length size given.
        length_size: u8,
    },
    /// The access unit ends inside a length prefix.
    #[error(
        "AVCC length prefix at offset {offset} is cut short: {available} of {length_size} bytes"
    )]
    TruncatedLength {
        /// Where the prefix starts.
        offset: usize,
        /// The bytes a prefix takes.
        length_size: u8,
        /// The bytes left.
        available: usize,
    },
    /// A length runs past the end of the access unit.
    #[error("AVCC NAL unit at offset {offset} claims {length} bytes; {available} are left")]
    LengthPastEnd {
        /// Where the prefix starts.
        offset: usize,
        /// The length it gives.
        length: u32,
        /// The bytes left after the prefix.
        available: usize,
    },
    /// A length of zero: a NAL unit has at least its header byte.
    #[error("AVCC NAL unit at offset {offset} has length zero")]
    ZeroLength {
        /// Where the prefix starts.
        offset: usize,
    },
}

/// The NAL units of one AVCC access unit (each prefixed by its big-endian
/// length of `length_size` bytes: 1, 2 or 4). Items borrow `data`; nothing
/// is allocated. A bad length size, a length past the end, a prefix cut
/// short or a zero length is an [`AvccError`], and the iterator ends after
/// it; an empty access unit holds no NAL unit.
pub fn nal_units(data: &[u8], length_size: u8) -> NalUnits<'_> {
    NalUnits {
        rest: data,
        offset: 0,
        length_size,
        finished: false,
    }
}

/// Iterator of [`nal_units`]. Cloning it is cheap, so a caller can walk an
/// access unit twice.
#[derive(Debug, Clone)]
pub struct NalUnits<'a> {
    rest: &'a [u8],
    /// Where `rest` starts in the access unit.
    offset: usize,
    length_size: u8,
    finished: bool,
}

impl<'a> NalUnits<'a> {
    fn read(&mut self) -> Result<&'a [u8], AvccError> {
        let (offset, length_size) = (self.offset, self.length_size);
        if !matches!(length_size, 1 | 2 | 4) {
            return Err(AvccError::UnsupportedLengthSize { length_size });
        }
        let (prefix, after_prefix) = self.rest.split_at_checked(usize::from(length_size)).ok_or(
            AvccError::TruncatedLength {
                offset,
                length_size,
                available: self.rest.len(),
            },
        )?;
        let length = match *prefix {
            [byte] => u32::from(byte),
            [high, low] => u32::from(u16::from_be_bytes([high, low])),
            [a, b, c, d] => u32::from_be_bytes([a, b, c, d]),
            _ => return Err(AvccError::UnsupportedLengthSize { length_size }),
        };
        if length == 0 {
            return Err(AvccError::ZeroLength { offset });
        }
        let past_end = AvccError::LengthPastEnd {
            offset,
            length,
            available: after_prefix.len(),
        };
        let size = usize::try_from(length).map_err(|_| past_end)?;
        let (nal, rest) = after_prefix.split_at_checked(size).ok_or(past_end)?;
        self.rest = rest;
        // Both terms are bounded by the access unit's length.
        self.offset = offset
            .saturating_add(usize::from(length_size))
            .saturating_add(size);
        Ok(nal)
    }
}

impl<'a> Iterator for NalUnits<'a> {
    type Item = Result<&'a [u8], AvccError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.finished {
            return None;
        }
        let known_size = matches!(self.length_size, 1 | 2 | 4);
        if self.rest.is_empty() && known_size {
            self.finished = true;
            return None;
        }
        let nal = self.read();
        self.finished = nal.is_err();
        Some(nal)
    }
}

impl std::iter::FusedIterator for NalUnits<'_> {}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(data: &[u8], length_size: u8) -> Vec<Result<&[u8], AvccError>> {
        nal_units(data, length_size).collect()
    }

    #[test]
    fn every_length_size_splits_the_same_units() {
        let units: [&[u8]; 2] = [&[0x67, 0x42, 0xc0], &[0x65]];
        assert_eq!(split(&[3, 0x67, 0x42, 0xc0, 1, 0x65], 1), units.map(Ok));
        assert_eq!(
            split(&[0, 3, 0x67, 0x42, 0xc0, 0, 1, 0x65], 2),
            units.map(Ok)
        );
        assert_eq!(
            split(&[0, 0, 0, 3, 0x67, 0x42, 0xc0, 0, 0, 0, 1, 0x65], 4),
            units.map(Ok)
        );
    }

    #[test]
    fn an_empty_access_unit_holds_nothing() {
        assert_eq!(split(&[], 4), []);
    }

    #[test]
    fn a_bad_length_size_is_the_only_item() {
        for length_size in [0, 3, 5, 8, 255] {
            assert_eq!(
                split(&[0, 0, 0, 1, 0x65], length_size),
                [Err(AvccError::UnsupportedLengthSize { length_size })]
            );
            assert_eq!(
                split(&[], length_size),
                [Err(AvccError::UnsupportedLengthSize { length_size })]
            );
        }
    }

    #[test]
    fn a_length_past_the_end_ends_the_unit() {
        assert_eq!(
            split(&[0, 1, 0x09, 0, 3, 0x65, 0x88], 2),
            [
                Ok(&[0x09][..]),
                Err(AvccError::LengthPastEnd {
                    offset: 3,
                    length: 3,
                    available: 2
                })
            ]
        );
        assert_eq!(
            split(&[0xff, 0xff, 0xff, 0xff, 0x65], 4),
            [Err(AvccError::LengthPastEnd {
                offset: 0,
                length: u32::MAX,
                available: 1
            })]
        );
    }

    #[test]
    fn a_prefix_cut_short_is_truncated() {
        assert_eq!(
            split(&[0, 0, 0, 1, 0x65, 0, 0], 4),
            [
                Ok(&[0x65][..]),
                Err(AvccError::TruncatedLength {
                    offset: 5,
                    length_size: 4,
                    available: 2
                })
            ]
        );
    }

    #[test]
    fn a_zero_length_is_an_error() {
        assert_eq!(
            split(&[0, 0, 1, 0x65], 2),
            [Err(AvccError::ZeroLength { offset: 0 })]
        );
    }

    #[test]
    fn the_iterator_stays_finished_after_an_error() {
        let mut units = nal_units(&[0, 0, 0, 0, 0x65], 4);
        assert!(units.next().is_some_and(|nal| nal.is_err()));
        assert_eq!(units.next(), None);
        assert_eq!(units.next(), None);
    }
}
