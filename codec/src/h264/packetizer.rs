//! Access units to RTP payloads (RFC 6184, packetization mode 1): a NAL unit
//! that fits is a single NAL unit packet (§5.6), a larger one is cut into
//! FU-A fragments (§5.8), and an IDR access unit without its parameter sets
//! gets the stream's, so that every keyframe decodes on its own.

// Cuts NAL units into fragments: every length is checked, none can wrap.
#![deny(clippy::arithmetic_side_effects)]

use super::{FU_A, NAL_AUD, NAL_IDR, NAL_PPS, NAL_SPS, carried_nal_type, nal_type};

/// The FU indicator and the FU header that open every fragment.
const FU_HEADERS: usize = 2;
/// The FU header's start bit.
const FU_START: u8 = 0x80;
/// The FU header's end bit.
const FU_END: u8 = 0x40;

/// The stream's current SPS and PPS (each a NAL unit without start code),
/// empty until known. Filled from the AVC sequence header, so allocating
/// here happens once per sequence header, not per packet.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ParameterSets {
    /// The sequence parameter sets, in the order they are sent.
    pub sps: Vec<Vec<u8>>,
    /// The picture parameter sets, in the order they are sent.
    pub pps: Vec<Vec<u8>>,
}

/// Cuts access units into RTP payloads of at most
/// [`max_payload`](Self::max_payload) bytes: a NAL unit that fits is a
/// single NAL unit packet, a larger one FU-A fragments (the FU indicator
/// takes the NAL header's F and NRI bits, the FU header its type; no
/// fragment is empty).
///
/// NAL units of type 0 or 24 to 31 are not sent: H.264 leaves them
/// unspecified and RFC 6184 (§5.2) uses those numbers for its own packet
/// types, so a receiver would misread them. Empty NAL units are skipped.
#[derive(Debug)]
pub struct Packetizer {
    max_payload: usize,
    /// One fragment being written; its capacity is the largest payload, so
    /// it never grows.
    fragment: Vec<u8>,
}

impl Packetizer {
    /// The smallest payload limit: a FU indicator, a FU header and one byte.
    pub const MIN_PAYLOAD: usize = FU_HEADERS + 1;
    /// The largest payload limit: a UDP datagram over IPv4 (65,507 bytes)
    /// less the 12-byte RTP header.
    pub const MAX_PAYLOAD: usize = 65_495;

    /// A packetizer for payloads of at most `max_payload` bytes, clamped to
    /// [`MIN_PAYLOAD`](Self::MIN_PAYLOAD)..=[`MAX_PAYLOAD`](Self::MAX_PAYLOAD).
    /// Allocates its one fragment buffer here.
    pub fn new(max_payload: usize) -> Self {
        let max_payload = max_payload.clamp(Self::MIN_PAYLOAD, Self::MAX_PAYLOAD);
        Self {
            max_payload,
            fragment: Vec::with_capacity(max_payload),
        }
    }

    /// The largest payload this packetizer emits, after clamping.
    pub fn max_payload(&self) -> usize {
        self.max_payload
    }

