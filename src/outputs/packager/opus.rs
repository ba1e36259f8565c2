//! How long an Opus packet plays, from its TOC byte (RFC 6716 §3.1).

/// Samples at 48 kHz in one Opus packet, or `None` for a malformed one.
pub fn samples_per_packet(packet: &[u8]) -> Option<u32> {
    let toc = *packet.first()?;
    let config = toc >> 3;
    // Frame length in 48 kHz samples, by mode (SILK, hybrid, CELT).
    let frame = match config {
        0..=11 => [480, 960, 1920, 2880][usize::from(config % 4)],
        12..=15 => [480, 960][usize::from(config % 2)],
        _ => [120, 240, 480, 960][usize::from(config % 4)],
    };
    let frames = match toc & 0b11 {
        0 => 1,
        1 | 2 => 2,
        _ => u32::from(*packet.get(1)? & 0x3f),
    };
    let samples = frame * frames;
    // A packet holds at most 120 ms (RFC 6716 §3.2.5).
    (frames > 0 && samples <= 5760).then_some(samples)
}

#[cfg(test)]
mod tests {
    use super::samples_per_packet;

    #[test]
    fn reads_frame_sizes_and_counts() {
        // CELT fullband 20 ms, one frame (config 31, code 0).
        assert_eq!(samples_per_packet(&[31 << 3]), Some(960));
        // SILK 60 ms, two frames: 120 ms.
        assert_eq!(samples_per_packet(&[(3 << 3) | 1]), Some(5760));
        // CELT 2.5 ms, code 3 with 4 frames.
        assert_eq!(samples_per_packet(&[(16 << 3) | 3, 4]), Some(480));
        // Hybrid 10 ms, one frame.
        assert_eq!(samples_per_packet(&[12 << 3]), Some(480));
    }

    #[test]
    fn refuses_malformed_packets() {
        assert_eq!(samples_per_packet(&[]), None);
        // Code 3 without its frame count byte, or with zero frames.
        assert_eq!(samples_per_packet(&[(31 << 3) | 3]), None);
        assert_eq!(samples_per_packet(&[(31 << 3) | 3, 0]), None);
        // 60 ms SILK frames, 3 of them: over 120 ms.
        assert_eq!(samples_per_packet(&[(3 << 3) | 3, 3]), None);
    }
}
