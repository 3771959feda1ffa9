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

# The printer shows every kitchen dumpling (not the hub's status ones).
"$BIN/nd-print" -h "127.0.0.1:$OUT_PORT" -c PacketCountChef -c ARPChef -c DNSLookupChef &
pids+=($!)
sleep 0.5

# Live on loopback when root (and not told otherwise), else a bundled capture.
PCAP=${ND_DEMO_PCAP:-testdata/pcaps/wikipedia.pcap}
if [ "$(id -u)" = 0 ] && [ -n "${ND_DEMO_LIVE:-}" ]; then
    echo "demo: kitchen sniffing lo for 10 s" >&2
    timeout -s INT 10 "$BIN/nd-sniff" -n demo_kitchen -h "127.0.0.1:$IN_PORT" -i lo -p 2 || true
else
    echo "demo: kitchen replaying $PCAP" >&2
    "$BIN/nd-sniff" -n demo_kitchen -h "127.0.0.1:$IN_PORT" --read "$PCAP" -p 1
fi
sleep 1
echo "demo: done" >&2
