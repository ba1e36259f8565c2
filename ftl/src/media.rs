//! Media datagram classification: one UDP payload in, exactly one of ping,
//! sender report, video RTP, audio RTP or a drop with its reason out, in the
//! order FTL-SPEC §4.6 gives. Zero-copy views; no allocation.

/// Largest datagram accepted. ftl-sdk's video packets are at most 1392 bytes
/// and its audio packets at most 1500 (FTL-SPEC §4.2).
pub const MAX_DATAGRAM_LEN: usize = 1500;

/// Second byte of an FTL ping (RTP marker + PT 122) (FTL-SPEC §4.3).
pub const PING_MARKER: u8 = 0xFA;

/// Second byte of an RTCP sender report (PT 200) (FTL-SPEC §4.4).
pub const SENDER_REPORT_MARKER: u8 = 0xC8;

/// Length of an RTCP sender report without report blocks.
pub const SENDER_REPORT_LEN: usize = 28;

const RTP_HEADER_LEN: usize = 12;

/// One announced track: the payload type and SSRC its packets carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrackParams {
    /// RTP payload type.
    pub payload_type: u8,
    /// RTP SSRC.
    pub ssrc: u32,
}

/// The tracks a media socket accepts, from the handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MediaParams {
    /// The video track, if announced.
    pub video: Option<TrackParams>,
    /// The audio track, if announced.
    pub audio: Option<TrackParams>,
}

/// What a datagram is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Datagram<'a> {
    /// An FTL ping: echo these exact bytes back to the sender.
    Ping(&'a [u8]),
    /// An RTCP sender report for one of the tracks.
    SenderReport(SenderReport),
    /// A video RTP packet.
    Video(RtpPacket<'a>),
    /// An audio RTP packet.
    Audio(RtpPacket<'a>),
    /// Not acceptable; count it and drop it.
    Drop(DropReason),
}

/// Why a datagram was dropped. Doubles as a counter key: see
/// [`DropReason::ALL`] and [`DropReason::as_str`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DropReason {
    /// Shorter than any FTL datagram.
    TooShort,
    /// Longer than [`MAX_DATAGRAM_LEN`].
    TooLong,
    /// The version bits are not 2.
    BadVersion,
    /// A sender report shorter than 28 bytes or shorter than its length field.
    MalformedSenderReport,
    /// A sender report for an SSRC no track announced.
    UnknownSenderReportSsrc,
    /// The CSRC list runs past the end.
    CsrcOverrun,
    /// The header extension is cut short or runs past the end.
    BadExtension,
    /// The padding count is 0 or larger than the payload.
    BadPadding,
    /// The payload type belongs to no announced track.
    UnknownPayloadType,
    /// The payload type belongs to a track, the SSRC does not.
    UnknownSsrc,
}

impl DropReason {
    /// Every reason, for counter tables.
    pub const ALL: [DropReason; 10] = [
        Self::TooShort,
        Self::TooLong,
        Self::BadVersion,
        Self::MalformedSenderReport,
        Self::UnknownSenderReportSsrc,
        Self::CsrcOverrun,
        Self::BadExtension,
        Self::BadPadding,
        Self::UnknownPayloadType,
        Self::UnknownSsrc,
    ];

    /// A stable snake_case name for metrics and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::TooShort => "too_short",
            Self::TooLong => "too_long",
            Self::BadVersion => "bad_version",
            Self::MalformedSenderReport => "malformed_sender_report",
            Self::UnknownSenderReportSsrc => "unknown_sender_report_ssrc",
            Self::CsrcOverrun => "csrc_overrun",
            Self::BadExtension => "bad_extension",
            Self::BadPadding => "bad_padding",
            Self::UnknownPayloadType => "unknown_payload_type",
            Self::UnknownSsrc => "unknown_ssrc",
        }
    }

    /// The position of this reason in [`DropReason::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }
}

