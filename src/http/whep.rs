//! WHEP: `POST /whep/endpoint/{channel}` with the viewer's offer (standard),
//! or with an empty body for a server offer the viewer answers by `PATCH`
//! (the original Waveguide player); `DELETE` ends the session.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use engine::{EngineError, ViewerError};

use super::HttpError;
use crate::state::{AppState, ResourceKind};

/// How long a request waits for the worker that owns the viewer.
pub(super) const WORKER_TIMEOUT: Duration = Duration::from_secs(5);

/// The media type of the request body, without parameters.
pub(super) fn media_type(headers: &HeaderMap) -> &str {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    super::headers::media_type(content_type)
}

pub(super) fn sdp_body(headers: &HeaderMap, body: &Bytes) -> Result<Option<String>, HttpError> {
    if body.is_empty() {
        return Ok(None);
    }
    if !media_type(headers).eq_ignore_ascii_case("application/sdp") {
        return Err(HttpError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "the body must be an SDP offer with Content-Type: application/sdp",
        ));
    }
    let sdp = std::str::from_utf8(body)
        .map_err(|_| HttpError::new(StatusCode::BAD_REQUEST, "the SDP is not UTF-8"))?;
    Ok(Some(sdp.to_owned()))
}

/// The HTTP answer to an engine refusal.
pub fn engine_error(error: EngineError) -> HttpError {
    match error {
        EngineError::NoSuchStream => {
            HttpError::new(StatusCode::NOT_FOUND, "no live stream on this channel")
        }
        EngineError::NoSuchViewer => HttpError::new(StatusCode::NOT_FOUND, "no such WHEP session"),
        EngineError::TooManyViewers => {
            HttpError::new(StatusCode::SERVICE_UNAVAILABLE, "viewer limit reached")
        }
        EngineError::StreamNotReady => HttpError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "the stream has not sent a keyframe yet; retry shortly",
        )
        .retry_after(1),
        EngineError::Viewer(ViewerError::BadSdp(reason)) => HttpError::new(
            StatusCode::BAD_REQUEST,
            format!("invalid SDP offer: {reason}"),
        ),
        EngineError::Viewer(error @ ViewerError::NoH264(_)) => {
            HttpError::new(StatusCode::NOT_ACCEPTABLE, error.to_string())
        }
        EngineError::ChannelLive => {
            HttpError::new(StatusCode::CONFLICT, "the channel is already live")
        }
        EngineError::Viewer(error @ (ViewerError::NoH264ToPublish | ViewerError::Simulcast)) => {
            HttpError::new(StatusCode::NOT_ACCEPTABLE, error.to_string())
        }
        EngineError::Viewer(error @ ViewerError::NotAwaitingAnswer) => {
            HttpError::new(StatusCode::CONFLICT, error.to_string())
        }
        EngineError::Viewer(error @ ViewerError::Negotiation(_)) => {
            HttpError::new(StatusCode::BAD_REQUEST, error.to_string())
        }
        other => HttpError::new(StatusCode::SERVICE_UNAVAILABLE, other.to_string()),
    }
}

/// `POST /whep/endpoint/{channel}` (and the seed's `/whep/watch/{channel}`).
/// In a cluster, a channel this node does not hold is relayed from the node
/// that does first; a relay request from another node (the cluster secret
/// and the via header) skips viewer authorization.
pub async fn create(
    State(state): State<Arc<AppState>>,
    Path(channel): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, HttpError> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(super::headers::bearer_token);
    let relay_secret = state
        .cluster
        .as_ref()
        .zip(token)
        .is_some_and(|(cluster, token)| cluster.is_secret(token));
    // Only another node (with the cluster secret) says which nodes a relay
    // request came through; a viewer's header is ignored.
    let via: Vec<String> = headers
        .get(crate::cluster::RELAY_VIA_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|_| relay_secret)
        .map(|v| {
            v.split(',')
                .map(str::trim)
                .filter(|node| !node.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    let from_relay = !via.is_empty();
    if !from_relay && !state.service.authorize_viewer(&channel, token).await {
        let mut error = HttpError::new(
            StatusCode::UNAUTHORIZED,
            "not allowed to watch this channel",
        );
        error.www_authenticate = true;
        return Err(error);
    }
    let offer = sdp_body(&headers, &body)?;
    if let Some(cluster) = &state.cluster {
        cluster.ensure_relay(&state.engine, &channel, &via).await?;
    }
    let engine = state.engine.clone();
    let opened = tokio::task::spawn_blocking(move || {
        engine.open_viewer(&channel, offer)?.wait(WORKER_TIMEOUT)?
    })
    .await
    .map_err(|_| HttpError::new(StatusCode::INTERNAL_SERVER_ERROR, "viewer setup failed"))?;
    let (viewer, sdp) = opened.map_err(engine_error)?;
    let Some(id) = state.add_resource(ResourceKind::Whep, viewer) else {
        let _ = state.engine.close_viewer(viewer);
        return Err(HttpError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "no randomness for a resource id",
        ));
    };
    Ok((
        StatusCode::CREATED,
        [
            (header::CONTENT_TYPE, "application/sdp".to_owned()),
            (
                header::LOCATION,
                state.resource_location(ResourceKind::Whep, &id),
            ),
        ],
        sdp,
    )
        .into_response())
}

/// `PATCH /whep/resource/{id}`: the viewer's answer to a server offer.
/// Trickle ICE fragments get `422`: this is an ICE-lite server and every
/// candidate is in its SDP.
pub async fn patch(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, HttpError> {
    let viewer = state
        .resource(ResourceKind::Whep, &id)
        .ok_or_else(|| HttpError::new(StatusCode::NOT_FOUND, "no such WHEP session"))?;
    if media_type(&headers).eq_ignore_ascii_case("application/trickle-ice-sdpfrag") {
        // PATCH itself is allowed here (for the answer); the fragment is not.
        return Err(HttpError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "trickle ICE is not supported: all candidates are in the SDP",
        ));
    }
    let answer = sdp_body(&headers, &body)?
        .ok_or_else(|| HttpError::new(StatusCode::BAD_REQUEST, "the body must be an SDP answer"))?;
    let engine = state.engine.clone();
    let accepted = tokio::task::spawn_blocking(move || {
        engine.accept_answer(viewer, answer)?.wait(WORKER_TIMEOUT)?
    })
    .await
    .map_err(|_| HttpError::new(StatusCode::INTERNAL_SERVER_ERROR, "answer handling failed"))?;
    accepted.map_err(engine_error)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `DELETE /whep/resource/{id}`.
pub async fn delete(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Response, HttpError> {
    let viewer = state
        .remove_resource(ResourceKind::Whep, &id)
        .ok_or_else(|| HttpError::new(StatusCode::NOT_FOUND, "no such WHEP session"))?;
    state.engine.close_viewer(viewer).map_err(engine_error)?;
    Ok(StatusCode::OK.into_response())
}
