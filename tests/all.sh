#!/usr/bin/env bash
# Every check CI runs, on any Debian 12 machine with Rust: formatting, lints
# and every test in the workspace. It first installs what the tests need and
# the machine lacks: rustfmt and clippy (through rustup), and with apt-get,
# as root or through sudo, Debian's libopus-dev and pkg-config (the build:
# RTMP's AAC is encoded to Opus with libopus), ffmpeg (the RTMP publisher
# and media reader of the tests), chromium (the browser tests) and
# redis-server (the cluster tests).
#
#   bash tests/all.sh
set -euo pipefail
cd "$(dirname "$0")/.."

if command -v rustup >/dev/null 2>&1; then
  for component in rustfmt clippy; do
    if ! rustup component list --installed 2>/dev/null | grep -q "^$component"; then
      rustup component add "$component"
    fi
  done
fi

packages=()
dpkg -s libopus-dev >/dev/null 2>&1 || packages+=(libopus-dev)
command -v pkg-config >/dev/null 2>&1 || packages+=(pkg-config)
command -v ffmpeg >/dev/null 2>&1 || packages+=(ffmpeg)
command -v chromium >/dev/null 2>&1 || packages+=(chromium)
command -v redis-server >/dev/null 2>&1 || packages+=(redis-server)
if [ ${#packages[@]} -gt 0 ]; then
  echo "tests/all.sh: installing ${packages[*]} with apt-get" >&2
  as_root=()
  if [ "$(id -u)" -ne 0 ]; then
    if ! command -v sudo >/dev/null 2>&1; then
      echo "tests/all.sh: ${packages[*]} missing; install them as root (apt-get install ${packages[*]})" >&2
      exit 1
    fi
    as_root=(sudo)
  fi
  export DEBIAN_FRONTEND=noninteractive
  "${as_root[@]}" apt-get update -qq
  "${as_root[@]}" apt-get install -y -qq "${packages[@]}"
fi

cargo fmt --all --check
cargo clippy --workspace --all-targets --all-features -- -D warnings
# The binary alone builds the engine without its test-only `internals` feature.
cargo clippy -p engine -p waveguide --lib --bins -- -D warnings
cargo test --workspace --all-features
