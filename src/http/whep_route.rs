//! The node's WHEP `POST` route: in a cluster, a channel this node does not
//! hold is relayed here from a node that does, before the output opens
//! the viewer; a relay request from another node (the cluster secret and
//! the via header) skips viewer authorization. A relay's failure becomes
//! a status and a reason here.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;

use super::state::RouterState;
use crate::cluster::relay_error::RelayError;
use crate::cluster::upstream::RELAY_VIA_HEADER;
use crate::net::error::HttpError;
use crate::outputs::whep;
use crate::signalling::{engine_error, sdp_body};

/// `POST /whep/endpoint/{channel}` (and the seed's `/whep/watch/{channel}`).
pub async fn create(
    State(state): State<RouterState>,
    Path(channel): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, HttpError> {
    let token = whep::bearer_token(&headers);
    let via: Vec<String> = match &state.cluster {
        Some(cluster) => {
            let via = headers.get(RELAY_VIA_HEADER).and_then(|v| v.to_str().ok());
            cluster.relay_chain(token, via)
        }
        None => Vec::new(),
    };
    if via.is_empty() {
        whep::authorize_viewer(&state.control, &channel, token).await?;
    }
    let offer = sdp_body(&headers, &body)?;
    if let Some(cluster) = &state.cluster {
        cluster
            .ensure_relay(&channel, &via)
            .await
            .map_err(|error| relay_error(&error))?;
    }
    whep::open(&state.control, channel, offer).await
}

/// The HTTP answer to a relay that could not be set up.
fn relay_error(error: &RelayError) -> HttpError {
    let reason = error.to_string();
    match error {
        RelayError::Engine(error) => engine_error(error),
        RelayError::CameThroughHere | RelayError::OnlyLoopingHolders => {
            HttpError::new(StatusCode::LOOP_DETECTED, reason)
        }
        RelayError::StillSettingUp | RelayError::UpstreamNotReady => {
            HttpError::new(StatusCode::SERVICE_UNAVAILABLE, reason).retry_after(1)
        }
        RelayError::OrchestratorUnreachable => {
            HttpError::new(StatusCode::BAD_GATEWAY, reason).retry_after(1)
        }
        RelayError::NotLive => HttpError::new(StatusCode::NOT_FOUND, reason),
        RelayError::SetupFailed => HttpError::new(StatusCode::INTERNAL_SERVER_ERROR, reason),
        RelayError::UnusableAnswer(_) | RelayError::ClosedDuringSetup | RelayError::Upstream(_) => {
            HttpError::new(StatusCode::BAD_GATEWAY, reason)
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use axum::response::IntoResponse;
    use engine::EngineError;

    #[tokio::test]
    async fn relay_failures_keep_their_status_reason_and_retry_after() {
        let not_ready = "the stream has not sent a keyframe yet; retry shortly";
        for (error, status, retry, reason) in [
            (
                RelayError::CameThroughHere,
                StatusCode::LOOP_DETECTED,
                false,
                "this relay request came through this node already",
            ),
            (
                RelayError::OnlyLoopingHolders,
                StatusCode::LOOP_DETECTED,
                false,
                "the stream is only held by nodes that would relay it in a loop",
            ),
            (
                RelayError::StillSettingUp,
                StatusCode::SERVICE_UNAVAILABLE,
                true,
                "the relay is still being set up; retry shortly",
            ),
            (
                RelayError::UpstreamNotReady,
                StatusCode::SERVICE_UNAVAILABLE,
                true,
                "the origin cannot serve the stream yet; retry shortly",
            ),
            (
                RelayError::OrchestratorUnreachable,
                StatusCode::BAD_GATEWAY,
                true,
                "the orchestrator is unreachable",
            ),
            (
                RelayError::NotLive,
                StatusCode::NOT_FOUND,
                false,
                "no live stream on this channel",
            ),
            (
                RelayError::SetupFailed,
                StatusCode::INTERNAL_SERVER_ERROR,
                false,
                "relay setup failed",
            ),
            (
                RelayError::ClosedDuringSetup,
                StatusCode::BAD_GATEWAY,
                false,
                "the relay closed while it was being set up",
            ),
            (
                RelayError::UnusableAnswer("no H.264".into()),
                StatusCode::BAD_GATEWAY,
                false,
                "the origin's answer could not be used: no H.264",
            ),
            (
                RelayError::Upstream("502 down".into()),
                StatusCode::BAD_GATEWAY,
                false,
                "could not relay the stream from its origin: 502 down",
            ),
            (
                RelayError::Engine(Arc::new(EngineError::StreamNotReady)),
                StatusCode::SERVICE_UNAVAILABLE,
                true,
                not_ready,
            ),
        ] {
            let response = relay_error(&error).into_response();
            assert_eq!(response.status(), status, "{error}");
            assert_eq!(
                response
                    .headers()
                    .contains_key(axum::http::header::RETRY_AFTER),
                retry,
                "{error}"
            );
            let body = axum::body::to_bytes(response.into_body(), 4096)
                .await
                .unwrap_or_default();
            assert_eq!(String::from_utf8_lossy(&body).trim_end(), reason);
        }
    }
}