/// A sender report's fields (RFC 3550 §6.4.1), for A/V sync.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SenderReport {
    /// The SSRC of the track it describes.
    pub ssrc: u32,
    /// NTP timestamp, 32.32 fixed point.
    pub ntp_time: u64,
    /// The RTP timestamp matching `ntp_time`.
    pub rtp_time: u32,
    /// Packets sent so far.
    pub packet_count: u32,
    /// Payload octets sent so far.
    pub octet_count: u32,
}

/// A view of an RTP packet inside a datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpPacket<'a> {
    /// The marker bit: the last packet of a video frame.
    pub marker: bool,
    /// The payload type.
    pub payload_type: u8,
    /// The sequence number.
    pub sequence: u16,
    /// The RTP timestamp.
    pub timestamp: u32,
    /// The SSRC.
    pub ssrc: u32,
    /// The payload, after CSRCs and extension, before padding.
    pub payload: &'a [u8],
}

fn be_u32(bytes: &[u8], at: usize) -> Option<u32> {
    let field = bytes.get(at..at.checked_add(4)?)?;
    Some(u32::from_be_bytes([field[0], field[1], field[2], field[3]]))
}

fn be_u16(bytes: &[u8], at: usize) -> Option<u16> {
    let field = bytes.get(at..at.checked_add(2)?)?;
    Some(u16::from_be_bytes([field[0], field[1]]))
}

/// Classifies one datagram from an FTL media socket. Total: every input maps
/// to exactly one [`Datagram`], and nothing panics.
pub fn classify<'a>(datagram: &'a [u8], params: &MediaParams) -> Datagram<'a> {
    let (first, second) = match datagram {
        [first, second, ..] => (*first, *second),
        _ => return Datagram::Drop(DropReason::TooShort),
    };
    if datagram.len() > MAX_DATAGRAM_LEN {
        return Datagram::Drop(DropReason::TooLong);
    }
    if first >> 6 != 2 {
        return Datagram::Drop(DropReason::BadVersion);
    }
    // Pings and sender reports first: seen as RTP they would be PT 122 / 72
    // with the marker set, and a 12-byte Windows ping claims a CSRC (§4.3).
    if second == PING_MARKER {
        return Datagram::Ping(datagram);
    }
    if second == SENDER_REPORT_MARKER {
        return classify_sender_report(datagram, params);
    }
    match parse_rtp(datagram) {
        Ok(packet) => {
            let matches = |track: Option<TrackParams>| {
                track.map(|t| (t.payload_type == packet.payload_type, t.ssrc == packet.ssrc))
            };
            match (matches(params.video), matches(params.audio)) {
                (Some((true, true)), _) => Datagram::Video(packet),
                (_, Some((true, true))) => Datagram::Audio(packet),
                (Some((true, false)), _) | (_, Some((true, false))) => {
                    Datagram::Drop(DropReason::UnknownSsrc)
                }
                _ => Datagram::Drop(DropReason::UnknownPayloadType),
            }
        }
        Err(reason) => Datagram::Drop(reason),
    }
}

fn classify_sender_report<'a>(datagram: &'a [u8], params: &MediaParams) -> Datagram<'a> {
    // The length field counts 32-bit words minus one (RFC 3550 §6.4.1).
    let declared = be_u16(datagram, 2).map(|words| (usize::from(words) + 1) * 4);
    let (
        Some(declared),
        Some(ssrc),
        Some(ntp_high),
        Some(ntp_low),
        Some(rtp_time),
        Some(packet_count),
        Some(octet_count),
    ) = (
        declared,
        be_u32(datagram, 4),
        be_u32(datagram, 8),
        be_u32(datagram, 12),
        be_u32(datagram, 16),
        be_u32(datagram, 20),
        be_u32(datagram, 24),
    )
    else {
        return Datagram::Drop(DropReason::MalformedSenderReport);
    };
    if declared < SENDER_REPORT_LEN || declared > datagram.len() {
        return Datagram::Drop(DropReason::MalformedSenderReport);
    }
    let known = [params.video, params.audio]
        .into_iter()
        .flatten()
        .any(|track| track.ssrc == ssrc);
    if !known {
        return Datagram::Drop(DropReason::UnknownSenderReportSsrc);
    }
    Datagram::SenderReport(SenderReport {
        ssrc,
        ntp_time: (u64::from(ntp_high) << 32) | u64::from(ntp_low),
        rtp_time,
        packet_count,
        octet_count,
    })
}

