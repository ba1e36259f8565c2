//! This node's own registry view, in the orchestrator's format:
//! `GET /v1/nodes` (this node and its load) and `GET /v1/streams[/{channel}]`
//! (its live streams, with relay paths). On a single node this is the
//! embedded orchestrator; in a cluster, the orchestrator's `/v1/` shows the
//! whole cluster and a node's shows what it holds.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};

use super::state::RouterState;
use crate::net::error::HttpError;
use crate::orchestrator::records::{NodeReport, StreamRecord};
use crate::orchestrator::routes::holders_of;

/// `GET /v1/nodes`.
pub async fn nodes(State(state): State<RouterState>) -> Json<Vec<NodeReport>> {
    let engine = state.control.engine.clone();
    let local = Arc::clone(&state.local);
    let report = tokio::task::spawn_blocking(move || local.node_report(&engine))
        .await
        .ok();
    Json(report.into_iter().collect())
}

/// `GET /v1/streams`.
pub async fn streams(State(state): State<RouterState>) -> Json<Vec<StreamRecord>> {
    Json(state.local.stream_records(&state.control.engine))
}

/// `GET /v1/streams/{channel}`: `404` unless this node holds it.
pub async fn stream(
    State(state): State<RouterState>,
    Path(channel): Path<String>,
) -> Result<Json<Vec<StreamRecord>>, HttpError> {
    let streams = state.local.stream_records(&state.control.engine);
    holders_of(streams, &channel).map(Json)
}
