//! The RBSP bit reader for parameter sets: fixed-width fields and
//! Exp-Golomb codes, with emulation-prevention bytes dropped as read
//! (H.264 §7.4.1, §9.1).

use super::sps::SpsError;

/// Reads RBSP bits, dropping the `03` of every `00 00 03` as it goes.
pub(super) struct BitReader<'a> {
    bytes: &'a [u8],
    at: usize,
    current: u8,
    bits_left: u8,
    zeros: u8,
}

impl<'a> BitReader<'a> {
    pub(super) fn new(bytes: &'a [u8]) -> Self {
        Self {
            bytes,
            at: 0,
            current: 0,
            bits_left: 0,
            zeros: 0,
        }
    }

    fn next_byte(&mut self) -> Result<u8, SpsError> {
        let mut byte = *self.bytes.get(self.at).ok_or(SpsError::Truncated)?;
        self.at += 1;
        if self.zeros >= 2 && byte == 0x03 {
            self.zeros = 0;
            byte = *self.bytes.get(self.at).ok_or(SpsError::Truncated)?;
            self.at += 1;
        }
        self.zeros = if byte == 0 {
            self.zeros.saturating_add(1)
        } else {
            0
        };
        Ok(byte)
    }

    pub(super) fn flag(&mut self) -> Result<bool, SpsError> {
        if self.bits_left == 0 {
            self.current = self.next_byte()?;
            self.bits_left = 8;
        }
        self.bits_left -= 1;
        Ok((self.current >> self.bits_left) & 1 == 1)
    }

    pub(super) fn byte(&mut self) -> Result<u8, SpsError> {
        let mut value = 0u8;
        for _ in 0..8 {
            value = (value << 1) | u8::from(self.flag()?);
        }
        Ok(value)
    }

    /// Exp-Golomb unsigned; at most 31 leading zeros, so it fits a `u32`.
    pub(super) fn ue(&mut self) -> Result<u32, SpsError> {
        let mut leading_zeros = 0u32;
        while !self.flag()? {
            leading_zeros += 1;
            if leading_zeros > 31 {
                return Err(SpsError::OutOfRange);
            }
        }
        let mut suffix = 0u64;
        for _ in 0..leading_zeros {
            suffix = (suffix << 1) | u64::from(self.flag()?);
        }
        let value = (1u64 << leading_zeros) - 1 + suffix;
        u32::try_from(value).map_err(|_| SpsError::OutOfRange)
    }

    pub(super) fn ue_at_most(&mut self, max: u32) -> Result<u32, SpsError> {
        let value = self.ue()?;
        if value > max {
            return Err(SpsError::OutOfRange);
        }
        Ok(value)
    }

    /// Exp-Golomb signed.
    pub(super) fn se(&mut self) -> Result<i64, SpsError> {
        let code = i64::from(self.ue()?);
        Ok(if code % 2 == 1 {
            (code + 1) / 2
        } else {
            -(code / 2)
        })
    }
}