/// Parses an RTP packet (RFC 3550 §5.1), rejecting any header whose CSRC list,
/// extension or padding does not fit instead of underflowing.
pub fn parse_rtp(datagram: &[u8]) -> Result<RtpPacket<'_>, DropReason> {
    let header = datagram.get(..RTP_HEADER_LEN).ok_or(DropReason::TooShort)?;
    if header[0] >> 6 != 2 {
        return Err(DropReason::BadVersion);
    }
    let padded = header[0] & 0x20 != 0;
    let extended = header[0] & 0x10 != 0;
    let csrc_count = usize::from(header[0] & 0x0F);
    let mut payload_start = RTP_HEADER_LEN + 4 * csrc_count;
    if payload_start > datagram.len() {
        return Err(DropReason::CsrcOverrun);
    }
    if extended {
        let words = be_u16(datagram, payload_start + 2).ok_or(DropReason::BadExtension)?;
        payload_start += 4 + 4 * usize::from(words);
        if payload_start > datagram.len() {
            return Err(DropReason::BadExtension);
        }
    }
    let mut payload_end = datagram.len();
    if padded {
        let padding = usize::from(datagram[datagram.len() - 1]);
        if padding == 0 || padding > payload_end - payload_start {
            return Err(DropReason::BadPadding);
        }
        payload_end -= padding;
    }
    Ok(RtpPacket {
        marker: header[1] & 0x80 != 0,
        payload_type: header[1] & 0x7F,
        sequence: u16::from_be_bytes([header[2], header[3]]),
        timestamp: u32::from_be_bytes([header[4], header[5], header[6], header[7]]),
        ssrc: u32::from_be_bytes([header[8], header[9], header[10], header[11]]),
        payload: &datagram[payload_start..payload_end],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PARAMS: MediaParams = MediaParams {
        video: Some(TrackParams {
            payload_type: 96,
            ssrc: 124,
        }),
        audio: Some(TrackParams {
            payload_type: 97,
            ssrc: 123,
        }),
    };

    fn rtp(first: u8, second: u8, ssrc: u32, rest: &[u8]) -> Vec<u8> {
        let mut packet = vec![first, second, 0x00, 0x0c, 0, 0, 0x19, 0x3a];
        packet.extend_from_slice(&ssrc.to_be_bytes());
        packet.extend_from_slice(rest);
        packet
    }

    #[test]
    fn lengths_0_1_2_11_12_13() {
        assert_eq!(classify(&[], &PARAMS), Datagram::Drop(DropReason::TooShort));
        assert_eq!(
            classify(&[0x80], &PARAMS),
            Datagram::Drop(DropReason::TooShort)
        );
        assert_eq!(
            classify(&[0x80, 0x60], &PARAMS),
            Datagram::Drop(DropReason::TooShort)
        );
        assert_eq!(
            classify(&[0x80, 0x60, 0, 0, 0, 0, 0, 0, 0, 0, 0], &PARAMS),
            Datagram::Drop(DropReason::TooShort)
        );
        let header_only = rtp(0x80, 0x60, 124, &[]);
        assert!(
            matches!(classify(&header_only, &PARAMS), Datagram::Video(p) if p.payload.is_empty())
        );
        let one_byte = rtp(0x80, 0x60, 124, &[0x41]);
        assert!(matches!(classify(&one_byte, &PARAMS), Datagram::Video(p) if p.payload == [0x41]));
    }

    #[test]
    fn pings_are_echoed_not_parsed() {
        let linux = [
            0x81, 0xfa, 0x00, 0x18, 0, 0, 0, 0, 0x35, 0x46, 0x05, 0x6b, 0, 0, 0, 0, 0xa2, 0xdd,
            0x05, 0, 0, 0, 0, 0,
        ];
        assert_eq!(classify(&linux, &PARAMS), Datagram::Ping(&linux[..]));
        // The 12-byte Windows ping claims CC=1, which a strict RTP parse rejects.
        let windows = [0x81, 0xfa, 0x00, 0x0c, 0, 0, 0, 0, 0x35, 0x46, 0x05, 0x6b];
        assert_eq!(classify(&windows, &PARAMS), Datagram::Ping(&windows[..]));
        assert_eq!(
            classify(&[0x01, 0xfa, 0, 0x0c], &PARAMS),
            Datagram::Drop(DropReason::BadVersion)
        );
    }

    #[test]
    fn sender_report_from_the_wire() {
        let sr = [
            0x80, 0xc8, 0x00, 0x06, 0x00, 0x00, 0x00, 0x7c, 0xee, 0xaf, 0xc4, 0xb6, 0x64, 0x57,
            0x70, 0x00, 0x00, 0x00, 0x0b, 0xe4, 0x00, 0x00, 0x00, 0x0a, 0x00, 0x00, 0x30, 0x58,
        ];
        assert_eq!(
            classify(&sr, &PARAMS),
            Datagram::SenderReport(SenderReport {
                ssrc: 124,
                ntp_time: 0xeeaf_c4b6_6457_7000,
                rtp_time: 0x0be4,
                packet_count: 10,
                octet_count: 0x3058,
            })
        );
        assert_eq!(
            classify(&sr[..27], &PARAMS),
            Datagram::Drop(DropReason::MalformedSenderReport)
        );
        let mut long = sr.to_vec();
        long.push(0);
        assert!(matches!(
            classify(&long, &PARAMS),
            Datagram::SenderReport(_)
        ));
        let mut huge = sr.to_vec();
        huge.resize(1500, 0);
        assert!(matches!(
            classify(&huge, &PARAMS),
            Datagram::SenderReport(_)
        ));
        let mut lying = sr;
        lying[3] = 0x07;
        assert_eq!(
            classify(&lying, &PARAMS),
            Datagram::Drop(DropReason::MalformedSenderReport)
        );
        let mut with_report_block = sr;
        with_report_block[0] = 0x81;
        assert!(matches!(
            classify(&with_report_block, &PARAMS),
            Datagram::SenderReport(_)
        ));
        let mut version_one = sr;
        version_one[0] = 0x40;
        assert_eq!(
            classify(&version_one, &PARAMS),
            Datagram::Drop(DropReason::BadVersion)
        );
        let mut stranger = sr;
        stranger[7] = 0x99;
        assert_eq!(
            classify(&stranger, &PARAMS),
            Datagram::Drop(DropReason::UnknownSenderReportSsrc)
        );
    }

    #[test]
    fn rtp_versions_other_than_2() {
        for first in [0x00, 0x40, 0xc0] {
            assert_eq!(
                classify(&rtp(first, 0x60, 124, &[1]), &PARAMS),
                Datagram::Drop(DropReason::BadVersion)
            );
        }
    }

    #[test]
    fn padding_abuse() {
        assert_eq!(
            classify(&rtp(0xa0, 0x60, 124, &[1, 2, 0]), &PARAMS),
            Datagram::Drop(DropReason::BadPadding)
        );
        assert_eq!(
            classify(&rtp(0xa0, 0x60, 124, &[1, 2, 4]), &PARAMS),
            Datagram::Drop(DropReason::BadPadding)
        );
        assert!(
            matches!(classify(&rtp(0xa0, 0x60, 124, &[1, 2, 3]), &PARAMS), Datagram::Video(p) if p.payload.is_empty())
        );
        assert!(
            matches!(classify(&rtp(0xa0, 0x60, 124, &[9, 0, 2]), &PARAMS), Datagram::Video(p) if p.payload == [9])
        );
    }

    #[test]
    fn extension_abuse() {
        // Length 0xffff words points far past the end (the janus underflow).
        assert_eq!(
            classify(&rtp(0x90, 0x60, 124, &[0xbe, 0xde, 0xff, 0xff]), &PARAMS),
            Datagram::Drop(DropReason::BadExtension)
        );
        assert_eq!(
            classify(&rtp(0x90, 0x60, 124, &[0xbe, 0xde]), &PARAMS),
            Datagram::Drop(DropReason::BadExtension)
        );
        assert!(
            matches!(classify(&rtp(0x90, 0x60, 124, &[0xbe, 0xde, 0, 0, 7]), &PARAMS), Datagram::Video(p) if p.payload == [7])
        );
        assert!(
            matches!(classify(&rtp(0x90, 0x60, 124, &[0xbe, 0xde, 0, 1, 1, 2, 3, 4]), &PARAMS), Datagram::Video(p) if p.payload.is_empty())
        );
    }

    #[test]
    fn csrc_abuse() {
        assert_eq!(
            classify(&rtp(0x8f, 0x60, 124, &[]), &PARAMS),
            Datagram::Drop(DropReason::CsrcOverrun)
        );
        assert!(
            matches!(classify(&rtp(0x81, 0x60, 124, &[0, 0, 0, 1]), &PARAMS), Datagram::Video(p) if p.payload.is_empty())
        );
        // CSRC and extension exactly consume the packet.
        assert!(matches!(
            classify(&rtp(0x91, 0x60, 124, &[0, 0, 0, 1, 0xbe, 0xde, 0, 1, 0, 0, 0, 0]), &PARAMS),
            Datagram::Video(p) if p.payload.is_empty()
        ));
    }

    #[test]
    fn demux_by_payload_type_and_ssrc() {
        assert!(
            matches!(classify(&rtp(0x80, 0xe0, 124, &[0x41]), &PARAMS), Datagram::Video(p) if p.marker)
        );
        assert!(
            matches!(classify(&rtp(0x80, 0xe1, 123, &[0xfc]), &PARAMS), Datagram::Audio(p) if p.marker)
        );
        assert_eq!(
            classify(&rtp(0x80, 0x60, 999, &[1]), &PARAMS),
            Datagram::Drop(DropReason::UnknownSsrc)
        );
        assert_eq!(
            classify(&rtp(0x80, 0x62, 124, &[1]), &PARAMS),
            Datagram::Drop(DropReason::UnknownPayloadType)
        );
        assert_eq!(
            classify(&rtp(0x80, 0x60, 123, &[1]), &PARAMS),
            Datagram::Drop(DropReason::UnknownSsrc)
        );
        // PT 72 or 122 with the marker set look like a sender report or a ping.
        assert!(matches!(
            classify(&rtp(0x80, 0xc8, 124, &[1]), &PARAMS),
            Datagram::Drop(DropReason::MalformedSenderReport)
        ));
        assert!(matches!(
            classify(&rtp(0x80, 0xfa, 124, &[1]), &PARAMS),
            Datagram::Ping(_)
        ));
        assert_eq!(
            classify(&rtp(0x80, 0x60, 124, &[1]), &MediaParams::default()),
            Datagram::Drop(DropReason::UnknownPayloadType)
        );
    }

    #[test]
    fn oversized() {
        let mut big = rtp(0x80, 0x60, 124, &[]);
        big.resize(MAX_DATAGRAM_LEN, 0);
        assert!(matches!(classify(&big, &PARAMS), Datagram::Video(_)));
        big.push(0);
        assert_eq!(classify(&big, &PARAMS), Datagram::Drop(DropReason::TooLong));
        big.resize(65_507, 0);
        assert_eq!(classify(&big, &PARAMS), Datagram::Drop(DropReason::TooLong));
    }

    #[test]
    fn drop_reason_indexes_match_all() {
        for (i, reason) in DropReason::ALL.iter().enumerate() {
            assert_eq!(reason.index(), i);
        }
    }
}
