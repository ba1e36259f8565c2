//! The Waveguide node and orchestrator, in the seed's words: `inputs` turn
//! a publisher into a stream on the `engine` data plane, `control` sits
//! between them and the engine (stream lifecycle, the Service, heartbeats;
//! no HTTP), `outputs` read a stream, `orchestrator` and `cluster` place
//! streams across nodes (using control, never the reverse), and `http` is
//! the router. Every import points down: `net` (HTTP and TLS plumbing) and
//! `signalling` (what WHIP and WHEP share) at the bottom, `node` (start-up
//! wiring), `config` and `cli` at the top. Packet-level work lives in
//! `engine` and `ftl`.

pub mod cli;
pub mod cluster;
pub mod config;
pub mod control;
pub mod http;
pub mod inputs;
pub mod net;
pub mod node;
pub mod orchestrator;
pub mod outputs;
pub mod signalling;

pub use net::tls::TlsFiles;
pub use node::{Node, NodeConfig, SHUTDOWN_GRACE};
