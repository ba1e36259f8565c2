//! The orchestrator's HTTP API: nodes register and report their streams
//! (with the cluster's shared secret), operators read the cluster's state,
//! and publishers and viewers are redirected (`307`) to the right node.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::placement;
use super::records::{NodeReport, StreamRecord, StreamReport, StreamStop};
use super::registry::{Registry, RegistryError};
use crate::net::error::HttpError;

/// What the handlers share.
pub struct OrchestratorState {
    /// Where nodes and streams are kept.
    pub registry: Registry,
    /// The secret every node call carries as `Authorization: Bearer`.
    pub secret: String,
    /// A node that has not reported this long is forgotten.
    pub node_ttl: Duration,
    /// A stream that has not been reported this long is forgotten.
    pub stream_ttl: Duration,
    /// The region of requests that name none.
    pub region: String,
}

/// `?region=` on a redirect.
#[derive(Debug, Deserialize)]
pub struct RegionQuery {
    region: Option<String>,
}

fn registry_error(error: RegistryError) -> HttpError {
    tracing::warn!(%error, "registry unavailable");
    HttpError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "the registry is unavailable",
    )
    .retry_after(1)
}

fn authorize(state: &OrchestratorState, headers: &HeaderMap) -> Result<(), HttpError> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(crate::net::headers::bearer_token);
    match token {
        Some(token)
            if crate::net::headers::constant_time_eq(token.as_bytes(), state.secret.as_bytes()) =>
        {
            Ok(())
        }
        _ => {
            let mut error = HttpError::new(
                StatusCode::UNAUTHORIZED,
                "node calls need Authorization: Bearer <cluster secret>",
            );
            error.www_authenticate = true;
            Err(error)
        }
    }
}

/// `POST /v1/nodes/{id}/heartbeat`: registers or refreshes a node.
pub async fn node_heartbeat(
    State(state): State<Arc<OrchestratorState>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Json(report): Json<NodeReport>,
) -> Result<StatusCode, HttpError> {
    authorize(&state, &headers)?;
    if report.id != id {
        return Err(HttpError::new(
            StatusCode::BAD_REQUEST,
            "the report's id is not the node in the path",
        ));
    }
    if !(report.url.starts_with("http://") || report.url.starts_with("https://")) {
        return Err(HttpError::new(
            StatusCode::BAD_REQUEST,
            "url must be the node's http:// or https:// base URL",
        ));
    }
    state
        .registry
        .put_node(&report, state.node_ttl)
        .await
        .map_err(registry_error)?;
    Ok(StatusCode::NO_CONTENT)
}

