//! `GET /stream/{channel}`: a player page, served from the binary, that plays
//! the channel over WHEP.

use axum::extract::Path;
use axum::http::header;
use axum::response::IntoResponse;

const PAGE: &str = include_str!("player.html");

/// The player page for `channel`.
pub async fn page(Path(channel): Path<String>) -> impl IntoResponse {
    // The channel goes into a JS string and the title: keep it to safe characters.
    let channel: String = channel
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'))
        .take(64)
        .collect();
    (
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        PAGE.replace("{{channel}}", &channel),
    )
}