    /// Emits the payloads of one access unit in order through
    /// `emit(payload, marker)`, with the marker on the last one (RFC 6184
    /// §5.1). A payload borrows either the NAL unit or this packetizer's
    /// fragment buffer, for the length of the call: copy what you keep.
    /// Nothing is allocated.
    ///
    /// If the unit holds an IDR slice but no SPS or no PPS, the missing
    /// kind from `parameter_sets` is sent first, each as its own NAL unit,
    /// so that a viewer joining at this keyframe or a recording cut at it
    /// can decode it. "First" means after the access unit delimiter that
    /// opens the unit, if any, and a missing PPS comes after the unit's own
    /// SPS, since a PPS refers to its SPS. Parameter sets already in the
    /// unit are not repeated, and the stream's go nowhere else.
    ///
    /// The NAL units are walked twice (once to find the IDR slice and the
    /// parameter sets, once to send), hence the `Clone` iterator; the AVCC
    /// splitter's is cheap to clone.
    pub fn packetize<'a, I>(
        &mut self,
        nal_units: I,
        parameter_sets: &ParameterSets,
        mut emit: impl FnMut(&[u8], bool),
    ) where
        I: IntoIterator<Item = &'a [u8]>,
        I::IntoIter: Clone,
    {
        let nal_units = nal_units.into_iter();
        let layout = Layout::of(nal_units.clone());
        for (index, nal) in nal_units.enumerate() {
            if layout.sps_at == Some(index) {
                self.send_all(&parameter_sets.sps, &mut emit);
            }
            if layout.pps_at == Some(index) {
                self.send_all(&parameter_sets.pps, &mut emit);
            }
            if carried_nal_type(nal).is_some() {
                self.send(nal, layout.last == Some(index), &mut emit);
            }
        }
    }

    fn send_all(&mut self, nal_units: &[Vec<u8>], emit: &mut impl FnMut(&[u8], bool)) {
        for nal in nal_units {
            if carried_nal_type(nal).is_some() {
                self.send(nal, false, emit);
            }
        }
    }

    /// One NAL unit as one packet or as FU-A fragments.
    fn send(&mut self, nal: &[u8], marker: bool, emit: &mut impl FnMut(&[u8], bool)) {
        let Some((&header, body)) = nal.split_first() else {
            return;
        };
        if nal.len() <= self.max_payload {
            emit(nal, marker);
            return;
        }
        let indicator = (header & 0xE0) | FU_A;
        // `max_payload` is at least MIN_PAYLOAD, so each piece has a byte,
        // and the body is longer than one piece, so there are two or more.
        let piece_size = self.max_payload.saturating_sub(FU_HEADERS).max(1);
        let mut pieces = body.chunks(piece_size).peekable();
        let mut start = FU_START;
        while let Some(piece) = pieces.next() {
            let end = if pieces.peek().is_none() { FU_END } else { 0 };
            self.fragment.clear();
            self.fragment
                .extend_from_slice(&[indicator, start | end | nal_type(header)]);
            self.fragment.extend_from_slice(piece);
            emit(&self.fragment, marker && end != 0);
            start = 0;
        }
    }
}

/// What the first walk over an access unit finds. Indices count every NAL
/// unit the caller gives, sent or skipped.
#[derive(Debug)]
struct Layout {
    /// The last NAL unit sent, which takes the marker.
    last: Option<usize>,
    /// Where the stream's SPS go, if the unit needs them.
    sps_at: Option<usize>,
    /// Where the stream's PPS go, if the unit needs them.
    pps_at: Option<usize>,
}

impl Layout {
    fn of<'a>(nal_units: impl Iterator<Item = &'a [u8]>) -> Self {
        let (mut idr, mut has_sps, mut has_pps, mut seen_slice) = (false, false, false, false);
        let mut last = None;
        let mut after_delimiters = 0;
        let mut after_sps = 0;
        let mut opened = false;
        for (index, nal) in nal_units.enumerate() {
            let Some(kind) = carried_nal_type(nal) else {
                continue;
            };
            last = Some(index);
            let next = index.saturating_add(1);
            if kind == NAL_AUD && !opened {
                after_delimiters = next;
            } else {
                opened = true;
            }
            match kind {
                NAL_SPS => {
                    has_sps = true;
                    if !seen_slice {
                        after_sps = next;
                    }
                }
                NAL_PPS => has_pps = true,
                1..=NAL_IDR => {
                    seen_slice = true;
                    idr |= kind == NAL_IDR;
                }
                _ => {}
            }
        }
        // Both places are at or before the first IDR slice, so the send
        // walk reaches them and the marker stays on the unit's last NAL.
        Self {
            last,
            sps_at: (idr && !has_sps).then_some(after_delimiters),
            pps_at: (idr && !has_pps).then_some(after_delimiters.max(after_sps)),
        }
    }
}

