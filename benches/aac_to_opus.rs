//! The AAC to Opus transcode's CPU per second of audio.

fn main() {}
