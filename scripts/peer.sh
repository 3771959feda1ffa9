#!/usr/bin/env bash
# Installs the real Python netdumplings 0.5.1 peer into .peer/venv (idempotent).
#
# netdumplings pins websockets~=8.1, which fails on Python 3.11; the recipe
# from testdata/pcaps/README.md: install it without deps, then websockets
# 13.1 (14+ breaks its hub), and make `websockets.client` importable before
# its eaters run (a .pth line).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=.peer/venv
STAMP=$VENV/.netdumplings-0.5.1
# The reference Prometheus text parser, for the hub's /metrics test.
PROM=prometheus-client==0.21.1
if [ -f "$STAMP" ]; then
    "$VENV/bin/python" -c 'import prometheus_client' 2>/dev/null \
        || "$VENV/bin/pip" install -q --disable-pip-version-check "$PROM"
    exit 0
fi
rm -rf "$VENV"
python3 -m venv "$VENV"
# With its own pins (click 7.1, scapy, ...), then websockets 13.1 over the pin;
# pip warns about the pin, which is expected.
"$VENV/bin/pip" install -q --disable-pip-version-check netdumplings==0.5.1
"$VENV/bin/pip" install -q --disable-pip-version-check 'websockets==13.1' 2>&1 \
    | grep -v -e "dependency resolver" -e "requires websockets" || true
"$VENV/bin/pip" install -q --disable-pip-version-check "$PROM"
site=$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
echo 'import websockets.client' > "$site/zz_netdumplings_ws_shim.pth"
"$VENV/bin/python" -c 'import netdumplings, websockets; print("netdumplings", netdumplings.__version__, "websockets", websockets.__version__)'
touch "$STAMP"
