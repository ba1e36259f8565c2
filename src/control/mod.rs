//! Control: between the inputs and outputs and the engine. Stream
//! lifecycle, the Service (who may stream, and what the platform hears),
//! metadata heartbeats, the WHIP/WHEP resources and the FTL connections.
//! It knows no HTTP routing and no cluster: the cluster listens through
//! [`listener::StreamListener`].

pub mod events;
pub mod ftl_connections;
pub mod heartbeat;
pub mod listener;
pub mod resources;
pub mod service;
pub mod service_client;
pub mod started;
pub mod state;
