//! Outputs: what reads a stream. WHEP viewers and the player page.

pub mod player;
pub mod whep;
