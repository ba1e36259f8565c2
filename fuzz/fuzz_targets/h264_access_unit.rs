//! One AVCC access unit through the RTP packetizer and depacketizer and back.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| codec::fuzzing::h264_access_unit(data));
