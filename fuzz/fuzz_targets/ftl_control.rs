//! The FTL server control session under arbitrary byte chunks and clock steps.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| ftl::fuzzing::server_session(std::time::Instant::now(), data));
