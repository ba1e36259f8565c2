//! SPS parsing (H.264 §7.3.2.1.1) for what Waveguide needs: profile, level
//! and the real picture size (the client's VideoWidth/VideoHeight lie,
//! FTL-SPEC §3.3).

use super::bits::BitReader;
use super::{NAL_SPS, nal_type};

/// Largest picture side accepted from an SPS, in pixels.
pub const MAX_DIMENSION: u32 = 16_384;

/// What an SPS says that Waveguide needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sps {
    /// `profile_idc` (66 Baseline, 77 Main, 100 High, ...).
    pub profile_idc: u8,
    /// The constraint flags byte.
    pub constraint_flags: u8,
    /// `level_idc` (31 is level 3.1).
    pub level_idc: u8,
    /// Picture width in pixels, after cropping.
    pub width: u32,
    /// Picture height in pixels, after cropping.
    pub height: u32,
}

impl Sps {
    /// The SDP `profile-level-id`: profile, constraints and level, as hex.
    pub fn profile_level_id(&self) -> [u8; 3] {
        [self.profile_idc, self.constraint_flags, self.level_idc]
    }
}

/// Why an SPS could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SpsError {
    /// The NAL is not an SPS.
    #[error("NAL unit is not an SPS")]
    NotSps,
    /// The SPS ends before its fields do.
    #[error("SPS is truncated")]
    Truncated,
    /// A field has a value the standard does not allow.
    #[error("SPS has an out-of-range field")]
    OutOfRange,
    /// The picture is larger than [`MAX_DIMENSION`] or cropped to nothing.
    #[error("SPS picture size is out of range")]
    BadDimensions,
}

impl Sps {
    /// Parses an SPS NAL unit (with its one-byte header, without a start code),
    /// per H.264 §7.3.2.1.1. Emulation-prevention bytes are skipped as read.
    pub fn parse(nal: &[u8]) -> Result<Self, SpsError> {
        let (&header, rest) = nal.split_first().ok_or(SpsError::Truncated)?;
        if nal_type(header) != NAL_SPS {
            return Err(SpsError::NotSps);
        }
        let mut bits = BitReader::new(rest);
        let profile_idc = bits.byte()?;
        let constraint_flags = bits.byte()?;
        let level_idc = bits.byte()?;
        bits.ue_at_most(31)?; // seq_parameter_set_id
        let mut chroma_format_idc = 1;
        let mut separate_colour_planes = false;
        if matches!(
            profile_idc,
            100 | 110 | 122 | 244 | 44 | 83 | 86 | 118 | 128 | 138 | 139 | 134 | 135
        ) {
            chroma_format_idc = bits.ue_at_most(3)?;
            if chroma_format_idc == 3 {
                separate_colour_planes = bits.flag()?;
            }
            bits.ue_at_most(6)?; // bit_depth_luma_minus8
            bits.ue_at_most(6)?; // bit_depth_chroma_minus8
            bits.flag()?; // qpprime_y_zero_transform_bypass_flag
            if bits.flag()? {
                let lists = if chroma_format_idc == 3 { 12 } else { 8 };
                for list in 0..lists {
                    if bits.flag()? {
                        skip_scaling_list(&mut bits, if list < 6 { 16 } else { 64 })?;
                    }
                }
            }
        }
        bits.ue_at_most(12)?; // log2_max_frame_num_minus4
        match bits.ue_at_most(2)? {
            0 => {
                bits.ue_at_most(12)?; // log2_max_pic_order_cnt_lsb_minus4
            }
            1 => {
                bits.flag()?; // delta_pic_order_always_zero_flag
                bits.se()?; // offset_for_non_ref_pic
                bits.se()?; // offset_for_top_to_bottom_field
                for _ in 0..bits.ue_at_most(255)? {
                    bits.se()?; // offset_for_ref_frame
                }
            }
            _ => {}
        }
        bits.ue()?; // max_num_ref_frames
        bits.flag()?; // gaps_in_frame_num_value_allowed_flag
        let width_in_mbs = bits.ue()? + 1;
        let height_in_map_units = bits.ue()? + 1;
        let frame_mbs_only = bits.flag()?;
        if !frame_mbs_only {
            bits.flag()?; // mb_adaptive_frame_field_flag
        }
        bits.flag()?; // direct_8x8_inference_flag
        let (mut crop_left, mut crop_right, mut crop_top, mut crop_bottom) = (0, 0, 0, 0);
        if bits.flag()? {
            crop_left = bits.ue()?;
            crop_right = bits.ue()?;
            crop_top = bits.ue()?;
            crop_bottom = bits.ue()?;
        }
        let field_factor = if frame_mbs_only { 1 } else { 2 };
        let chroma_array_type = if separate_colour_planes {
            0
        } else {
            chroma_format_idc
        };
        let (crop_x, crop_y) = match chroma_array_type {
            0 => (1, field_factor),
            1 => (2, 2 * field_factor),
            2 => (2, field_factor),
            _ => (1, field_factor),
        };
        let size = |units: u32, unit: u32, crop_a: u32, crop_b: u32, crop_unit: u32| {
            let full = units.checked_mul(unit)?;
            let crop = crop_a.checked_add(crop_b)?.checked_mul(crop_unit)?;
            full.checked_sub(crop)
                .filter(|&side| side > 0 && full <= MAX_DIMENSION)
        };
        let width = size(width_in_mbs, 16, crop_left, crop_right, crop_x);
        let height = size(
            height_in_map_units,
            16 * field_factor,
            crop_top,
            crop_bottom,
            crop_y,
        );
        match (width, height) {
            (Some(width), Some(height)) => Ok(Self {
                profile_idc,
                constraint_flags,
                level_idc,
                width,
                height,
            }),
            _ => Err(SpsError::BadDimensions),
        }
    }
}

