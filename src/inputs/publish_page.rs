//! The publishing page served from the binary: `GET /publish/{channel}`
//! publishes the browser's camera to the channel over WHIP.

use axum::extract::Path;
use axum::response::IntoResponse;

use crate::net::page::channel_page;

const PUBLISHER: &str = include_str!("publish.html");

/// The publishing page for `channel`.
pub async fn page(Path(channel): Path<String>) -> impl IntoResponse {
    channel_page(PUBLISHER, &channel)
}
