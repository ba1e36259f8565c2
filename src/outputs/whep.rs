//! WHEP: a viewer joins with its offer (standard), or with an empty body
//! for a server offer it answers by `PATCH` (the original Waveguide
//! player); `DELETE` ends the session. The `POST` route itself is the
//! router's (in a cluster it makes the channel live here first); this
//! file holds its steps: who may watch, and opening the viewer.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::control::resources::ResourceKind;
use crate::control::state::Control;
use crate::net::error::HttpError;
use crate::signalling::{WORKER_TIMEOUT, engine_error, media_type, sdp_body};

/// The Bearer token a request carries, if any.
pub fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(crate::net::headers::bearer_token)
}

/// `401` unless the service lets a viewer holding `token` watch `channel`.
pub async fn authorize_viewer(
    control: &Control,
    channel: &str,
    token: Option<&str>,
) -> Result<(), HttpError> {
    if control.service.authorize_viewer(channel, token).await {
        return Ok(());
    }
    let mut error = HttpError::new(
        StatusCode::UNAUTHORIZED,
        "not allowed to watch this channel",
    );
    error.www_authenticate = true;
    Err(error)
}

/// Opens a viewer of `channel` (with its `offer`, or `None` for a server
/// offer): `201` with the SDP and the resource's `Location`.
pub async fn open(
    control: &Control,
    channel: String,
    offer: Option<String>,
) -> Result<Response, HttpError> {
    let engine = control.engine.clone();
    let opened = tokio::task::spawn_blocking(move || {
        engine.open_viewer(&channel, offer)?.wait(WORKER_TIMEOUT)?
    })
    .await
    .map_err(|_| HttpError::new(StatusCode::INTERNAL_SERVER_ERROR, "viewer setup failed"))?;
    let (viewer, sdp) = opened.map_err(|error| engine_error(&error))?;
    let Some(id) = control.resources.add(ResourceKind::Whep, viewer) else {
        let _ = control.engine.close_viewer(viewer);
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
                control.resources.location(ResourceKind::Whep, &id),
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
    State(control): State<Arc<Control>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, HttpError> {
    let viewer = control
        .resources
        .get(ResourceKind::Whep, &id)
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
    let engine = control.engine.clone();
    let accepted = tokio::task::spawn_blocking(move || {
        engine.accept_answer(viewer, answer)?.wait(WORKER_TIMEOUT)?
    })
    .await
    .map_err(|_| HttpError::new(StatusCode::INTERNAL_SERVER_ERROR, "answer handling failed"))?;
    accepted.map_err(|error| engine_error(&error))?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `DELETE /whep/resource/{id}`.
pub async fn delete(
    State(control): State<Arc<Control>>,
    Path(id): Path<String>,
) -> Result<Response, HttpError> {
    let viewer = control
        .resources
        .remove(ResourceKind::Whep, &id)
        .ok_or_else(|| HttpError::new(StatusCode::NOT_FOUND, "no such WHEP session"))?;
    control
        .engine
        .close_viewer(viewer)
        .map_err(|error| engine_error(&error))?;
    Ok(StatusCode::OK.into_response())
}