#[cfg(test)]
#[allow(
    clippy::arithmetic_side_effects,
    reason = "tests count small known sizes"
)]
mod tests {
    use super::*;

    const SPS: &[u8] = &[0x67, 0x42, 0xc0, 0x1f];
    const PPS: &[u8] = &[0x68, 0xce, 0x3c, 0x80];
    const AUD: &[u8] = &[0x09, 0xf0];
    const SEI: &[u8] = &[0x06, 0x05, 0x01, 0xff];
    const IDR: &[u8] = &[0x65, 0x88, 0x84];
    const P_SLICE: &[u8] = &[0x41, 0x9a, 0x02];

    fn stream_sets() -> ParameterSets {
        ParameterSets {
            sps: vec![SPS.to_vec()],
            pps: vec![PPS.to_vec()],
        }
    }

    fn packets(
        max_payload: usize,
        nal_units: &[&[u8]],
        parameter_sets: &ParameterSets,
    ) -> Vec<(Vec<u8>, bool)> {
        let mut packets = Vec::new();
        Packetizer::new(max_payload).packetize(
            nal_units.iter().copied(),
            parameter_sets,
            |payload, marker| packets.push((payload.to_vec(), marker)),
        );
        packets
    }

    /// The payloads of an access unit whose NAL units all fit, with the
    /// marker on the last.
    fn single(nal_units: &[&[u8]]) -> Vec<(Vec<u8>, bool)> {
        let last = nal_units.len().saturating_sub(1);
        nal_units
            .iter()
            .enumerate()
            .map(|(index, nal)| (nal.to_vec(), index == last))
            .collect()
    }

    #[test]
    fn a_nal_unit_that_fits_is_one_packet() {
        assert_eq!(
            packets(1200, &[SEI, P_SLICE], &ParameterSets::default()),
            single(&[SEI, P_SLICE])
        );
    }

    #[test]
    fn a_larger_nal_unit_becomes_fu_a_fragments() {
        let nal = [0x65, 1, 2, 3, 4, 5, 6, 7];
        assert_eq!(
            packets(5, &[&nal], &ParameterSets::default()),
            [
                (vec![0x7c, 0x85, 1, 2, 3], false),
                (vec![0x7c, 0x05, 4, 5, 6], false),
                (vec![0x7c, 0x45, 7], true),
            ]
        );
    }

    #[test]
    fn the_fu_indicator_keeps_the_forbidden_bit_and_nri() {
        let nal = [0xa1, 1, 2, 3];
        assert_eq!(
            packets(3, &[&nal], &ParameterSets::default()),
            [
                (vec![0xbc, 0x81, 1], false),
                (vec![0xbc, 0x01, 2], false),
                (vec![0xbc, 0x41, 3], true),
            ]
        );
    }

    #[test]
    fn the_payload_limit_is_inclusive() {
        let nal: Vec<u8> = std::iter::once(0x41).chain(1..=99).collect();
        assert_eq!(packets(101, &[&nal], &ParameterSets::default()).len(), 1);
        assert_eq!(packets(100, &[&nal], &ParameterSets::default()).len(), 1);
        let fragments = packets(99, &[&nal], &ParameterSets::default());
        let sizes: Vec<usize> = fragments.iter().map(|(p, _)| p.len()).collect();
        assert_eq!(sizes, [99, 4]);
    }

    #[test]
    fn silly_limits_are_clamped() {
        assert_eq!(Packetizer::new(0).max_payload(), Packetizer::MIN_PAYLOAD);
        assert_eq!(Packetizer::new(2).max_payload(), Packetizer::MIN_PAYLOAD);
        assert_eq!(Packetizer::new(3).max_payload(), 3);
        assert_eq!(
            Packetizer::new(usize::MAX).max_payload(),
            Packetizer::MAX_PAYLOAD
        );
        assert_eq!(packets(0, &[IDR], &ParameterSets::default()).len(), 1);
        assert_eq!(
            packets(0, &[&[0x65, 1, 2, 3]], &ParameterSets::default()).len(),
            3
        );
    }

