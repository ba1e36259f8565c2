//! Outputs: what reads a stream. WHEP viewers and the player page; the
//! packager, which cuts a stream into CMAF for HLS and recordings.

pub mod hls;
pub mod packager;
pub mod player;
pub mod recording;
pub mod whep;
