//! Waveguide's data plane: per-core workers that take RTP from publishers
//! (FTL and WHIP) and forward it to WHEP viewers through lock-free rings.
//!
//! This crate knows no HTTP, configuration files or authentication; the
//! `waveguide-engine` binary wires it to those. It is empty until the engine
//! issue lands: see `DESIGN.md` ("The shape", "Hot-path rules").
