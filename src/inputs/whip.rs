//! WHIP (RFC 9725): `POST /whip/endpoint/{channel}` with the publisher's
//! offer and `Authorization: Bearer <key>`, `201` with our answer and the
//! resource; `DELETE` ends the stream; `PATCH` (trickle ICE, ICE restart)
//! gets `405`, as an ICE-lite server with every candidate in its answer.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::control::resources::ResourceKind;
use crate::control::state::Control;
use crate::net::error::HttpError;
use crate::net::headers::{bearer_secret, channel_of_stream_key, constant_time_eq};
use crate::signalling::{WORKER_TIMEOUT, engine_error, sdp_body};

/// Checks the stream key for `channel`: from the path (`/whip/stream/
/// {channel}-{key}`) or else `Authorization: Bearer <key>`, where the key is
/// `<channel>-<secret>` or the bare secret, compared in constant time.
async fn authorize(
    control: &Control,
    channel: &str,
    path_key: Option<&str>,
    headers: &HeaderMap,
) -> Result<(), HttpError> {
    let unauthorized = |reason: &str| {
        let mut error = HttpError::new(StatusCode::UNAUTHORIZED, reason);
        error.www_authenticate = true;
        error
    };
    let secret = match path_key {
        Some(key) => key
            .strip_prefix(channel)
            .and_then(|rest| rest.strip_prefix('-'))
            .ok_or_else(|| unauthorized("the path must be /whip/stream/{channel}-{key}"))?,
        None => headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| bearer_secret(v, channel))
            .ok_or_else(|| unauthorized("missing Authorization: Bearer <stream key>"))?,
    };
    let expected = control
        .service
        .authorize(channel)
        .await
        .filter(|expected| !expected.is_empty())
        .ok_or_else(|| unauthorized("this channel may not stream"))?;
    if !constant_time_eq(secret.as_bytes(), expected.as_bytes()) {
        return Err(unauthorized("invalid stream key"));
    }
    Ok(())
}

/// `POST /whip/endpoint/{channel}`.
pub async fn create(
    State(control): State<Arc<Control>>,
    Path(channel): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, HttpError> {
    publish(control, channel, None, headers, body).await
}

/// `POST /whip/stream/{channel}-{key}`: the seed's path, with the stream
/// key in it instead of in `Authorization`.
pub async fn create_with_key(
    State(control): State<Arc<Control>>,
    Path(stream_key): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, HttpError> {
    let channel = channel_of_stream_key(&stream_key)
        .ok_or_else(|| {
            HttpError::new(
                StatusCode::BAD_REQUEST,
                "the path must be /whip/stream/{channel}-{key}",
            )
        })?
        .to_owned();
    publish(control, channel, Some(&stream_key), headers, body).await
}

async fn publish(
    control: Arc<Control>,
    channel: String,
    path_key: Option<&str>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, HttpError> {
    authorize(&control, &channel, path_key, &headers).await?;
    let offer = sdp_body(&headers, &body)?
        .ok_or_else(|| HttpError::new(StatusCode::BAD_REQUEST, "the body must be an SDP offer"))?;
    let engine = control.engine.clone();
    let takeover = control.whip_takeover;
    let opening = channel.clone();
    let opened = tokio::task::spawn_blocking(move || {
        engine.open_publisher(&opening, offer, takeover, WORKER_TIMEOUT)
    })
    .await
    .map_err(|_| HttpError::new(StatusCode::INTERNAL_SERVER_ERROR, "publisher setup failed"))?
    .map_err(|error| engine_error(&error))?;
    if let Some(replaced) = opened.replaced {
        // An FTL connection that lost its channel hears 410.
        control
            .ftl
            .end_stream(replaced, ftl::StatusCode::ServerTerminate);
    }
    let Some(id) = control.resources.add(ResourceKind::Whip, opened.id) else {
        let _ = control.engine.close_publisher(opened.id);
        return Err(HttpError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "no randomness for a resource id",
        ));
    };
    tracing::info!(%channel, publisher = %opened.id, "WHIP publisher connected");
    control.stream_started(opened.stream_id, &channel, "whip", (None, None));
    Ok((
        StatusCode::CREATED,
        [
            (header::CONTENT_TYPE, "application/sdp".to_owned()),
            (
                header::LOCATION,
                control.resources.location(ResourceKind::Whip, &id),
            ),
        ],
        opened.answer,
    )
        .into_response())
}

/// `PATCH /whip/resource/{id}`: no trickle ICE and no ICE restart here.
pub async fn patch(
    State(control): State<Arc<Control>>,
    Path(id): Path<String>,
) -> Result<Response, HttpError> {
    control
        .resources
        .get(ResourceKind::Whip, &id)
        .ok_or_else(|| HttpError::new(StatusCode::NOT_FOUND, "no such WHIP session"))?;
    let mut error = HttpError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "trickle ICE and ICE restarts are not supported: all candidates are in the SDP",
    );
    error.allow = Some("DELETE, OPTIONS");
    Err(error)
}

/// `DELETE /whip/resource/{id}`: the stream ends, and its viewers with it.
pub async fn delete(
    State(control): State<Arc<Control>>,
    Path(id): Path<String>,
) -> Result<Response, HttpError> {
    let publisher = control
        .resources
        .remove(ResourceKind::Whip, &id)
        .ok_or_else(|| HttpError::new(StatusCode::NOT_FOUND, "no such WHIP session"))?;
    control
        .engine
        .close_publisher(publisher)
        .map_err(|error| engine_error(&error))?;
    Ok(StatusCode::OK.into_response())
}
