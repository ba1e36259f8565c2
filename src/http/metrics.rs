//! The Prometheus metrics (`GET /metrics`): per worker and per stream,
//! built from engine snapshots (values, not shared counters).

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use engine::{StreamInfo, WorkerStats};

use crate::control::state::Control;
use crate::outputs::MediaOutputs;

/// How long a request waits for each worker's counters.
const STATS_TIMEOUT: Duration = Duration::from_secs(2);

/// A label value escaped as the exposition format wants (`\\`, `\"`, `\n`).
fn label_value(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// `GET /metrics`: Prometheus text exposition format.
pub async fn metrics(
    State(control): State<Arc<Control>>,
    State(outputs): State<Arc<MediaOutputs>>,
) -> impl IntoResponse {
    let engine = control.engine.clone();
    let workers: Vec<WorkerStats> =
        tokio::task::spawn_blocking(move || engine.stats(STATS_TIMEOUT))
            .await
            .unwrap_or_default();
    let streams = control.engine.stream_infos();
    let mut out = String::new();
    let mut family = |name: &str, kind: &str, help: &str, samples: &[(String, u64)]| {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for (labels, value) in samples {
            let _ = writeln!(out, "{name}{labels} {value}");
        }
    };
    let per_worker = |value: fn(&WorkerStats) -> u64| -> Vec<(String, u64)> {
        workers
            .iter()
            .map(|w| (format!("{{worker=\"{}\"}}", w.index), value(w)))
            .collect()
    };
    let per_stream = |value: fn(&StreamInfo) -> u64| -> Vec<(String, u64)> {
        streams
            .iter()
            .map(|s| {
                let channel = label_value(s.stream.channel());
                (
                    format!("{{channel=\"{channel}\",ingest=\"{}\"}}", s.ingest.as_str()),
                    value(s),
                )
            })
            .collect()
    };
    family(
        "waveguide_streams",
        "gauge",
        "Live streams.",
        &[(String::new(), streams.len() as u64)],
    );
    family(
        "waveguide_viewers",
        "gauge",
        "Viewers open, per worker.",
        &per_worker(|w| w.viewers as u64),
    );
    family(
        "waveguide_viewers_connected",
        "gauge",
        "Viewers with ICE and DTLS up, per worker.",
        &per_worker(|w| w.connected_viewers as u64),
    );
    family(
        "waveguide_packets_forwarded_total",
        "counter",
        "RTP packets handed to viewers.",
        &per_worker(|w| w.forwarded),
    );
    family(
        "waveguide_datagrams_sent_total",
        "counter",
        "UDP datagrams sent.",
        &per_worker(|w| w.send.sent),
    );
    family(
        "waveguide_bytes_sent_total",
        "counter",
        "UDP payload bytes sent (SRTP included).",
        &per_worker(|w| w.send.bytes),
    );
    family(
        "waveguide_viewer_laps_total",
        "counter",
        "Times a viewer fell a whole ring behind and skipped to a keyframe.",
        &per_worker(|w| w.laps),
    );
    family(
        "waveguide_send_syscalls_total",
        "counter",
        "sendmmsg calls.",
        &per_worker(|w| w.send.syscalls),
    );
    family(
        "waveguide_datagrams_gso_total",
        "counter",
        "Datagrams sent inside UDP GSO messages.",
        &per_worker(|w| w.send.segmented),
    );
    family(
        "waveguide_datagrams_send_dropped_total",
        "counter",
        "Datagrams the kernel refused.",
        &per_worker(|w| w.send.dropped),
    );
    family(
        "waveguide_unroutable_datagrams_total",
        "counter",
        "WebRTC datagrams that matched no peer.",
        &per_worker(|w| w.unroutable),
    );
    family(
        "waveguide_ice_tcp_connections",
        "gauge",
        "ICE-TCP connections open.",
        &per_worker(|w| w.ice_tcp_connections as u64),
    );
    family(
        "waveguide_viewer_keyframe_requests_total",
        "counter",
        "PLI/FIR from viewers.",
        &per_worker(|w| w.keyframe_requests),
    );
    family(
        "waveguide_loop_turns_total",
        "counter",
        "Worker loop turns.",
        &per_worker(|w| w.turns),
    );
    family(
        "waveguide_worker_busy_nanoseconds_total",
        "counter",
        "Time a worker spent working rather than waiting; its rate is the loop utilisation.",
        &per_worker(|w| w.busy_nanos),
    );
    family(
        "waveguide_stream_viewers",
        "gauge",
        "Viewers per stream.",
        &per_stream(|s| s.stream.viewers() as u64),
    );
    family(
        "waveguide_stream_packets_in_total",
        "counter",
        "Media packets in, per stream.",
        &per_stream(|s| s.stream.stats().packets_in),
    );
    family(
        "waveguide_stream_bytes_in_total",
        "counter",
        "Payload bytes in, per stream.",
        &per_stream(|s| s.stream.stats().bytes_in),
    );
    family(
        "waveguide_stream_dropped_total",
        "counter",
        "Datagrams dropped at ingest, per stream.",
        &per_stream(|s| s.stream.stats().dropped),
    );
    family(
        "waveguide_stream_nacked_total",
        "counter",
        "Sequence numbers NACKed to the publisher.",
        &per_stream(|s| s.stream.stats().nacked),
    );
    family(
        "waveguide_stream_keyframe_requests_total",
        "counter",
        "Keyframe requests sent to the publisher.",
        &per_stream(|s| s.stream.stats().keyframe_requests),
    );
    let hls = outputs.hls.metrics();
    let recordings = outputs.recordings.metrics();
    let one = |value: u64| [(String::new(), value)];
    for (name, kind, help, value) in [
        (
            "waveguide_packagers_running",
            "gauge",
            "Streams cut into CMAF now (for HLS or a recording).",
            outputs.packagers.running() as u64,
        ),
        (
            "waveguide_hls_windows",
            "gauge",
            "Streams with a live HLS window.",
            hls.windows as u64,
        ),
        (
            "waveguide_hls_playlist_requests_total",
            "counter",
            "HLS playlist requests.",
            hls.playlist_requests,
        ),
        (
            "waveguide_hls_media_requests_total",
            "counter",
            "HLS segment, part and init requests.",
            hls.media_requests,
        ),
        (
            "waveguide_hls_blocked_requests",
            "gauge",
            "HLS requests held now (blocking reloads, preload hints).",
            hls.blocked_now as u64,
        ),
        (
            "waveguide_hls_blocked_refused_total",
            "counter",
            "HLS requests refused because too many were held.",
            hls.blocked_refused,
        ),
        (
            "waveguide_hls_blocked_timeouts_total",
            "counter",
            "Held HLS requests that timed out.",
            hls.blocked_timeouts,
        ),
        (
            "waveguide_recordings_active",
            "gauge",
            "Recordings being written.",
            recordings.active,
        ),
        (
            "waveguide_recordings_finished_total",
            "counter",
            "Recordings finished.",
            recordings.finished,
        ),
        (
            "waveguide_recordings_failed_total",
            "counter",
            "Recordings stopped by an error (unwritable dir, full disk, a writer behind).",
            recordings.failed,
        ),
        (
            "waveguide_recording_bytes_total",
            "counter",
            "Bytes written to recordings.",
            recordings.bytes_written,
        ),
        (
            "waveguide_recordings_deleted_total",
            "counter",
            "Recordings deleted by retention.",
            recordings.deleted,
        ),
    ] {
        family(name, kind, help, &one(value));
    }
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        out,
    )
}

#[cfg(test)]
mod tests {
    use super::label_value;

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(label_value("123"), "123");
        assert_eq!(label_value("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
