//! The node's HTTP server: the router that maps every route to an input
//! (WHIP, the publishing page), an output (WHEP, the player) or the API
//! (`/api/streams`, `/metrics`, `/healthz`, this node's `/v1/` registry
//! view), and a relay's failure to a status. The plumbing it runs on is
//! `net`.

pub mod dashboard;
pub mod home;
mod metrics;
mod registry_view;
mod router;
mod state;
mod status;
mod whep_route;

pub use router::{MAX_BODY_BYTES, router};
pub use state::RouterState;
