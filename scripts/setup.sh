#!/usr/bin/env bash
# Installs what a bare machine (rustup/cargo, python3, node) lacks before a
# `just` recipe can run, and says what it does. Used by `./x` (the README's
# two commands) and `.ci/run`.
#
#   scripts/setup.sh demo   what `just demo` needs: libpcap-dev, the wasm32-wasip2 target, just
#   scripts/setup.sh test   what `just test` needs as well: the C chefs' clang/lld/wasi-libc,
#                           Chromium (dashboard test), systemd (unit file checks)
#
# Debian packages are installed when root (or with password-less sudo);
# otherwise it stops at once and prints the exact command to run. The
# registry tools (the Python peer, componentize-py, zig, jco, ...) are not
# here: the recipes install those themselves, into .peer/ and .tools/.
#
# Prints the directory holding `just` on its last line of stdout when
# `just` was installed here (not on PATH), so that callers can add it.
set -euo pipefail
cd "$(dirname "$0")/.."

what=${1:-demo}
say() { echo "setup: $*" >&2; }

# --- Debian packages ------------------------------------------------------------
# libpcap-dev: the kitchen links libpcap (capture, BPF filters, file replay).
demo_pkgs=(libpcap-dev)
# clang, lld, wasi-libc, libclang-rt-14-dev-wasm32: the C chefs (wasm32-wasi).
# chromium: the dashboard's browser test (headless). systemd: systemd-analyze
# verify of the unit files; dpkg-dev: dpkg-deb for the .deb. nats-server: the
# bus tests (hubs federated through NATS JetStream) start real servers.
test_pkgs=(clang lld wasi-libc libclang-rt-14-dev-wasm32 chromium systemd nats-server)
case "$what" in
demo) pkgs=("${demo_pkgs[@]}") ;;
test) pkgs=("${demo_pkgs[@]}" "${test_pkgs[@]}") ;;
*)
    echo "usage: scripts/setup.sh demo|test" >&2
    exit 2
    ;;
esac

if command -v dpkg >/dev/null; then
    missing=()
    for p in "${pkgs[@]}"; do
        dpkg -s "$p" 2>/dev/null | grep -q '^Status: install ok installed' || missing+=("$p")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        cmd="apt-get update && apt-get install -y --no-install-recommends ${missing[*]}"
        if [ "$(id -u)" = 0 ]; then
            sudo=""
        elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
            sudo="sudo"
        else
            say "missing Debian packages: ${missing[*]}"
            say "run this as root, then try again:"
            echo "    sudo sh -c '$cmd'" >&2
            exit 1
        fi
        say "installing Debian packages: ${missing[*]} (apt-get, about a minute)"
        export DEBIAN_FRONTEND=noninteractive
        $sudo apt-get update -qq
        $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    fi
elif ! ldconfig -p 2>/dev/null | grep -q 'libpcap\.so '; then
    # Not Debian: the one library the build itself needs, by its own name.
    say "libpcap's development files are missing (libpcap-dev / libpcap-devel / brew install libpcap)"
    exit 1
fi

# --- Rust: the chefs' target ---------------------------------------------------------
# rust-toolchain.toml names it, but not every rustup installs targets from it.
if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-wasip2; then
    say "adding the Rust target wasm32-wasip2 (the chefs are WebAssembly components)"
    rustup target add wasm32-wasip2 >&2
fi
if [ "$what" = test ]; then
    for c in rustfmt clippy; do
        if ! rustup component list --installed 2>/dev/null | grep -q "^$c"; then
            say "adding the Rust component $c (just lint)"
            rustup component add "$c" >&2
        fi
    done
fi

# --- just ------------------------------------------------------------------------------
# A prebuilt binary from PyPI (seconds), in its own venv under .tools/;
# cargo install as the fallback (minutes).
if ! command -v just >/dev/null && [ ! -x .tools/just/bin/just ]; then
    say "installing just (the task runner) into .tools/just"
    rm -rf .tools/just
    if ! { python3 -m venv .tools/just && .tools/just/bin/pip install -q --disable-pip-version-check rust-just==1.43.0; }; then
        say "PyPI's rust-just failed; building just with cargo (a few minutes)"
        cargo install --quiet --locked --root .tools/just just >&2
    fi
fi
if ! command -v just >/dev/null; then
    echo "$PWD/.tools/just/bin"
fi
