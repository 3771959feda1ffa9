#!/usr/bin/env bash
# Builds every chef component and stages them:
#   target/chefs/        the standard chefs (nd-sniff's default --chef-dir)
#   target/test-chefs/   misbehaving and hot-swap chefs used by the tests
#   target/polyglot/rust/ every Rust chef, as target/polyglot/<lang>/ for other languages
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
out="$CARGO_TARGET_DIR/wasm32-wasip2/release"

(cd chefs/rust && cargo build --quiet --target wasm32-wasip2 --release)

mkdir -p "$CARGO_TARGET_DIR/chefs" "$CARGO_TARGET_DIR/test-chefs"
for c in packet_count arp dns_lookup; do
    cp "$out/chef_$c.wasm" "$CARGO_TARGET_DIR/chefs/$c.wasm"
done
# Every Rust chef (standard or made with `just new-chef rust`), like the other languages'.
mkdir -p "$CARGO_TARGET_DIR/polyglot/rust"
for f in "$out"/chef_*.wasm; do
    name=$(basename "$f" .wasm)
    cp "$f" "$CARGO_TARGET_DIR/polyglot/rust/${name#chef_}.wasm"
done
for f in "$out"/test_chef_*.wasm; do
    name=$(basename "$f" .wasm)
    cp "$f" "$CARGO_TARGET_DIR/test-chefs/${name#test_chef_}.wasm"
done
echo "chefs: $(ls "$CARGO_TARGET_DIR/chefs" | tr '\n' ' ')"
