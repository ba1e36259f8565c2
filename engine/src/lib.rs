//! Waveguide's data plane: per-core workers that take RTP from publishers
//! (FTL and WHIP) and forward it to WHEP viewers through lock-free rings.
//!
//! This crate knows no HTTP, configuration files or authentication; the
//! `waveguide-engine` binary wires it to those. So far it holds the
//! [`PacketRing`](ring::PacketRing) that carries one track's packets from
//! its producer to every worker; the workers, str0m peers and FTL media
//! sockets follow (DESIGN.md, "The shape").

pub mod ring;