fn skip_scaling_list(bits: &mut BitReader<'_>, size: usize) -> Result<(), SpsError> {
    let mut last = 8i64;
    let mut next = 8i64;
    for _ in 0..size {
        if next != 0 {
            let delta = bits.se()?;
            if !(-128..=127).contains(&delta) {
                return Err(SpsError::OutOfRange);
            }
            next = (last + delta).rem_euclid(256);
        }
        if next != 0 {
            last = next;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Baseline 1280x720 (x264, level 3.1): 80 MBs by 45, no cropping.
    const SPS_720P_BASELINE: [u8; 11] = [
        0x67, 0x42, 0xc0, 0x1f, 0xda, 0x01, 0x40, 0x16, 0xe8, 0x40, 0x00,
    ];
    /// High 1920x1080 (x264, level 4.0): 120 by 68 MBs cropped by 8 lines.
    const SPS_1080P_HIGH: [u8; 25] = [
        0x67, 0x64, 0x00, 0x28, 0xac, 0xd9, 0x40, 0x78, 0x02, 0x27, 0xe5, 0xc0, 0x44, 0x00, 0x00,
        0x03, 0x00, 0x04, 0x00, 0x00, 0x03, 0x00, 0xf0, 0x3c, 0x60,
    ];

    #[test]
    fn sps_720p_baseline() {
        let sps = Sps::parse(&SPS_720P_BASELINE).unwrap();
        assert_eq!((sps.width, sps.height), (1280, 720));
        assert_eq!(sps.profile_level_id(), [0x42, 0xc0, 0x1f]);
    }

    #[test]
    fn sps_1080p_high_with_cropping_and_emulation_prevention() {
        let sps = Sps::parse(&SPS_1080P_HIGH).unwrap();
        assert_eq!((sps.width, sps.height), (1920, 1080));
        assert_eq!(sps.profile_level_id(), [0x64, 0x00, 0x28]);
    }

    #[test]
    fn truncated_sps_fails_or_reads_the_same() {
        for sps in [&SPS_720P_BASELINE[..], &SPS_1080P_HIGH[..]] {
            let full = Sps::parse(sps).unwrap();
            for len in 0..sps.len() {
                match Sps::parse(&sps[..len]) {
                    Ok(truncated) => assert_eq!(truncated, full, "length {len}"),
                    Err(error) => assert_eq!(error, SpsError::Truncated, "length {len}"),
                }
            }
            assert_eq!(Sps::parse(&sps[..5]), Err(SpsError::Truncated));
        }
    }

    #[test]
    fn not_an_sps() {
        assert_eq!(Sps::parse(&[0x68, 0x42]), Err(SpsError::NotSps));
    }

    /// Writes SPS fields as RBSP bits, then escapes them as an encoder does.
    struct SpsWriter {
        bits: Vec<bool>,
    }

    impl SpsWriter {
        fn new(profile_idc: u8, constraint_flags: u8, level_idc: u8) -> Self {
            let mut writer = Self { bits: Vec::new() };
            for byte in [profile_idc, constraint_flags, level_idc] {
                writer.u(8, u64::from(byte));
            }
            writer
        }

        fn u(&mut self, width: u32, value: u64) -> &mut Self {
            self.bits
                .extend((0..width).rev().map(|i| (value >> i) & 1 == 1));
            self
        }

        fn ue(&mut self, value: u64) -> &mut Self {
            let code = value + 1;
            let width = 64 - code.leading_zeros();
            self.u(width - 1, 0).u(width, code)
        }

        fn se(&mut self, value: i64) -> &mut Self {
            let code = if value > 0 { 2 * value - 1 } else { -2 * value };
            self.ue(code as u64)
        }

        /// The NAL: header, then the RBSP with a stop bit, with `03` put after
        /// every `00 00` that precedes a byte ≤ 3 (H.264 §7.4.1).
        fn finish(&mut self) -> (Vec<u8>, usize) {
            self.bits.push(true);
            while !self.bits.len().is_multiple_of(8) {
                self.bits.push(false);
            }
            let rbsp: Vec<u8> = self
                .bits
                .chunks(8)
                .map(|c| c.iter().fold(0, |acc, &b| (acc << 1) | u8::from(b)))
                .collect();
            let mut nal = vec![0x67];
            let mut zeros = 0;
            let mut inserted = 0;
            for byte in rbsp {
                if zeros >= 2 && byte <= 3 {
                    nal.push(3);
                    inserted += 1;
                    zeros = 0;
                }
                nal.push(byte);
                zeros = if byte == 0 { zeros + 1 } else { 0 };
            }
            (nal, inserted)
        }
    }

    #[test]
    fn emulation_prevention_inside_the_fields_is_skipped() {
        // pic_order_cnt_type 1 with a huge offset_for_non_ref_pic: its
        // exp-Golomb code is mostly zero bits, so the encoder must escape.
        let mut writer = SpsWriter::new(66, 0xc0, 31);
        writer.ue(0).ue(0).ue(1).u(1, 0).se(-(1 << 30)).se(0).ue(0);
        writer
            .ue(1)
            .u(1, 0)
            .ue(79)
            .ue(44)
            .u(1, 1)
            .u(1, 1)
            .u(1, 0)
            .u(1, 0);
        let (nal, inserted) = writer.finish();
        assert!(
            inserted > 0,
            "the fixture must contain an emulation-prevention byte"
        );
        let sps = Sps::parse(&nal).unwrap();
        assert_eq!((sps.width, sps.height), (1280, 720));
    }

    #[test]
    fn high_profile_with_scaling_lists_and_field_coding() {
        let mut writer = SpsWriter::new(100, 0, 40);
        writer.ue(0).ue(1).ue(0).ue(0).u(1, 0); // id, chroma 4:2:0, depths, bypass
        writer.u(1, 1); // seq_scaling_matrix_present_flag
        for list in 0..8 {
            if list == 1 || list == 6 {
                writer.u(1, 1);
                let size = if list < 6 { 16 } else { 64 };
                for i in 0..size {
                    writer.se(match i {
                        0 => 8,
                        _ if i % 2 == 0 => 1,
                        _ => -1,
                    });
                }
            } else {
                writer.u(1, 0);
            }
        }
        writer.ue(0).ue(0).ue(0); // frame_num, poc type 0, poc lsb
        // 1920 wide, 34 map units of 32 lines (field coding), then crop 2 units of 4 lines.
        writer.ue(4).u(1, 0).ue(119).ue(33).u(1, 0).u(1, 0).u(1, 1);
        writer.u(1, 1).ue(0).ue(0).ue(0).ue(2).u(1, 0);
        let (nal, _) = writer.finish();
        let sps = Sps::parse(&nal).unwrap();
        assert_eq!((sps.width, sps.height), (1920, 1080));
        assert_eq!(sps.profile_level_id(), [100, 0, 40]);
    }

    #[test]
    fn huge_width_is_rejected() {
        let mut writer = SpsWriter::new(66, 0, 31);
        writer.ue(0).ue(0).ue(2).ue(1).u(1, 0).ue(1 << 20).ue(44);
        writer.u(1, 1).u(1, 1).u(1, 0).u(1, 0);
        let (nal, _) = writer.finish();
        assert_eq!(Sps::parse(&nal), Err(SpsError::BadDimensions));
        let mut writer = SpsWriter::new(66, 0, 31);
        writer.ue(0).ue(0).ue(2).ue(1).u(1, 0).ue(1023).ue(44);
        writer.u(1, 1).u(1, 1).u(1, 0).u(1, 0);
        let (nal, _) = writer.finish();
        assert_eq!(
            Sps::parse(&nal).map(|s| s.width),
            Ok(16_384),
            "MAX_DIMENSION itself is allowed"
        );
    }

    #[test]
    fn cropping_everything_is_rejected() {
        let mut writer = SpsWriter::new(66, 0, 31);
        writer
            .ue(0)
            .ue(0)
            .ue(2)
            .ue(1)
            .u(1, 0)
            .ue(0)
            .ue(0)
            .u(1, 1)
            .u(1, 1);
        writer.u(1, 1).ue(8).ue(0).ue(0).ue(0).u(1, 0);
        let (nal, _) = writer.finish();
        assert_eq!(Sps::parse(&nal), Err(SpsError::BadDimensions));
    }

    #[test]
    fn sps_writer_matches_a_real_encoder() {
        let mut writer = SpsWriter::new(0x42, 0xc0, 0x1f);
        writer.ue(0).ue(0).ue(2).ue(1).u(1, 0).ue(79).ue(44);
        writer.u(1, 1).u(1, 1).u(1, 0).u(1, 0);
        let (nal, _) = writer.finish();
        assert_eq!(Sps::parse(&nal), Sps::parse(&SPS_720P_BASELINE));
    }
}
