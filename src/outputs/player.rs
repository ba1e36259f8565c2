//! The player page served from the binary: `GET /stream/{channel}` plays
//! the channel over WHEP, and over the browser's own HLS
//! (`/hls/{channel}/index.m3u8`) where WebRTC fails; with neither, it
//! shows the playlist's address. It loads no other script.

use axum::extract::Path;
use axum::response::IntoResponse;

use crate::net::page::channel_page;

const PLAYER: &str = include_str!("player.html");

/// The player page for `channel`.
pub async fn page(Path(channel): Path<String>) -> impl IntoResponse {
    channel_page(PLAYER, &channel)
}