/// `DELETE /v1/nodes/{id}`: a node leaves (its streams are forgotten with it).
pub async fn node_leave(
    State(state): State<Arc<OrchestratorState>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<StatusCode, HttpError> {
    authorize(&state, &headers)?;
    state
        .registry
        .remove_node(&id)
        .await
        .map_err(registry_error)?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /v1/streams/{channel}/start` and `/heartbeat`: a node holds the stream.
pub async fn stream_report(
    State(state): State<Arc<OrchestratorState>>,
    Path(channel): Path<String>,
    headers: HeaderMap,
    Json(report): Json<StreamReport>,
) -> Result<StatusCode, HttpError> {
    authorize(&state, &headers)?;
    if report.path.last() != Some(&report.node) {
        return Err(HttpError::new(
            StatusCode::BAD_REQUEST,
            "path must end with the reporting node",
        ));
    }
    let record = StreamRecord { channel, report };
    state
        .registry
        .put_stream(&record, state.stream_ttl)
        .await
        .map_err(registry_error)?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /v1/streams/{channel}/stop`: a node's copy of the stream ended.
pub async fn stream_stop(
    State(state): State<Arc<OrchestratorState>>,
    Path(channel): Path<String>,
    headers: HeaderMap,
    Json(stop): Json<StreamStop>,
) -> Result<StatusCode, HttpError> {
    authorize(&state, &headers)?;
    state
        .registry
        .remove_stream(&channel, &stop.node)
        .await
        .map_err(registry_error)?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /v1/nodes`.
pub async fn nodes(
    State(state): State<Arc<OrchestratorState>>,
) -> Result<Json<Vec<NodeReport>>, HttpError> {
    Ok(Json(state.registry.nodes().await.map_err(registry_error)?))
}

/// `GET /v1/streams`.
pub async fn streams(
    State(state): State<Arc<OrchestratorState>>,
) -> Result<Json<Vec<StreamRecord>>, HttpError> {
    Ok(Json(
        state.registry.streams().await.map_err(registry_error)?,
    ))
}

/// `GET /v1/streams/{channel}`: the nodes holding it, origin first; `404`
/// when it is live nowhere.
pub async fn stream(
    State(state): State<Arc<OrchestratorState>>,
    Path(channel): Path<String>,
) -> Result<Json<Vec<StreamRecord>>, HttpError> {
    let streams = state.registry.streams().await.map_err(registry_error)?;
    holders_of(streams, &channel).map(Json)
}

/// The records of `channel` among `streams`; `404` if there are none.
pub fn holders_of(
    streams: Vec<StreamRecord>,
    channel: &str,
) -> Result<Vec<StreamRecord>, HttpError> {
    let holders: Vec<StreamRecord> = streams
        .into_iter()
        .filter(|s| s.channel == channel)
        .collect();
    if holders.is_empty() {
        return Err(HttpError::new(
            StatusCode::NOT_FOUND,
            "no live stream on this channel",
        ));
    }
    Ok(holders)
}

/// Which way a redirect sends its client.
#[derive(Clone, Copy)]
enum Role {
    Publisher,
    Viewer,
}

async fn redirect(
    state: &OrchestratorState,
    role: Role,
    channel: &str,
    region: Option<String>,
    uri: &Uri,
) -> Result<Response, HttpError> {
    let region = region.unwrap_or_else(|| state.region.clone());
    let (nodes, streams) = state.registry.snapshot().await.map_err(registry_error)?;
    let node = match role {
        Role::Publisher => placement::for_publisher(channel, &region, &nodes, &streams)
            .ok_or_else(|| {
                HttpError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "no node has room for another stream",
                )
                .retry_after(5)
            })?,
        Role::Viewer => {
            if !streams.iter().any(|s| s.channel == channel) {
                return Err(HttpError::new(
                    StatusCode::NOT_FOUND,
                    "no live stream on this channel",
                ));
            }
            placement::for_viewer(channel, &region, &nodes, &streams).ok_or_else(|| {
                HttpError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "no node has room for another viewer",
                )
                .retry_after(5)
            })?
        }
    };
    // The same path on the chosen node: it serves every route redirected here.
    let location = format!("{}{}", node.url.trim_end_matches('/'), uri.path());
    tracing::debug!(%channel, node = %node.id, %location, "redirected");
    Ok((
        StatusCode::TEMPORARY_REDIRECT,
        [
            (header::LOCATION, location.clone()),
            (header::CACHE_CONTROL, "no-store".to_owned()),
        ],
        format!("{location}\n"),
    )
        .into_response())
}

/// `POST /whip/endpoint/{channel}`: `307` to the node to publish on.
pub async fn whip(
    State(state): State<Arc<OrchestratorState>>,
    Path(channel): Path<String>,
    Query(query): Query<RegionQuery>,
    uri: Uri,
) -> Result<Response, HttpError> {
    redirect(&state, Role::Publisher, &channel, query.region, &uri).await
}

/// `POST /whip/stream/{channel}-{key}` (the seed's path, the key in it):
/// `307` to the node to publish on.
pub async fn whip_with_key(
    State(state): State<Arc<OrchestratorState>>,
    Path(stream_key): Path<String>,
    Query(query): Query<RegionQuery>,
    uri: Uri,
) -> Result<Response, HttpError> {
    let channel = crate::net::headers::channel_of_stream_key(&stream_key).ok_or_else(|| {
        HttpError::new(
            StatusCode::BAD_REQUEST,
            "the path must be /whip/stream/{channel}-{key}",
        )
    })?;
    redirect(&state, Role::Publisher, channel, query.region, &uri).await
}

/// `POST /whep/endpoint/{channel}` and `/whep/watch/{channel}`: `307` to a
/// node that serves the stream (or will relay it); `404` if it is live nowhere.
pub async fn whep(
    State(state): State<Arc<OrchestratorState>>,
    Path(channel): Path<String>,
    Query(query): Query<RegionQuery>,
    uri: Uri,
) -> Result<Response, HttpError> {
    redirect(&state, Role::Viewer, &channel, query.region, &uri).await
}
