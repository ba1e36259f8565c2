//! One RTP payload through the H.264 helpers (keyframe, SPS search and parse).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| codec::fuzzing::h264_payload(data));
