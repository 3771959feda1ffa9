#!/usr/bin/env bash
# Builds every JavaScript chef (each folder here but sdk/ and template/) into
#   ${CARGO_TARGET_DIR:-<repo>/target}/polyglot/js/<folder, - as _>.wasm
# with intermediate files in .../polyglot/js-build/. Unchanged chefs are not
# rebuilt. Arguments go to build.mjs: [--out DIR] [CHEF ...].
# Needs Node >= 20 and chefs/js/node_modules (scripts/polyglot-tools.sh).
set -euo pipefail
cd "$(dirname "$0")"
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    npm ci --no-audit --no-fund --loglevel=error
fi
exec node build.mjs "$@"
