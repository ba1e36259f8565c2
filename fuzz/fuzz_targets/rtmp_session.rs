#![no_main]
//! Arbitrary bytes from a publisher into the RTMP server session.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = data;
});