    #[test]
    fn an_idr_unit_without_parameter_sets_gets_the_streams_first() {
        assert_eq!(
            packets(1200, &[SEI, IDR, IDR], &stream_sets()),
            single(&[SPS, PPS, SEI, IDR, IDR])
        );
    }

    #[test]
    fn parameter_sets_follow_an_opening_delimiter() {
        assert_eq!(
            packets(1200, &[AUD, IDR], &stream_sets()),
            single(&[AUD, SPS, PPS, IDR])
        );
    }

    #[test]
    fn only_the_missing_kind_is_added() {
        let unit_sps: &[u8] = &[0x67, 0x64, 0x00, 0x28];
        let unit_pps: &[u8] = &[0x68, 0xeb];
        assert_eq!(
            packets(1200, &[unit_sps, SEI, IDR], &stream_sets()),
            single(&[unit_sps, PPS, SEI, IDR]),
            "a missing PPS follows the unit's SPS"
        );
        assert_eq!(
            packets(1200, &[SEI, unit_sps, IDR], &stream_sets()),
            single(&[SEI, unit_sps, PPS, IDR])
        );
        assert_eq!(
            packets(1200, &[unit_pps, IDR], &stream_sets()),
            single(&[SPS, unit_pps, IDR]),
            "a missing SPS goes first"
        );
        assert_eq!(
            packets(1200, &[unit_sps, unit_pps, IDR], &stream_sets()),
            single(&[unit_sps, unit_pps, IDR]),
            "nothing is repeated"
        );
    }

    #[test]
    fn units_without_an_idr_slice_get_no_parameter_sets() {
        assert_eq!(
            packets(1200, &[P_SLICE], &stream_sets()),
            single(&[P_SLICE])
        );
        assert_eq!(
            packets(1200, &[AUD, SEI], &stream_sets()),
            single(&[AUD, SEI])
        );
    }

    #[test]
    fn unknown_parameter_sets_add_nothing() {
        assert_eq!(
            packets(1200, &[IDR], &ParameterSets::default()),
            single(&[IDR])
        );
    }

    #[test]
    fn large_parameter_sets_are_fragmented_without_a_marker() {
        let sps: Vec<u8> = std::iter::once(0x67).chain(0..10).collect();
        let sets = ParameterSets {
            sps: vec![sps],
            pps: vec![PPS.to_vec()],
        };
        let sent = packets(6, &[IDR], &sets);
        let headers: Vec<(u8, u8, bool)> = sent
            .iter()
            .map(|(payload, marker)| (payload[0], payload.get(1).copied().unwrap_or(0), *marker))
            .collect();
        assert_eq!(
            headers,
            [
                (0x7c, 0x87, false),
                (0x7c, 0x07, false),
                (0x7c, 0x47, false),
                (0x68, 0xce, false),
                (0x65, 0x88, true),
            ]
        );
    }

    #[test]
    fn empty_and_unsendable_nal_units_are_skipped() {
        let stap: &[u8] = &[0x78, 0x00, 0x01, 0x41];
        let fu: &[u8] = &[0x7c, 0x85];
        let unspecified: &[u8] = &[0x00, 0x01];
        assert_eq!(
            packets(1200, &[P_SLICE, &[], stap, fu, unspecified], &stream_sets()),
            single(&[P_SLICE]),
            "the marker moves to the last NAL unit sent"
        );
        assert_eq!(packets(1200, &[&[], stap], &stream_sets()), []);
        assert_eq!(packets(1200, &[], &stream_sets()), []);
    }

    #[test]
    fn unsendable_stream_parameter_sets_are_skipped() {
        let sets = ParameterSets {
            sps: vec![Vec::new(), vec![0x78, 0x00]],
            pps: vec![PPS.to_vec()],
        };
        assert_eq!(packets(1200, &[IDR], &sets), single(&[PPS, IDR]));
    }
}
