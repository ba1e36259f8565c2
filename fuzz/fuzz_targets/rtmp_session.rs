#![no_main]
//! Arbitrary bytes from a publisher into the RTMP server session: the same
//! events whether fed whole or in pieces, replies that parse, no panic.

libfuzzer_sys::fuzz_target!(|data: &[u8]| rtmp::fuzzing::session(data));
