#!/usr/bin/env bash
# `just demo`: hub + kitchen + printer on this machine, then a clean shutdown.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${CARGO_TARGET_DIR:-target}/debug
IN_PORT=${ND_DEMO_IN_PORT:-11347}
OUT_PORT=${ND_DEMO_OUT_PORT:-11348}

pids=()
cleanup() { for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

"$BIN/nd-hub" -a 127.0.0.1 -i "$IN_PORT" -o "$OUT_PORT" -f 2 &
pids+=($!)
for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/"$OUT_PORT") 2>/dev/null && break; sleep 0.05; done

"$BIN/nd-print" -h "127.0.0.1:$OUT_PORT" -c PacketCountChef &
pids+=($!)
sleep 0.5

echo "demo: kitchen starting" >&2
cargo run -q -p nd-hub --example synthetic_kitchen -- "127.0.0.1:$IN_PORT"
sleep 1
echo "demo: done" >&2
