//! Pages served from the binary with a channel filled in: the channel goes
//! into a JS string and the title, so only safe characters reach them.

use axum::http::header;
use axum::response::IntoResponse;

/// `page` with every `{{channel}}` replaced by `channel`, kept to ASCII
/// letters, digits, `-` and `_` (64 at most), served as HTML.
pub fn channel_page(page: &str, channel: &str) -> impl IntoResponse + use<> {
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
