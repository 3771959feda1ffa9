# netdumplings in Rust. `just demo` runs the pipeline, `just test` every test.

set shell := ["bash", "-euo", "pipefail", "-c"]

# One target directory for the host workspace and the guest chefs.
export CARGO_TARGET_DIR := justfile_directory() / "target"
# nd-sniff embeds the standard chefs (runtime/build.rs): from here, as
# `rust-chefs` stages them, so they are compiled once. Every recipe that
# builds the host crates depends on `rust-chefs` for that reason.
export ND_STANDARD_CHEFS := CARGO_TARGET_DIR / "chefs"

default:
    @just --list

# Hub + kitchen + default chefs + a printer, end to end (builds only those).
demo: rust-chefs
    @echo "demo: building nd-hub, nd-sniff, nd-print (debug; a cold build takes a few minutes)"
    cargo build --bins -p nd-hub -p nd-runtime -p nd-eater
    scripts/demo.sh

# Build the host binaries (nd-hub, nd-sniff, nd-print, ...).
build: rust-chefs
    cargo build --workspace --bins

# Install the real Python netdumplings 0.5.1 peer into .peer/venv.
peer:
    scripts/peer.sh

# Formatting and clippy, warnings are errors.
lint: rust-chefs
    cargo fmt --all -- --check
    cargo clippy --workspace --all-targets -- -D warnings
    cd chefs/rust && cargo fmt --all -- --check && cargo clippy --target wasm32-wasip2 --all-targets -- -D warnings

# Every test: lint, unit, integration, interop with the Python peer, chefs in every language.
test: lint peer build chefs chef-sdk-tests browser
    cargo test --workspace

# playwright-core for the dashboard's browser test (Chromium itself is Debian's: .ci/run).
browser:
    cd tests/browser && if [ ! -d node_modules/playwright-core ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then npm ci --no-audit --no-fund --loglevel=error; fi

# The non-Rust chef SDKs' own unit tests: C natively under AddressSanitizer and
# as wasm under node, JavaScript under node, Zig natively. (Every language's
# chefs against the Rust ones, through the kitchen: runtime/tests/polyglot.rs.)
chef-sdk-tests: chefs
    chefs/c/test.sh | tail -1
    cd chefs/js && npm test --silent >/dev/null
    ZIG_LOCAL_CACHE_DIR="$CARGO_TARGET_DIR/polyglot/zig-build/zig-cache" .tools/venv/bin/python -m ziglang \
        test -lc --dep bindings -Mroot=chefs/zig/sdk/sdk.zig \
        -Mbindings="$CARGO_TARGET_DIR/polyglot/zig-build/bindings/chef_h.zig"

# Fuzz each target (decode, hub_message, dns, replay) for SECONDS with libFuzzer
# (nightly, cargo-fuzz: installed into .tools/ if missing). Summary in
# target/fuzz/summary.txt; crashes in fuzz/artifacts/ (add them to
# fuzz/regressions/<target>/ once fixed).
fuzz seconds="60" target="all":
    scripts/fuzz.sh {{seconds}} {{target}}

# Benchmarks, each beside its reference (the Python peer, native code); figures in BENCHMARKS.md.
# `just bench hub|chef|swap|kitchen|polyglot|bus` runs one.
bench what="all": peer chefs
    cargo build --release --workspace --bins
    "$CARGO_TARGET_DIR/release/nd-bench" {{what}}

# Soak: hub + 2 kitchens + 3 eaters replaying captures for MINUTES (release
# build); prints RSS over time per process and checks in == out per eater.
soak minutes="5": rust-chefs
    cargo build --release --workspace --bins
    "$CARGO_TARGET_DIR/release/nd-soak" {{minutes}}

# Build every chef, in every language, into .wasm (installs the toolchains into .tools/ once).
chefs: rust-chefs
    scripts/polyglot-tools.sh
    for build in chefs/*/build.sh; do echo "chefs: $build"; "$build"; done

# Build the Rust chefs; stage the standard ones in target/chefs (nd-sniff's default).
rust-chefs:
    scripts/build-chefs.sh

# Scaffold a new chef from chefs/LANG/template (LANG: rust python js c zig; NAME: CamelCase).
new-chef lang name:
    scripts/new-chef.sh {{lang}} {{name}}

# The release bundle: a tarball and a Debian package (release build) in target/dist/.
dist: rust-chefs
    cargo build --release --bins -p nd-hub -p nd-runtime -p nd-eater
    scripts/dist.sh

# Install the .deb on this machine, check the installed tools with no
# checkout, purge it (root only; CI runs it). Packages the debug build the
# tests made, to spare CI a release build; `just dist` packages the release one.
deb-test: build
    ND_DIST_PROFILE=debug scripts/dist.sh
    scripts/deb-test.sh
