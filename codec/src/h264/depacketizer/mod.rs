//! RTP payloads to NAL units (RFC 6184, packetization mode 1): single NAL
//! unit packets, STAP-A aggregates and FU-A fragments, in sequence order,
//! with loss and broken fragments reported so that the caller can wait for
//! the next keyframe.

// Reassembles fragments from the peer: every length is checked.
#![deny(clippy::arithmetic_side_effects)]

use super::stap_a::aggregated_nal_units;
use super::{FU_A, STAP_A, is_carried, nal_type};

/// The largest NAL unit reassembled from FU-A fragments, header included.
/// It bounds what one stream can make the depacketizer hold: the buffer
/// keeps the largest NAL unit seen, up to this. An IDR slice of a 4K frame
/// at a high bitrate is well under it.
pub const MAX_NAL_UNIT_SIZE: usize = 4 << 20;

/// How far behind the expected sequence number a packet may be and still be
/// taken as late or duplicated (and dropped). A packet further behind means
/// the sender restarted its numbering, and is taken as a gap.
pub const STALE_WINDOW: u16 = 512;

/// Why a payload did not add to the NAL units. Every variant but
/// [`Stale`](Self::Stale) means NAL units were lost or damaged, and a caller
/// that needs whole pictures waits for the next keyframe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DepacketizeError {
    /// Packets were lost before this one: a NAL unit being reassembled is
    /// dropped, the rest of its fragments are skipped, and this packet is
    /// read as usual.
    #[error("sequence gap: expected {expected}, received {received}")]
    SequenceGap {
        /// The sequence number that should have come.
        expected: u16,
        /// The one that came.
        received: u16,
    },
    /// A duplicate, or a packet that arrived after later ones, at most
    /// [`STALE_WINDOW`] behind. It is dropped and nothing else changes:
    /// nothing was lost that a gap did not already report.
    #[error("stale packet {received}: expected {expected}")]
    Stale {
        /// The sequence number that should have come.
        expected: u16,
        /// The one that came.
        received: u16,
    },
    /// A FU-A middle or end fragment with no start before it: the fragment
    /// is dropped, and so are the rest of that NAL unit's.
    #[error("FU-A fragment without its start")]
    FragmentWithoutStart,
    /// A FU-A start, a single NAL unit or an aggregate came while a FU-A NAL
    /// unit was still open: the open one never got its end fragment and is
    /// dropped. This packet is read as usual.
    #[error("FU-A NAL unit left without its end fragment")]
    FragmentUnfinished,
    /// A FU-A fragment of another NAL unit type than the open one: both are
    /// dropped.
    #[error("FU-A fragment of NAL unit type {received} continues one of type {open}")]
    FragmentTypeChanged {
        /// The type of the NAL unit being reassembled.
        open: u8,
        /// The type this fragment gives.
        received: u8,
    },
    /// A FU-A NAL unit grew past [`MAX_NAL_UNIT_SIZE`]: it is dropped, and so
    /// are the rest of its fragments.
    #[error("FU-A NAL unit exceeds {MAX_NAL_UNIT_SIZE} bytes")]
    NalUnitTooLarge,
    /// An empty payload.
    #[error("empty RTP payload")]
    EmptyPayload,
    /// A FU-A payload without its FU header.
    #[error("FU-A payload without its FU header")]
    FragmentTruncated,
    /// A STAP-A whose NAL unit size runs past the payload, at this offset.
    #[error("STAP-A size at offset {offset} runs past the payload")]
    AggregateTruncated {
        /// Where the size field starts in the payload.
        offset: usize,
    },
    /// A STAP-A holding a NAL unit of size zero, at this offset.
    #[error("STAP-A holds an empty NAL unit at offset {offset}")]
    AggregateEmptyNalUnit {
        /// Where the size field starts in the payload.
        offset: usize,
    },
    /// A STAP-A holding no NAL unit at all.
    #[error("STAP-A holds no NAL unit")]
    AggregateEmpty,
    /// A STAP-A or FU-A carrying a NAL unit of type 0 or 24 to 31, which
    /// RFC 6184 does not allow (aggregates and fragments do not nest, §5.7,
    /// §5.8).
    #[error("NAL unit type {0} inside a STAP-A or FU-A")]
    NalTypeNotAllowed(u8),
    /// A packet type this depacketizer does not read: STAP-B, MTAP16,
    /// MTAP24 and FU-B belong to the interleaved mode, 0, 30 and 31 are
    /// reserved (RFC 6184 §5.2).
    #[error("unsupported RTP packet type {0}")]
    UnsupportedPacketType(u8),
}

