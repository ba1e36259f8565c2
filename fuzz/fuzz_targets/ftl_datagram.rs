//! The media datagram classifier feeding the NACK tracker.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| ftl::fuzzing::datagrams(std::time::Instant::now(), data));
