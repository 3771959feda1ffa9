#!/usr/bin/env bash
# `just fuzz [SECONDS] [TARGET|all]`: runs the cargo-fuzz targets in fuzz/.
#
# Needs a nightly toolchain (libFuzzer's sanitizer coverage) and cargo-fuzz;
# installs cargo-fuzz into .tools/cargo if it is missing. Corpora are seeded
# from testdata/pcaps (scripts/fuzz-seeds.py) into fuzz/corpus/ (not
# committed). Prints and writes target/fuzz/summary.txt: executions, new
# coverage, crashes per target.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_PER_TARGET=${1:-60}
WHICH=${2:-all}
TARGETS=(decode hub_message dns replay)
[ "$WHICH" = all ] || TARGETS=("$WHICH")

if ! rustup toolchain list | grep -q '^nightly'; then
    rustup toolchain install nightly --profile minimal
fi
export PATH="$PWD/.tools/cargo/bin:$PATH"
if ! command -v cargo-fuzz >/dev/null; then
    cargo install --locked --root .tools/cargo cargo-fuzz
fi

python3 scripts/fuzz-seeds.py testdata/pcaps fuzz >/dev/null
# The regression inputs are seeds too.
for t in "${TARGETS[@]}"; do
    mkdir -p "fuzz/corpus/$t"
    cp fuzz/regressions/"$t"/* "fuzz/corpus/$t/" 2>/dev/null || true
done

out=${CARGO_TARGET_DIR:-target}/fuzz
mkdir -p "$out"
summary="$out/summary.txt"
: > "$summary"
status=0
for t in "${TARGETS[@]}"; do
    log="$out/$t.log"
    echo "fuzz: $t for ${SECONDS_PER_TARGET}s"
    # Its own target dir: sanitizer flags would invalidate the shared one.
    if CARGO_TARGET_DIR="$out/build" cargo +nightly fuzz run --fuzz-dir fuzz "$t" "fuzz/corpus/$t" -- \
        -max_total_time="$SECONDS_PER_TARGET" -rss_limit_mb=2048 -timeout=10 \
        -print_final_stats=1 >"$log" 2>&1; then
        verdict="no crash"
    else
        verdict="CRASH: see $log and fuzz/artifacts/$t/"
        status=1
    fi
    runs=$(grep -oE '^stat::number_of_executed_units: *[0-9]+' "$log" | grep -oE '[0-9]+$' || echo "?")
    cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -1 | grep -oE '[0-9]+' || echo "?")
    corpus=$(ls "fuzz/corpus/$t" | wc -l)
    line="$t: $runs executions in ${SECONDS_PER_TARGET}s, coverage $cov edges, corpus $corpus, $verdict"
    echo "$line" | tee -a "$summary"
done
exit $status