/// Where the depacketizer is between packets.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum Assembly {
    /// Between NAL units.
    #[default]
    Idle,
    /// Reassembling a FU-A NAL unit of this type in the buffer.
    Open(u8),
    /// A FU-A NAL unit was lost or broken: its remaining fragments are
    /// dropped without a word, until its end or another NAL unit.
    Skipping,
}

impl Assembly {
    /// After dropping a fragment: its NAL unit is over at its end fragment,
    /// and until then the rest of its fragments are skipped.
    fn after_loss(end: bool) -> Self {
        if end { Self::Idle } else { Self::Skipping }
    }
}

/// Rebuilds NAL units from RTP payloads in sequence order: single NAL units,
/// STAP-A aggregates, FU-A fragments.
///
/// Memory is bounded: one buffer for the FU-A NAL unit being reassembled,
/// which grows to the largest seen, at most [`MAX_NAL_UNIT_SIZE`]. Nothing
/// else is allocated.
#[derive(Debug, Default)]
pub struct Depacketizer {
    /// The sequence number the next packet should have; none before the
    /// first packet.
    expected: Option<u16>,
    assembly: Assembly,
    /// The FU-A NAL unit being reassembled, header first.
    nal: Vec<u8>,
}

impl Depacketizer {
    /// Feeds one payload with its RTP sequence number; complete NAL units
    /// come out through `emit`, without start codes, borrowing the payload
    /// or this depacketizer's buffer.
    ///
    /// Sequence numbers: the first packet sets where the count starts. A
    /// packet one past the last is in order. One up to [`STALE_WINDOW`]
    /// behind the expected is a duplicate or late ([`DepacketizeError::Stale`]:
    /// dropped, nothing else changes). Any other is a
    /// [`DepacketizeError::SequenceGap`]: the partial NAL unit is dropped,
    /// the count restarts from this packet, and the packet is read as
    /// usual, so the next whole NAL unit still comes out.
    ///
    /// A broken FU-A (a middle fragment without its start, a start while
    /// one is open, a type change, a NAL unit past the size limit) drops
    /// the partial NAL unit. An unknown or malformed payload is dropped, and
    /// so is a partial NAL unit, since the payload may have been its next
    /// fragment. Each returns its own [`DepacketizeError`]. When a packet
    /// both follows a gap and is at fault itself, its own error is
    /// returned.
    pub fn push(
        &mut self,
        sequence: u16,
        payload: &[u8],
        mut emit: impl FnMut(&[u8]),
    ) -> Result<(), DepacketizeError> {
        let gap = match self.expected {
            Some(expected) if sequence != expected => {
                let behind = expected.wrapping_sub(sequence);
                if behind <= STALE_WINDOW {
                    return Err(DepacketizeError::Stale {
                        expected,
                        received: sequence,
                    });
                }
                self.drop_partial();
                Err(DepacketizeError::SequenceGap {
                    expected,
                    received: sequence,
                })
            }
            _ => Ok(()),
        };
        self.expected = Some(sequence.wrapping_add(1));
        self.read(payload, &mut emit)?;
        gap
    }

    /// After a loss, any fragments still to come of the open NAL unit are
    /// dropped.
    fn drop_partial(&mut self) {
        self.nal.clear();
        self.assembly = Assembly::Skipping;
    }

    /// A payload that cannot be read: an open NAL unit may have lost a
    /// fragment with it.
    fn reject(&mut self, error: DepacketizeError) -> Result<(), DepacketizeError> {
        if let Assembly::Open(_) = self.assembly {
            self.drop_partial();
        }
        Err(error)
    }

