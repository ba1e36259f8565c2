//! Metadata heartbeats: every few seconds (15 s by default, as in the
//! original) each live stream's figures go to the webhook; a stream whose
//! heartbeats keep failing is stopped.

use std::sync::Arc;
use std::time::Duration;

use ftl::StatusCode;
use serde_json::json;

use super::state::Control;

/// Runs heartbeat rounds on `runtime` while the node lives, if the service
/// is a webhook. `ingest_server` names this node in every event.
pub fn spawn(control: &Arc<Control>, runtime: &tokio::runtime::Handle, ingest_server: String) {
    let Some(webhook) = control.service.webhook() else {
        return;
    };
    let interval = Duration::from_millis(webhook.heartbeat_ms.max(100));
    let max_failures = webhook.max_failed_heartbeats.max(1);
    let control = Arc::clone(control);
    runtime.spawn(async move {
        let mut ticks = tokio::time::interval(interval);
        ticks.tick().await;
        loop {
            ticks.tick().await;
            round(&control, &ingest_server, interval, max_failures).await;
        }
    });
}

/// One round: each live stream's figures go to the service; a stream whose
/// heartbeats failed `max_failures` times in a row is stopped.
async fn round(control: &Control, ingest_server: &str, interval: Duration, max_failures: u32) {
    for info in control.engine.stream_infos() {
        let stream = &info.stream;
        let stats = stream.stats();
        let Some(started) = control.started.get(stream.id()) else {
            continue;
        };
        let bits = stats.bytes_in.saturating_sub(started.last_bytes) * 8;
        let bitrate = bits * 1000 / (interval.as_millis() as u64).max(1);
        let sps = stream.sps();
        let event = json!({
            "event": "metadata",
            "channel": stream.channel(),
            "stream_id": stream.id(),
            "ingest": info.ingest.as_str(),
            "ingest_server": ingest_server,
            "video_codec": stream.ring(engine::TrackKind::Video).map(|_| "H264"),
            "audio_codec": stream.ring(engine::TrackKind::Audio).map(|_| "OPUS"),
            "video_width": sps.map(|s| s.width),
            "video_height": sps.map(|s| s.height),
            "viewers": stream.viewers(),
            "packets_received": stats.packets_in,
            "packets_lost": stats.lost,
            "packets_nacked": stats.nacked,
            "source_bitrate": bitrate,
            "uptime_seconds": started.since.elapsed().as_secs(),
            "vendor_name": started.vendor_name,
            "vendor_version": started.vendor_version,
        });
        let delivered = control.service.notify(&event).await;
        let failures = if delivered {
            0
        } else {
            started.failed_heartbeats + 1
        };
        control
            .started
            .record_heartbeat(stream.id(), stats.bytes_in, failures);
        if failures >= max_failures {
            tracing::warn!(channel = %stream.channel(), "service heartbeats keep failing; stopping the stream");
            control.engine.remove_stream(stream.channel(), stream.id());
            control
                .ftl
                .end_stream(stream.id(), StatusCode::ServerTerminate);
            control.stream_stopped(stream.id());
        }
    }
}
