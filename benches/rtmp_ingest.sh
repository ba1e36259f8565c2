#!/usr/bin/env bash
# RTMP ingest cost for BENCHMARKS.md: a release waveguide-engine on spare
# ports takes N RTMP publishers at once (Debian's FFmpeg sending a 720p30
# 1.5 Mbit/s H.264 + 44.1 kHz stereo AAC file in real time, copied, so
# FFmpeg itself does no encoding), no viewers; the server's CPU is read from
# /proc over the measured window, split by thread: the control runtime
# (RTMP connections: chunk parsing, H.264 repacketizing), the per-stream
# audio threads (AAC decode, resample, Opus encode) and the workers. One
# JSON line per run.
#
#   bash benches/rtmp_ingest.sh                    # 1, 4 and 16 streams, 20 s each
#   STREAMS="32" DURATION=30 bash benches/rtmp_ingest.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source benches/lib.sh

STREAMS=${STREAMS:-"1 4 16"}
DURATION=${DURATION:-20}
WARMUP=${WARMUP:-5}
MEDIA=${MEDIA:-target/bench-media}
PORT=${PORT:-19000}
BIN=${CARGO_TARGET_DIR:-target}/release
TICKS=$(getconf CLK_TCK)

make_rtmp_clip
cargo build --release -q -p waveguide --bin waveguide-engine

config=$(mktemp)
publishers=()
cleanup() {
  rm -f "$config"
  for p in "${publishers[@]}"; do kill "$p" 2>/dev/null || true; done
  [[ -n "${server:-}" ]] && kill "$server" 2>/dev/null || true
}
trap cleanup EXIT
for streams in $STREAMS; do
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
[logging]
level = "warn"
TOML
  "$BIN/waveguide-engine" --config "$config" &
  server=$!
  sleep 1
  publishers=()
  for channel in $(seq 1 "$streams"); do
    key="$channel-$(printf '%s' "$channel" | sha256sum | cut -d' ' -f1)"
    ffmpeg -hide_banner -nostdin -loglevel error -re -stream_loop -1 -i "$MEDIA/rtmp.flv" \
      -c copy -f flv "rtmp://127.0.0.1:$((PORT + 35))/live/$key" &
    publishers+=($!)
  done
  sleep "$WARMUP"
  live=$(curl -s "http://127.0.0.1:$((PORT + 91))/api/streams" | grep -o '"ingest":"rtmp"' | wc -l)
  all0=$(awk '{print $14 + $15}' /proc/"$server"/stat)
  control0=$(ticks waveguide-contr)
  audio0=$(ticks rtmp-audio)
  workers0=$(ticks waveguide-worke)
  sleep "$DURATION"
  all1=$(awk '{print $14 + $15}' /proc/"$server"/stat)
  control1=$(ticks waveguide-contr)
  audio1=$(ticks rtmp-audio)
  workers1=$(ticks waveguide-worke)
  packets=$(curl -s "http://127.0.0.1:$((PORT + 91))/api/streams" | grep -o '"packets_in":[0-9]*' | cut -d: -f2 | paste -sd+ | bc)
  rss=$(awk '/VmRSS/ {print $2}' /proc/"$server"/status)
  percent() { printf '%.2f' "$(echo "scale=4; 100 * ($2 - $1) / $TICKS / $DURATION" | bc)"; }
  echo "{\"streams\":$streams,\"live\":$live,\"seconds\":$DURATION,\"server_cpu_percent\":$(percent "$all0" "$all1"),\"control_cpu_percent\":$(percent "$control0" "$control1"),\"audio_threads_cpu_percent\":$(percent "$audio0" "$audio1"),\"workers_cpu_percent\":$(percent "$workers0" "$workers1"),\"per_stream_cpu_percent\":$(printf '%.3f' "$(echo "scale=4; $(percent "$all0" "$all1") / $streams" | bc)"),\"packets_in\":$packets,\"rss_kib\":$rss}"
  for p in "${publishers[@]}"; do kill "$p" 2>/dev/null || true; done
  wait "${publishers[@]}" 2>/dev/null || true
  kill "$server"
  wait "$server" 2>/dev/null || true
  server=
done
