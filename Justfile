# netdumplings in Rust. `just demo` runs the pipeline, `just test` every test.

set shell := ["bash", "-euo", "pipefail", "-c"]

# One target directory for the host workspace and the guest chefs.
export CARGO_TARGET_DIR := justfile_directory() / "target"

default:
    @just --list

# Hub + kitchen + default chefs + a printer, end to end.
demo: build chefs
    scripts/demo.sh

# Build the host binaries (nd-hub, nd-sniff, nd-print, ...).
build:
    cargo build --workspace --bins

# Install the real Python netdumplings 0.5.1 peer into .peer/venv.
peer:
    scripts/peer.sh

# Formatting and clippy, warnings are errors.
lint:
    cargo fmt --all -- --check
    cargo clippy --workspace --all-targets -- -D warnings
    cd chefs/rust && cargo fmt --all -- --check && cargo clippy --target wasm32-wasip2 --all-targets -- -D warnings

# Every test: lint, unit, integration, interop with the Python peer.
test: lint peer build chefs
    cargo test --workspace

# Benchmarks, each beside its reference (the Python peer, native code); figures in BENCHMARKS.md.
# `just bench hub|chef|swap|kitchen` runs one.
bench what="all": peer chefs
    cargo build --release --workspace --bins
    "$CARGO_TARGET_DIR/release/nd-bench" {{what}}

# Build every chef into .wasm; stage the standard ones in target/chefs (nd-sniff's default).
chefs:
    scripts/build-chefs.sh
