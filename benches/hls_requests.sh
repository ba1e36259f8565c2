#!/usr/bin/env bash
# HLS requests per second from one core, for BENCHMARKS.md: a release
# waveguide-engine pinned to CPU 0 (taskset) serves one RTMP stream's LL-HLS
# to wrk (Debian's package) on the other core: the playlist, a whole
# segment, and a part. One JSON line per target.
#
#   bash benches/hls_requests.sh
#   CONNECTIONS=256 DURATION=20 bash benches/hls_requests.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source benches/lib.sh

DURATION=${DURATION:-5}
CONNECTIONS=${CONNECTIONS:-64}
MEDIA=${MEDIA:-target/bench-media}
PORT=${PORT:-19700}
BIN=${CARGO_TARGET_DIR:-target}/release
command -v wrk >/dev/null || apt-get install -y wrk >/dev/null

make_rtmp_clip
cargo build --release -q -p waveguide --bin waveguide-engine

config=$(mktemp)
cleanup() {
  rm -f "$config"
  [[ -n "${publisher:-}" ]] && kill "$publisher" 2>/dev/null
  [[ -n "${server:-}" ]] && kill "$server" 2>/dev/null || true
}
trap cleanup EXIT
cat >"$config" <<TOML
[http]
address = "127.0.0.1:$((PORT + 91))"
[ftl]
address = "127.0.0.1:$((PORT + 84))"
[rtmp]
address = "127.0.0.1:$((PORT + 35))"
[webrtc]
port_base = $((PORT + 200))
[workers]
count = 1
[hls]
idle_timeout_ms = 600000
[logging]
level = "warn"
TOML
taskset -c 0 "$BIN/waveguide-engine" --config "$config" &
server=$!
sleep 1
key="1-$(printf '1' | sha256sum | cut -d' ' -f1)"
taskset -c 1 ffmpeg -hide_banner -nostdin -loglevel error -re -stream_loop -1 -i "$MEDIA/rtmp.flv" \
  -c copy -f flv "rtmp://127.0.0.1:$((PORT + 35))/live/$key" &
publisher=$!
base="http://127.0.0.1:$((PORT + 91))/hls/1"
for _ in $(seq 1 40); do
  playlist=$(curl -sf "$base/index.m3u8" || true)
  [[ $(grep -c '^#EXTINF' <<<"$playlist") -ge 3 ]] && break
  sleep 1
done
# Each target is picked from a fresh playlist just before its run (the
# newest whole segment, and the first part of it), so it stays in the
# window (six segments of 2 s by default) for the whole run.
pick() {
  local playlist
  playlist=$(curl -sf "$base/index.m3u8")
  case $1 in
    playlist) echo index.m3u8 ;;
    segment) grep -v '^#' <<<"$playlist" | grep . | tail -1 ;;
    part) awk '/^#EXT-X-PART:/ {if (!p) p = $0} /^#EXTINF/ {if (p) last = p; p = ""} END {print last}' <<<"$playlist" |
      grep -o 'URI="[^"]*"' | cut -d'"' -f2 ;;
  esac
}
for kind in playlist segment part; do
  target=$(pick "$kind")
  bytes=$(curl -sf "$base/$target" | wc -c)
  report=$(taskset -c 1 wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" "$base/$target")
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$report")
  failed=$(awk '/Non-2xx/ {print $NF}' <<<"$report")
  echo "{\"target\":\"$kind\",\"uri\":\"$target\",\"bytes\":$bytes,\"connections\":$CONNECTIONS,\"seconds\":$DURATION,\"requests_per_second\":${rps:-0},\"non_2xx\":${failed:-0}}"
done
