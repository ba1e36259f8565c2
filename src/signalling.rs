//! What WHIP (an input) and WHEP (an output) share: the SDP body a request
//! must carry, how long a request waits for a worker, and an engine
//! refusal as an HTTP status with a reason.

use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode, header};
use engine::{EngineError, ViewerError};

use crate::net::error::HttpError;

/// How long a request waits for the worker that owns its peer.
pub const WORKER_TIMEOUT: Duration = Duration::from_secs(5);

/// The media type of the request body, without parameters.
pub fn media_type(headers: &HeaderMap) -> &str {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    crate::net::headers::media_type(content_type)
}

/// The SDP in `body`: `None` if the body is empty, `415` unless it is
/// `application/sdp`, `400` unless it is UTF-8.
pub fn sdp_body(headers: &HeaderMap, body: &Bytes) -> Result<Option<String>, HttpError> {
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
pub fn engine_error(error: &EngineError) -> HttpError {
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
