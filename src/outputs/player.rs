//! The player page served from the binary: `GET /stream/{channel}` plays
//! the channel over WHEP, and where WebRTC fails (no `RTCPeerConnection`,
//! a WHEP error, a failed connection) its HLS playlist, when the browser
//! plays HLS itself, else it shows the playlist's URL. No third-party
//! script: browsers without native HLS get the link, not hls.js.

use axum::extract::Path;
use axum::response::IntoResponse;

use crate::net::page::channel_page;

const PLAYER: &str = include_str!("player.html");

/// The player page for `channel`.
pub async fn page(Path(channel): Path<String>) -> impl IntoResponse {
    channel_page(PLAYER, &channel)
}
