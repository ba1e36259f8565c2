//! Pages served from the binary: `GET /stream/{channel}` plays the channel
//! over WHEP; `GET /publish/{channel}` publishes the camera to it over WHIP.

use axum::extract::Path;
use axum::http::header;
use axum::response::IntoResponse;

const PLAYER: &str = include_str!("player.html");
const PUBLISHER: &str = include_str!("publish.html");

/// The player page for `channel`.
pub async fn page(Path(channel): Path<String>) -> impl IntoResponse {
    render(PLAYER, &channel)
}

/// The publishing page for `channel`.
pub async fn publish_page(Path(channel): Path<String>) -> impl IntoResponse {
    render(PUBLISHER, &channel)
}

fn render(page: &str, channel: &str) -> impl IntoResponse + use<> {
    // The channel goes into a JS string and the title: keep it to safe characters.
    let channel: String = channel
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'))
        .take(64)
        .collect();
    (
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        page.replace("{{channel}}", &channel),
    )
}
