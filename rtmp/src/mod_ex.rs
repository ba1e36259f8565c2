//! Enhanced RTMP modifier extensions (ModEx packets), counted before
//! scuffle-flv reads a tag header. It collects every one into a `Vec` of
//! about 40 bytes per entry from as little as three bytes of input, so a
//! 10 MiB tag of them would cost over 100 MiB; real encoders send one, if any.

use crate::error::TagError;

/// Modifier extensions accepted before a tag's packet type.
pub const MAX_MODIFIER_EXTENSIONS: usize = 4;

/// The packet type that says a modifier extension follows, in audio and video.
const MOD_EX: u8 = 7;

/// Checks the chain of modifier extensions an Enhanced RTMP tag starts with
/// (the packet type in its first byte's low four bits). A chain cut short is
/// left for the demuxer to report.
pub fn check(tag: &[u8]) -> Result<(), TagError> {
    let Some((&first, mut rest)) = tag.split_first() else {
        return Ok(());
    };
    let mut packet_type = first & 0x0f;
    let mut count = 0;
    while packet_type == MOD_EX {
        count += 1;
        if count > MAX_MODIFIER_EXTENSIONS {
            return Err(TagError::TooManyModifierExtensions(MAX_MODIFIER_EXTENSIONS));
        }
        let Some(after) = skip_extension(rest) else {
            return Ok(());
        };
        let Some((&next, after)) = after.split_first() else {
            return Ok(());
        };
        packet_type = next & 0x0f;
        rest = after;
    }
    Ok(())
}

/// Skips one extension's size and data: a size byte holding size − 1, or
/// 0xff and two bytes holding size − 1 (Enhanced RTMP v2, ModEx).
fn skip_extension(bytes: &[u8]) -> Option<&[u8]> {
    let (&short, rest) = bytes.split_first()?;
    let (size, rest) = if short == 0xff {
        let (long, rest) = rest.split_first_chunk::<2>()?;
        (usize::from(u16::from_be_bytes(*long)) + 1, rest)
    } else {
        (usize::from(short) + 1, rest)
    };
    rest.get(size..)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An Enhanced video tag header with `count` one-byte extensions, then CodedFrames.
    fn chain(count: usize) -> Vec<u8> {
        let mut tag = vec![if count == 0 { 0x91 } else { 0x97 }];
        for left in (0..count).rev() {
            tag.extend_from_slice(&[0, 0xaa, if left == 0 { 0x01 } else { 0x07 }]);
        }
        tag.extend_from_slice(b"avc1");
        tag
    }

    #[test]
    fn up_to_the_limit_passes_and_one_more_is_refused() {
        assert!(check(&chain(0)).is_ok());
        assert!(check(&chain(MAX_MODIFIER_EXTENSIONS)).is_ok());
        assert!(matches!(
            check(&chain(MAX_MODIFIER_EXTENSIONS + 1)),
            Err(TagError::TooManyModifierExtensions(MAX_MODIFIER_EXTENSIONS))
        ));
    }

    #[test]
    fn long_sizes_are_skipped_and_cut_chains_left_to_the_demuxer() {
        let mut tag = vec![0x97, 0xff, 0x01, 0x00];
        tag.extend(std::iter::repeat_n(0, 257));
        tag.push(0x07);
        assert!(check(&tag).is_ok());
        assert!(check(&[0x97, 0xff]).is_ok());
    }
}
