#!/usr/bin/env bash
# `just demo`: hub + kitchen + printer on this machine, then a clean shutdown
# and a word on what ran and what to try next.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${CARGO_TARGET_DIR:-target}/debug
IN_PORT=${ND_DEMO_IN_PORT:-11347}
OUT_PORT=${ND_DEMO_OUT_PORT:-11348}

pids=()
REPORT=$(mktemp)
cleanup() {
    for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -f "$REPORT"
}
trap cleanup EXIT

"$BIN/nd-hub" -a 127.0.0.1 -i "$IN_PORT" -o "$OUT_PORT" -f 2 &
pids+=($!)
for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/"$OUT_PORT") 2>/dev/null && break; sleep 0.05; done

# The printer shows every kitchen dumpling (not the hub's status ones).
"$BIN/nd-print" -h "127.0.0.1:$OUT_PORT" -c PacketCountChef -c ARPChef -c DNSLookupChef &
pids+=($!)
sleep 0.5

# Live on loopback when root (and asked to), else a capture in the repository.
PCAP=${ND_DEMO_PCAP:-testdata/pcaps/wikipedia.pcap}
if [ "$(id -u)" = 0 ] && [ -n "${ND_DEMO_LIVE:-}" ]; then
    echo "demo: kitchen sniffing lo for 10 s" >&2
    what="sniffing the loopback interface"
    timeout -s INT 10 "$BIN/nd-sniff" -n demo_kitchen -h "127.0.0.1:$IN_PORT" -i lo -p 2 \
        --report "$REPORT" || true
else
    echo "demo: kitchen replaying $PCAP" >&2
    what="replaying $PCAP"
    "$BIN/nd-sniff" -n demo_kitchen -h "127.0.0.1:$IN_PORT" --read "$PCAP" -p 1 --report "$REPORT"
fi
sleep 1

# What the kitchen's own report says it did.
summary=$(python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))
chefs = ", ".join("%s %d" % (c["name"], c["payloads"]) for c in r["chefs"])
print("%d packets in; dumplings out: %s" % (r["packets"], chefs))
' "$REPORT" 2>/dev/null || true)
# Stop the hub and printer first, so their goodbyes come before the summary.
for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
wait 2>/dev/null || true
pids=()

cat >&2 <<EOF

demo: what you saw
  nd-hub       the hub, on 127.0.0.1:$IN_PORT for kitchens and :$OUT_PORT for eaters
  nd-sniff     a kitchen $what through the standard chefs
               (PacketCountChef, ARPChef, DNSLookupChef: sandboxed WebAssembly components)
               ${summary}
  nd-print     an eater: each dumpling above reached it through the hub
demo: try next
  the dashboard    $BIN/nd-hub --web 8080, open http://localhost:8080/, and in another
                   terminal: $BIN/nd-sniff --read $PCAP --realtime
  a live capture   sudo $BIN/nd-sniff -i lo    (or setcap: see README.md)
  your own chef    ./x new-chef rust MyChef    (any language: docs/writing-a-chef.md)
  every test       ./x test
EOF
