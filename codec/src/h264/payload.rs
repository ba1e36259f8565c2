//! H.264 helpers for RTP payloads (RFC 6184): keyframe detection on single
//! NAL, STAP-A and FU-A packets, and finding the SPS a payload carries.

use super::stap_a::aggregated_nal_units;
use super::{FU_A, NAL_IDR, NAL_SPS, STAP_A, nal_type};

fn starts_keyframe(nal_type: u8) -> bool {
    nal_type == NAL_IDR || nal_type == NAL_SPS
}

/// Whether this RTP payload carries an SPS or the start of an IDR slice: a
/// single NAL of either type, a STAP-A holding one, or an FU-A whose start
/// fragment is one. Continuation fragments and other types are not.
pub fn is_keyframe(payload: &[u8]) -> bool {
    let Some(&header) = payload.first() else {
        return false;
    };
    match nal_type(header) {
        STAP_A => aggregated_nal_units(payload)
            .map_while(Result::ok)
            .any(|nal| nal.first().is_some_and(|&h| starts_keyframe(nal_type(h)))),
        FU_A => payload
            .get(1)
            .is_some_and(|&fu| fu & 0x80 != 0 && starts_keyframe(nal_type(fu))),
        single @ 1..=23 => starts_keyframe(single),
        _ => false,
    }
}

/// The SPS NAL unit in this RTP payload, if it is a single SPS NAL or a
/// STAP-A holding one. ftl-sdk sends SPS as a single NAL (FTL-SPEC §4.2).
pub fn sps_in_payload(payload: &[u8]) -> Option<&[u8]> {
    let header = *payload.first()?;
    match nal_type(header) {
        NAL_SPS => Some(payload),
        STAP_A => aggregated_nal_units(payload)
            .map_while(Result::ok)
            .find(|nal| nal.first().is_some_and(|&h| nal_type(h) == NAL_SPS)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Baseline 1280x720 (x264, level 3.1).
    const SPS_720P_BASELINE: [u8; 11] = [
        0x67, 0x42, 0xc0, 0x1f, 0xda, 0x01, 0x40, 0x16, 0xe8, 0x40, 0x00,
    ];

    #[test]
    fn keyframe_detection() {
        assert!(is_keyframe(&[0x67, 0x42]), "SPS");
        assert!(is_keyframe(&[0x65, 0x88]), "IDR");
        assert!(!is_keyframe(&[0x68, 0xcb]), "PPS alone");
        assert!(!is_keyframe(&[0x41, 0x9a]), "P slice");
        assert!(is_keyframe(&[0x7c, 0x85]), "FU-A start of IDR");
        assert!(!is_keyframe(&[0x7c, 0x05]), "FU-A continuation of IDR");
        assert!(!is_keyframe(&[0x7c, 0x45]), "FU-A end without start");
        assert!(is_keyframe(&[0x7c, 0xc5]), "FU-A with S and E");
        assert!(!is_keyframe(&[0x5c, 0x81]), "FU-A start of P slice");
        assert!(!is_keyframe(&[0x7c]), "FU-A header only");
        assert!(
            is_keyframe(&[0x78, 0x00, 0x02, 0x67, 0x42, 0x00, 0x02, 0x68, 0xcb]),
            "STAP-A with SPS"
        );
        assert!(
            !is_keyframe(&[0x78, 0x00, 0x02, 0x41, 0x9a]),
            "STAP-A with P"
        );
        assert!(
            !is_keyframe(&[0x78, 0xff, 0xff, 0x67]),
            "STAP-A size past end"
        );
        assert!(
            !is_keyframe(&[0x78, 0x00, 0x00, 0x00, 0x02, 0x67, 0x42]),
            "STAP-A zero-size NAL stops"
        );
        assert!(!is_keyframe(&[]));
        for header in [0x00, 0x19, 0x1a, 0x1b, 0x1d, 0x1e, 0x1f] {
            assert!(!is_keyframe(&[header, 0x85]), "type {header}");
        }
        for inner in [0x80, 0x98, 0x9c, 0x9f] {
            assert!(!is_keyframe(&[0x7c, inner]), "FU-A inner {inner:#x}");
        }
    }

    #[test]
    fn sps_found_in_payloads() {
        assert_eq!(
            sps_in_payload(&SPS_720P_BASELINE),
            Some(&SPS_720P_BASELINE[..])
        );
        let mut stap = vec![0x78, 0x00, SPS_720P_BASELINE.len() as u8];
        stap.extend_from_slice(&SPS_720P_BASELINE);
        assert_eq!(sps_in_payload(&stap), Some(&SPS_720P_BASELINE[..]));
        assert_eq!(sps_in_payload(&[0x65, 0x88]), None);
        assert_eq!(sps_in_payload(&[]), None);
    }
}
