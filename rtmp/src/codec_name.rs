//! Readable names for the codecs we refuse, for the error and the status
//! the client logs.

/// A legacy FLV video codec id (FLV 10.1 Annex E.4.3.1).
pub fn legacy_video_name(codec_id: u8) -> String {
    let name = match codec_id {
        1 => "JPEG",
        2 => "Sorenson H.263",
        3 => "Screen Video",
        4 => "On2 VP6",
        5 => "On2 VP6 with alpha",
        6 => "Screen Video 2",
        12 => "HEVC (unofficial)",
        _ => "unknown",
    };
    format!("{name} (codec id {codec_id})")
}

/// A legacy FLV sound format (FLV 10.1 Annex E.4.2.1).
pub fn legacy_audio_name(sound_format: u8) -> String {
    let name = match sound_format {
        0 => "linear PCM, platform endian",
        1 => "ADPCM",
        2 => "MP3",
        3 => "linear PCM, little endian",
        4 => "Nellymoser 16 kHz mono",
        5 => "Nellymoser 8 kHz mono",
        6 => "Nellymoser",
        7 => "G.711 A-law",
        8 => "G.711 mu-law",
        11 => "Speex",
        14 => "MP3 8 kHz",
        15 => "device-specific sound",
        _ => "unknown",
    };
    format!("{name} (sound format {sound_format})")
}

/// An Enhanced RTMP FourCC, e.g. "HEVC ('hvc1')".
pub fn four_cc_name(four_cc: [u8; 4]) -> String {
    let codec = match &four_cc {
        b"hvc1" => "HEVC ",
        b"av01" => "AV1 ",
        b"vp09" => "VP9 ",
        b"vp08" => "VP8 ",
        b".mp3" => "MP3 ",
        b"ac-3" => "AC-3 ",
        b"ec-3" => "E-AC-3 ",
        b"fLaC" => "FLAC ",
        _ => "",
    };
    if four_cc
        .iter()
        .all(|byte| byte.is_ascii_graphic() || *byte == b' ')
    {
        format!("{codec}('{}')", String::from_utf8_lossy(&four_cc))
    } else {
        format!("{codec}(FourCC {:#010x})", u32::from_be_bytes(four_cc))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codecs_are_named_readably() {
        assert_eq!(four_cc_name(*b"hvc1"), "HEVC ('hvc1')");
        assert_eq!(four_cc_name(*b"abcd"), "('abcd')");
        assert_eq!(four_cc_name([0, 1, 2, 3]), "(FourCC 0x00010203)");
        assert_eq!(legacy_video_name(2), "Sorenson H.263 (codec id 2)");
        assert_eq!(legacy_audio_name(2), "MP3 (sound format 2)");
    }
}
