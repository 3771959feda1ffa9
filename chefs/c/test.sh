#!/usr/bin/env bash
# Tests the C SDK and the standard C chefs:
# - sdk/tests/test_sdk.c (JSON, UTF-8, map, DNS check) natively with
#   AddressSanitizer and UBSan, and as wasm32-wasi under node, since the
#   chefs run on wasi-libc's printf and strtod, not glibc's;
# - sdk/tests/test_chefs.c with each chef, through the generated bindings as the
#   kitchen drives them, natively under AddressSanitizer (leaks fail).
# Builds the chefs first (build.sh). Ends with "N passed, N failed".
# Byte-for-byte parity with the Rust chefs on real captures is
# scripts/chef-parity.py's (and the kitchen's polyglot test's) job.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
target=${CARGO_TARGET_DIR:-$root/target}
build=$target/polyglot/c-build/tests
"$here/build.sh"
mkdir -p "$build"

cc=${CC:-cc}
sanitize=(-g -O1 -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer)
includes=(-I "$here/sdk" -I "$target/polyglot/c-build/bindings")
sdk=("$here/sdk/json.c" "$here/sdk/map.c" "$here/sdk/packet.c" "$here/sdk/dissect.c")

passed=0 failed=0
run() { # run NAME COMMAND...: runs a test binary, adds up its closing line
    local log="$build/$1.log" rc=0
    "${@:2}" >"$log" 2>&1 || rc=$?
    grep -v ' passed, ' "$log" || true
    local line
    line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$log" | tail -1 || true)
    if [ -z "$line" ]; then
        echo "$1: no result (exit $rc)"
        failed=$((failed + 1))
        return
    fi
    echo "$1: $line"
    passed=$((passed + $(echo "$line" | cut -d' ' -f1)))
    failed=$((failed + $(echo "$line" | cut -d' ' -f3)))
    if [ "$rc" != 0 ] && [ "$(echo "$line" | cut -d' ' -f3)" = 0 ]; then
        failed=$((failed + 1)) # sanitizer report after the tests passed
    fi
}

"$cc" -std=c11 -Wall -Wextra -Werror "${sanitize[@]}" "${includes[@]}" \
    "$here/sdk/tests/test_sdk.c" "${sdk[@]}" -lm -o "$build/test_sdk"
run test_sdk "$build/test_sdk" "$here/sdk/tests/f64-vectors.txt"

if command -v node >/dev/null; then
    "${CC_WASM:-clang}" --target=wasm32-wasi --sysroot=/usr -isystem /usr/include/wasm32-wasi -O2 -std=c11 \
        -Wall -Wextra -Werror "${includes[@]}" -L/usr/lib/wasm32-wasi \
        "$here/sdk/tests/test_sdk.c" "${sdk[@]}" -lc-printscan-long-double -o "$build/test_sdk.wasm"
    run test_sdk.wasm node --no-warnings "$here/sdk/tests/run-wasi.mjs" "$build/test_sdk.wasm" \
        "$here/sdk/tests" /data/f64-vectors.txt
else
    echo "test_sdk.wasm: skipped (no node)"
fi

# The generated bindings, natively: their wasm-only attributes are ignored.
"$cc" -std=c11 -w "${sanitize[@]}" "${includes[@]}" -c "$target/polyglot/c-build/bindings/chef.c" -o "$build/bindings.o"
for chef in packet-count arp dns-lookup; do
    name=${chef//-/_}
    "$cc" -std=c11 -Wall -Wextra -Werror "${sanitize[@]}" "${includes[@]}" \
        "$here/sdk/tests/test_chefs.c" "$here/$chef/$name.c" "$here/sdk/sdk.c" "${sdk[@]}" \
        "$build/bindings.o" -lm -o "$build/test_$name"
    run "test_$name" "$build/test_$name"
done

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