    fn read(
        &mut self,
        payload: &[u8],
        emit: &mut impl FnMut(&[u8]),
    ) -> Result<(), DepacketizeError> {
        let Some((&header, body)) = payload.split_first() else {
            return self.reject(DepacketizeError::EmptyPayload);
        };
        match nal_type(header) {
            1..=23 => {
                let unfinished = self.close_before_whole_nal_unit();
                emit(payload);
                unfinished
            }
            STAP_A => {
                let mut count = 0usize;
                for nal in aggregated_nal_units(payload) {
                    let kind = match nal {
                        Ok(nal) => nal.first().map_or(0, |&header| nal_type(header)),
                        Err(error) => return self.reject(error),
                    };
                    if !is_carried(kind) {
                        return self.reject(DepacketizeError::NalTypeNotAllowed(kind));
                    }
                    count = count.saturating_add(1);
                }
                if count == 0 {
                    return self.reject(DepacketizeError::AggregateEmpty);
                }
                let unfinished = self.close_before_whole_nal_unit();
                aggregated_nal_units(payload)
                    .map_while(Result::ok)
                    .for_each(&mut *emit);
                unfinished
            }
            FU_A => self.fragment(header, body, emit),
            other => self.reject(DepacketizeError::UnsupportedPacketType(other)),
        }
    }

    /// Before a NAL unit that is whole in its packet: an open FU-A NAL unit
    /// will never get its end.
    fn close_before_whole_nal_unit(&mut self) -> Result<(), DepacketizeError> {
        let was = std::mem::take(&mut self.assembly);
        self.nal.clear();
        match was {
            Assembly::Open(_) => Err(DepacketizeError::FragmentUnfinished),
            Assembly::Idle | Assembly::Skipping => Ok(()),
        }
    }

    /// One FU-A fragment (RFC 6184 §5.8): the NAL header is the indicator's
    /// F and NRI bits with the FU header's type. The reserved bit is
    /// ignored, as the RFC asks of receivers.
    fn fragment(
        &mut self,
        indicator: u8,
        body: &[u8],
        emit: &mut impl FnMut(&[u8]),
    ) -> Result<(), DepacketizeError> {
        let Some((&fu_header, data)) = body.split_first() else {
            return self.reject(DepacketizeError::FragmentTruncated);
        };
        let kind = nal_type(fu_header);
        if !is_carried(kind) {
            return self.reject(DepacketizeError::NalTypeNotAllowed(kind));
        }
        let start = fu_header & 0x80 != 0;
        let end = fu_header & 0x40 != 0;
        if start {
            let unfinished = self.close_before_whole_nal_unit();
            self.nal.push((indicator & 0xE0) | kind);
            self.assembly = Assembly::Open(kind);
            self.append(data, end, emit)?;
            return unfinished;
        }
        match self.assembly {
            Assembly::Open(open) if open == kind => self.append(data, end, emit),
            Assembly::Open(open) => {
                self.nal.clear();
                self.assembly = Assembly::after_loss(end);
                Err(DepacketizeError::FragmentTypeChanged {
                    open,
                    received: kind,
                })
            }
            Assembly::Idle => {
                self.assembly = Assembly::after_loss(end);
                Err(DepacketizeError::FragmentWithoutStart)
            }
            Assembly::Skipping => {
                self.assembly = Assembly::after_loss(end);
                Ok(())
            }
        }
    }

    /// Adds a fragment's bytes to the open NAL unit, and emits it at its end.
    fn append(
        &mut self,
        data: &[u8],
        end: bool,
        emit: &mut impl FnMut(&[u8]),
    ) -> Result<(), DepacketizeError> {
        let Some(size) = self
            .nal
            .len()
            .checked_add(data.len())
            .filter(|&size| size <= MAX_NAL_UNIT_SIZE)
        else {
            self.nal.clear();
            self.assembly = Assembly::after_loss(end);
            return Err(DepacketizeError::NalUnitTooLarge);
        };
        if size > self.nal.capacity() {
            // Doubling as `Vec` does, but never past the limit.
            let capacity = self
                .nal
                .capacity()
                .saturating_mul(2)
                .max(size)
                .min(MAX_NAL_UNIT_SIZE);
            self.nal
                .reserve_exact(capacity.saturating_sub(self.nal.len()));
        }
        self.nal.extend_from_slice(data);
        if end {
            emit(&self.nal);
            self.nal.clear();
            self.assembly = Assembly::Idle;
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(
    clippy::arithmetic_side_effects,
    reason = "tests count small known sizes"
)]
mod tests;
