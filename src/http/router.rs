//! The node's route table: each route to its input, output or API
//! handler, CORS on every WHIP and WHEP route, and the body limit.

use std::sync::Arc;

use axum::Router;
use axum::http::{HeaderName, Method, header};
use axum::routing::{get, patch, post};
use tower_http::cors::{Any, CorsLayer};

use super::state::RouterState;
use super::{dashboard, metrics, registry_view, status, whep_route};
use crate::cluster::upstream::RELAY_VIA_HEADER;
use crate::inputs::{publish_page, whip};
use crate::outputs::{hls, player, recording, thumbnails, whep};

/// Default largest request body (an SDP offer is a few KiB).
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// The router with every route: HLS and the recordings' API come with
/// their own state and CORS.
pub fn router(state: RouterState, max_body_bytes: usize) -> Router {
    let outputs = Router::new()
        .merge(hls::router(Arc::clone(&state.outputs.hls)))
        .merge(recording::router(Arc::clone(&state.outputs.recordings)))
        .merge(thumbnails::router(Arc::clone(&state.outputs.thumbnails)))
        .merge(dashboard::router(Arc::clone(&state.dashboard)));
    let cors = CorsLayer::new()
        .allow_origin(Any)
        .allow_methods([
            Method::GET,
            Method::POST,
            Method::PATCH,
            Method::DELETE,
            Method::OPTIONS,
        ])
        .allow_headers([
            header::CONTENT_TYPE,
            header::AUTHORIZATION,
            HeaderName::from_static("if-match"),
            HeaderName::from_static(RELAY_VIA_HEADER),
        ])
        .expose_headers([header::LOCATION, header::ETAG, header::LINK]);
    let signalling = Router::new()
        .route("/whep/endpoint/{channel}", post(whep_route::create))
        .route("/whep/watch/{channel}", post(whep_route::create))
        .route("/whip/endpoint/{channel}", post(whip::create))
        .route("/whip/stream/{stream_key}", post(whip::create_with_key))
        .route(
            "/whip/resource/{id}",
            patch(whip::patch).delete(whip::delete),
        )
        .route(
            "/whep/resource/{id}",
            patch(whep::patch).delete(whep::delete),
        )
        .layer(cors);
    Router::new()
        .merge(signalling)
        .route("/stream/{channel}", get(player::page))
        .route("/publish/{channel}", get(publish_page::page))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/api/streams", get(status::streams))
        .route("/api/streams/{channel}", get(status::stream))
        .route("/metrics", get(metrics::metrics))
        .route("/v1/nodes", get(registry_view::nodes))
        .route("/v1/streams", get(registry_view::streams))
        .route("/v1/streams/{channel}", get(registry_view::stream))
        .layer(axum::extract::DefaultBodyLimit::max(max_body_bytes))
        .with_state(state)
        .merge(outputs)
}
