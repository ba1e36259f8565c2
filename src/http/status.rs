//! The JSON status API: `GET /api/streams` and `GET /api/streams/{channel}`,
//! each stream's tracks, viewers and counters from an engine snapshot.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use engine::{StreamInfo, TrackKind};
use serde_json::{Value, json};

use crate::control::state::Control;
use crate::net::error::HttpError;

fn stream_json(info: &StreamInfo) -> Value {
    let stream = &info.stream;
    let stats = stream.stats();
    let workers: Vec<usize> = (0..64)
        .filter(|w| stream.followers() & (1 << w) != 0)
        .collect();
    let video = stream.ring(TrackKind::Video).map(|_| match stream.sps() {
        Some(sps) => json!({
            "codec": "H264",
            "width": sps.width,
            "height": sps.height,
            "profile_level_id": format!("{:02x}{:02x}{:02x}", sps.profile_idc, sps.constraint_flags, sps.level_idc),
        }),
        None => json!({ "codec": "H264", "waiting_for_keyframe": true }),
    });
    let audio = stream
        .ring(TrackKind::Audio)
        .map(|_| json!({ "codec": "opus" }));
    json!({
        "channel": stream.channel(),
        "id": stream.id(),
        "ingest": info.ingest.as_str(),
        "ingest_worker": info.ingest_worker,
        "video": video,
        "audio": audio,
        "viewers": stream.viewers(),
        "bitrate_bps": stats.bytes_in * 8 / stream.started().elapsed().as_secs().max(1),
        "viewer_workers": workers,
        "packets_in": stats.packets_in,
        "bytes_in": stats.bytes_in,
        "dropped": stats.dropped,
        "nacked": stats.nacked,
        "recovered": stats.recovered,
        "keyframe_requests": stats.keyframe_requests,
    })
}

/// `GET /api/streams`
pub async fn streams(State(control): State<Arc<Control>>) -> impl IntoResponse {
    let streams: Vec<Value> = control
        .engine
        .stream_infos()
        .iter()
        .map(stream_json)
        .collect();
    Json(json!({ "streams": streams }))
}

/// `GET /api/streams/{channel}`
pub async fn stream(
    State(control): State<Arc<Control>>,
    Path(channel): Path<String>,
) -> Result<impl IntoResponse, HttpError> {
    control
        .engine
        .stream_infos()
        .iter()
        .find(|info| info.stream.channel() == channel)
        .map(|info| Json(stream_json(info)))
        .ok_or_else(|| HttpError::new(StatusCode::NOT_FOUND, "no live stream on this channel"))
}
