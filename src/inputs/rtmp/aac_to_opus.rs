//! AacToOpus: one RTMP stream's AAC audio decoded, resampled to 48 kHz and
//! encoded as 20 ms Opus frames.
