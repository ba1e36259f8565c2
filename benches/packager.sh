#!/usr/bin/env bash
# The packager's cost for BENCHMARKS.md: a release waveguide-engine on spare
# ports takes N RTMP publishers (Debian's FFmpeg copying the 720p30
# 1.5 Mbit/s H.264 + AAC file of benches/rtmp_ingest.sh, in real time), each
# stream recorded to disk and read live over LL-HLS by one FFmpeg client.
# The server's CPU over the measured window is split by thread: the
# packagers (ring reads, depacketizing, CMAF), the control runtime (RTMP
# connections, HLS requests), the recording writers and the workers. One
# JSON line per run.
#
#   bash benches/packager.sh                       # 1, 4 and 16 streams, 20 s each
#   STREAMS="32" DURATION=30 bash benches/packager.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source benches/lib.sh

STREAMS=${STREAMS:-"1 4 16"}
DURATION=${DURATION:-20}
WARMUP=${WARMUP:-6}
MEDIA=${MEDIA:-target/bench-media}
PORT=${PORT:-19500}
BIN=${CARGO_TARGET_DIR:-target}/release
TICKS=$(getconf CLK_TCK)

make_rtmp_clip
cargo build --release -q -p waveguide --bin waveguide-engine

config=$(mktemp)
recordings=$(mktemp -d)
children=()
cleanup() {
  rm -rf "$config" "$recordings"
  for p in "${children[@]}"; do kill "$p" 2>/dev/null || true; done
  [[ -n "${server:-}" ]] && kill "$server" 2>/dev/null || true
}
trap cleanup EXIT
for streams in $STREAMS; do
  rm -rf "${recordings:?}"/*
  cat >"$config" <<TOML
[http]
address = "127.0.0.1:$((PORT + 91))"
[ftl]
address = "127.0.0.1:$((PORT + 84))"
[rtmp]
address = "127.0.0.1:$((PORT + 35))"
[webrtc]
port_base = $((PORT + 200))
[limits]
max_streams = 1000
[recording]
dir = "$recordings"
[logging]
level = "warn"
TOML
  "$BIN/waveguide-engine" --config "$config" &
  server=$!
  sleep 1
  children=()
  for channel in $(seq 1 "$streams"); do
    key="$channel-$(printf '%s' "$channel" | sha256sum | cut -d' ' -f1)"
    ffmpeg -hide_banner -nostdin -loglevel error -re -stream_loop -1 -i "$MEDIA/rtmp.flv" \
      -c copy -f flv "rtmp://127.0.0.1:$((PORT + 35))/live/$key" &
    children+=($!)
  done
  sleep 2
  for channel in $(seq 1 "$streams"); do
    ffmpeg -hide_banner -nostdin -loglevel error \
      -i "http://127.0.0.1:$((PORT + 91))/hls/$channel/index.m3u8" -c copy -f null - &
    children+=($!)
  done
  sleep "$WARMUP"
  all0=$(awk '{print $14 + $15}' /proc/"$server"/stat)
  packagers0=$(ticks packager)
  control0=$(ticks waveguide-contr)
  writers0=$(ticks recording)
  workers0=$(ticks waveguide-worke)
  sleep "$DURATION"
  all1=$(awk '{print $14 + $15}' /proc/"$server"/stat)
  packagers1=$(ticks packager)
  control1=$(ticks waveguide-contr)
  writers1=$(ticks recording)
  workers1=$(ticks waveguide-worke)
  running=$(curl -s "http://127.0.0.1:$((PORT + 91))/metrics" | awk '/^waveguide_packagers_running/ {print $2}')
  recorded=$(du -sk "$recordings" | cut -f1)
  percent() { printf '%.2f' "$(echo "scale=4; 100 * ($2 - $1) / $TICKS / $DURATION" | bc)"; }
  echo "{\"streams\":$streams,\"packagers\":${running:-0},\"seconds\":$DURATION,\"server_cpu_percent\":$(percent "$all0" "$all1"),\"packagers_cpu_percent\":$(percent "$packagers0" "$packagers1"),\"per_packager_cpu_percent\":$(printf '%.3f' "$(echo "scale=4; $(percent "$packagers0" "$packagers1") / $streams" | bc)"),\"control_cpu_percent\":$(percent "$control0" "$control1"),\"recording_writers_cpu_percent\":$(percent "$writers0" "$writers1"),\"workers_cpu_percent\":$(percent "$workers0" "$workers1"),\"recorded_kib\":$recorded}"
  for p in "${children[@]}"; do kill "$p" 2>/dev/null || true; done
  wait "${children[@]}" 2>/dev/null || true
  kill "$server"
  wait "$server" 2>/dev/null || true
  server=
done
