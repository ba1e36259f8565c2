#!/usr/bin/env bash
# Load matrix for BENCHMARKS.md: for each worker count and viewer count,
# start a release waveguide-engine on spare ports, run waveguide-load
# against it, and print the load tool's JSON summary, one line per run.
#
#   bash benches/load.sh                       # 1 and 2 workers, 50..400 viewers, FTL
#   WORKERS="2" VIEWERS="400" INGEST=whip DURATION=20 bash benches/load.sh
#   WORKERS=1 VIEWERS=100 DURATION=1800 CHURN=20 SAMPLE=60 bash benches/load.sh   # soak
#   OUTPUTS=1 WORKERS=1 VIEWERS=400 bash benches/load.sh   # with HLS read and the stream recorded
set -euo pipefail
cd "$(dirname "$0")/.."

WORKERS=${WORKERS:-"1 2"}
VIEWERS=${VIEWERS:-"50 100 200 400"}
INGEST=${INGEST:-ftl}
DURATION=${DURATION:-20}
RAMP=${RAMP:-50}
MEDIA=${MEDIA:-target/bench-media}
PORT=${PORT:-18000}
CHURN=${CHURN:-}
SAMPLE=${SAMPLE:-}
OUTPUTS=${OUTPUTS:-}
extra=()
[[ -n "$CHURN" ]] && extra+=(--churn "$CHURN")
[[ -n "$SAMPLE" ]] && extra+=(--sample-every "$SAMPLE")
BIN=${CARGO_TARGET_DIR:-target}/release

# A 1.5 Mbps 720p30 constrained-baseline clip, 2 s GOP, made once.
if [[ ! -f "$MEDIA/clip.h264" ]]; then
  mkdir -p "$MEDIA"
  ffmpeg -hide_banner -loglevel error -y -f lavfi -i testsrc2=size=1280x720:rate=30 -t 10 \
    -c:v libx264 -profile:v baseline -preset veryfast -b:v 1500k -maxrate 1500k -bufsize 1500k \
    -g 60 -keyint_min 60 -sc_threshold 0 -bsf:v h264_mp4toannexb -f h264 "$MEDIA/clip.h264"
fi
cargo build --release -q -p waveguide -p waveguide-load --bins

config=$(mktemp)
recordings=$(mktemp -d)
trap 'rm -rf "$config" "$recordings"; [[ -n "${hls_reader:-}" ]] && kill "$hls_reader" 2>/dev/null; [[ -n "${server:-}" ]] && kill "$server" 2>/dev/null || true' EXIT
for workers in $WORKERS; do
  for viewers in $VIEWERS; do
    cat >"$config" <<TOML
[http]
address = "127.0.0.1:$((PORT + 91))"
[ftl]
address = "127.0.0.1:$((PORT + 84))"
media_port_min = $((PORT + 500))
media_port_max = $((PORT + 599))
[webrtc]
port_base = $((PORT + 200))
[workers]
count = $workers
[logging]
level = "warn"
TOML
    # With OUTPUTS set, the stream is recorded and an HLS client (FFmpeg)
    # reads its live playlist for the whole run.
    [[ -n "$OUTPUTS" ]] && printf '[recording]\ndir = "%s"\n' "$recordings" >>"$config"
    "$BIN/waveguide-engine" --config "$config" &
    server=$!
    sleep 1
    if [[ -n "$OUTPUTS" ]]; then
      (sleep 3; exec ffmpeg -hide_banner -nostdin -loglevel error \
        -i "http://127.0.0.1:$((PORT + 91))/hls/123/index.m3u8" -c copy -f null -) &
      hls_reader=$!
    fi
    summary=$("$BIN/waveguide-load" --http "http://127.0.0.1:$((PORT + 91))" \
      --ftl "127.0.0.1:$((PORT + 84))" --ingest "$INGEST" --viewers "$viewers" \
      --ramp "$RAMP" --duration "$DURATION" --video "$MEDIA/clip.h264" \
      --audio tests/data/sine-440hz-48k-20ms.opus --server-pid "$server" "${extra[@]}")
    echo "{\"workers\":$workers,\"outputs\":$([[ -n "$OUTPUTS" ]] && echo true || echo false),\"run\":$summary}"
    [[ -n "${hls_reader:-}" ]] && kill "$hls_reader" 2>/dev/null
    hls_reader=
    kill "$server"
    wait "$server" 2>/dev/null || true
    server=
  done
done
