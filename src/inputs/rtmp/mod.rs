//! RTMP ingest: the listener (RTMP and RTMPS), each publisher's connection
//! driven through the sans-IO `rtmp` crate, its H.264 repacketized into
//! RTP and its AAC transcoded to Opus, off the workers.

pub mod aac_to_opus;
