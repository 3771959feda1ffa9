#!/usr/bin/env bash
# Builds every Python chef (each folder here but sdk/ and template/) into
# $CARGO_TARGET_DIR/polyglot/python/<folder, - as _>.wasm with componentize-py,
# which bundles CPython, the SDK and the chef into one component.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
target="${CARGO_TARGET_DIR:-$repo/target}"
componentize_py="${COMPONENTIZE_PY:-$repo/.tools/venv/bin/componentize-py}"
out="$target/polyglot/python"
mkdir -p "$out"
for dir in "$here"/*/; do
    name="$(basename "$dir")"
    case "$name" in sdk | template | __pycache__) continue ;; esac
    wasm="$out/${name//-/_}.wasm"
    # componentize-py takes ~7 s a chef: skip chefs whose sources did not change.
    if [ -f "$wasm" ] && [ -z "$(find "$dir" "$here/sdk" "$repo/wit" -newer "$wasm" -type f -print -quit)" ]; then
        continue
    fi
    # The app module is app.py; the SDK and the chef's folder are on its path.
    "$componentize_py" -d "$repo/wit" -w chef componentize \
        -p "$dir" -p "$here/sdk" app -o "$wasm.tmp" >/dev/null
    mv "$wasm.tmp" "$wasm"
done
