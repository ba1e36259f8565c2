//! Reading STAP-A aggregation packets (RFC 6184 §5.7.1): after the one-byte
//! STAP-A header, NAL units each prefixed by a 16-bit big-endian size.

use super::depacketizer::DepacketizeError;

/// The NAL units of a STAP-A payload (its header byte included), in order. A
/// size that runs past the payload or a zero size is an error, and the
/// iterator ends after it.
pub(super) fn aggregated_nal_units(payload: &[u8]) -> AggregatedNalUnits<'_> {
    AggregatedNalUnits {
        rest: payload.get(1..).unwrap_or_default(),
        offset: 1,
    }
}

/// Iterator of [`aggregated_nal_units`].
pub(super) struct AggregatedNalUnits<'a> {
    rest: &'a [u8],
    /// Where `rest` starts in the payload, for error reports.
    offset: usize,
}

impl<'a> AggregatedNalUnits<'a> {
    fn read(&mut self) -> Result<&'a [u8], DepacketizeError> {
        let offset = self.offset;
        let (size, after_size) = match self.rest {
            [high, low, after_size @ ..] => (u16::from_be_bytes([*high, *low]), after_size),
            _ => return Err(DepacketizeError::AggregateTruncated { offset }),
        };
        if size == 0 {
            return Err(DepacketizeError::AggregateEmptyNalUnit { offset });
        }
        let (nal, rest) = after_size
            .split_at_checked(usize::from(size))
            .ok_or(DepacketizeError::AggregateTruncated { offset })?;
        self.rest = rest;
        self.offset = offset.saturating_add(2).saturating_add(nal.len());
        Ok(nal)
    }
}

impl<'a> Iterator for AggregatedNalUnits<'a> {
    type Item = Result<&'a [u8], DepacketizeError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        let nal = self.read();
        if nal.is_err() {
            self.rest = &[];
        }
        Some(nal)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_every_nal_unit_in_order() {
        let payload = [0x78, 0x00, 0x02, 0x67, 0x42, 0x00, 0x01, 0x68];
        let nal_units: Vec<_> = aggregated_nal_units(&payload).collect();
        assert_eq!(nal_units, [Ok(&[0x67, 0x42][..]), Ok(&[0x68][..])]);
    }

    #[test]
    fn a_size_past_the_end_is_an_error_and_the_last_item() {
        let payload = [0x78, 0x00, 0x01, 0x67, 0x00, 0x03, 0x68, 0xce];
        let nal_units: Vec<_> = aggregated_nal_units(&payload).collect();
        assert_eq!(
            nal_units,
            [
                Ok(&[0x67][..]),
                Err(DepacketizeError::AggregateTruncated { offset: 4 })
            ]
        );
    }

    #[test]
    fn half_a_size_is_truncated() {
        let nal_units: Vec<_> = aggregated_nal_units(&[0x78, 0x00]).collect();
        assert_eq!(
            nal_units,
            [Err(DepacketizeError::AggregateTruncated { offset: 1 })]
        );
    }

    #[test]
    fn a_zero_size_is_an_error() {
        let nal_units: Vec<_> = aggregated_nal_units(&[0x78, 0x00, 0x00, 0x67]).collect();
        assert_eq!(
            nal_units,
            [Err(DepacketizeError::AggregateEmptyNalUnit { offset: 1 })]
        );
    }

    #[test]
    fn a_bare_header_holds_nothing() {
        assert_eq!(aggregated_nal_units(&[0x78]).count(), 0);
        assert_eq!(aggregated_nal_units(&[]).count(), 0);
    }
}
