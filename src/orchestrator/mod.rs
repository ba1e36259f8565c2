//! The Orchestrator role (`waveguide-engine orchestrator`): an HTTP service
//! that knows which node holds which stream. Nodes register and report
//! their streams; publishers and viewers are redirected (`307`) to the right
//! node. Its registry is in memory or in Redis, shared by several
//! orchestrators for availability. Bottom-up: `records` (the wire format,
//! which nodes use too), `placement` and `registry`, `routes`, `server`.

pub mod placement;
pub mod records;
pub mod registry;
pub mod routes;
pub mod server;

pub use server::{Orchestrator, OrchestratorConfig, Store};
