//! The media datagram classifier feeding the NACK tracker and H.264 helpers.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| ftl::fuzzing::datagrams(std::time::Instant::now(), data));
