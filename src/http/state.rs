//! RouterState: what the node's routes share: control (for the inputs,
//! the outputs and the API), this node's registry view, and its cluster
//! membership when it is in one.

use std::sync::Arc;

use axum::extract::FromRef;

use super::dashboard::DashboardHistory;
use super::home::IngestAddresses;
use crate::cluster::Cluster;
use crate::cluster::local::LocalNode;
use crate::control::state::Control;
use crate::outputs::MediaOutputs;

/// The state behind every route of a node.
#[derive(Clone)]
pub struct RouterState {
    /// Streams, sessions and the service.
    pub control: Arc<Control>,
    /// HLS, recordings and their packagers.
    pub outputs: Arc<MediaOutputs>,
    /// This node as the registry sees it (served on `/v1/`).
    pub local: Arc<LocalNode>,
    /// This node's cluster membership, if it is in one.
    pub cluster: Option<Arc<Cluster>>,
    /// Where publishers reach this node (the home page says).
    pub ingest: IngestAddresses,
    /// The dashboard's sampled history.
    pub dashboard: Arc<DashboardHistory>,
}

impl FromRef<RouterState> for Arc<Control> {
    fn from_ref(state: &RouterState) -> Self {
        Arc::clone(&state.control)
    }
}

impl FromRef<RouterState> for Arc<MediaOutputs> {
    fn from_ref(state: &RouterState) -> Self {
        Arc::clone(&state.outputs)
    }
}
