//! Cluster membership, node side: who this node is, its heartbeats and
//! stream reports to the orchestrators, and the edge relays it opens for
//! streams it does not hold. Absent on a single node. Bottom-up:
//! `client` and `local`, then `reports`, `upstream` and `relay`, then
//! `membership`, which ties them to control's stream lifecycle.

pub mod client;
pub mod local;
pub mod membership;
pub mod relay;
pub mod relay_error;
pub mod reports;
pub mod upstream;

pub use membership::{Cluster, ClusterConfig};
