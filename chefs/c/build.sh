#!/usr/bin/env bash
# Builds every C chef (each folder of chefs/c/ but sdk/ and template/) into a
# component: chefs/c/packet-count -> target/polyglot/c/packet_count.wasm.
# Intermediate files go to target/polyglot/c-build/.
#
# Per chef: `wit-bindgen c` writes the bindings for wit/chef.wit (chef.c,
# chef.h, and chef_component_type.o, which carries the world's types for
# the component); clang compiles the chef's *.c, the SDK and the bindings
# to a core wasm module; `wasm-tools component new` wraps it in a component.
#
# Tools (scripts/polyglot-tools.sh installs them): Debian's clang, lld,
# wasi-libc and libclang-rt-14-dev-wasm32; wasm-tools in .tools/venv;
# wit-bindgen in .tools/cargo.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
target="${CARGO_TARGET_DIR:-$repo/target}"
out="$target/polyglot/c"
build="$target/polyglot/c-build"

wasm_tools="$repo/.tools/venv/bin/wasm-tools"
wit_bindgen="$repo/.tools/cargo/bin/wit-bindgen"
for tool in "$wasm_tools" "$wit_bindgen"; do
    [ -x "$tool" ] || { echo "c chefs: $tool is missing; run scripts/polyglot-tools.sh" >&2; exit 1; }
done

# Debian's wasi-libc lives in multiarch folders under /usr.
cflags=(--target=wasm32-wasi --sysroot=/usr -isystem /usr/include/wasm32-wasi -O2 -std=c11
        -I "$here/sdk" -I "$build/bindings")
warnings=(-Wall -Wextra -Werror)
# -mexec-model=reactor: a library-style module (no main); the exports are
# the bindings' export_name functions. -lc-printscan-long-double: wasi-libc's
# default printf and strtod keep a "long double unsupported" message for
# stderr, which drags in stdio's file I/O and so WASI imports; this variant
# has none. --strip-debug keeps the name section, for profiles.
ldflags=(-mexec-model=reactor -L/usr/lib/wasm32-wasi -Wl,--strip-debug)
libs=(-lc-printscan-long-double)

mkdir -p "$out" "$build/bindings"
if ! "$wit_bindgen" c "$repo/wit" --world chef --out-dir "$build/bindings" >"$build/wit-bindgen.log" 2>&1; then
    cat "$build/wit-bindgen.log" >&2
    exit 1
fi

# The SDK and the bindings, shared by every chef.
clang "${cflags[@]}" -c "$build/bindings/chef.c" -o "$build/bindings.o"
shared=("$build/bindings.o" "$build/bindings/chef_component_type.o")
for src in "$here"/sdk/*.c; do
    obj="$build/sdk-$(basename "$src" .c).o"
    clang "${cflags[@]}" "${warnings[@]}" -c "$src" -o "$obj"
    shared+=("$obj")
done

built=()
for dir in "$here"/*/; do
    dir="${dir%/}"
    name="$(basename "$dir")"
    case "$name" in sdk | template | node_modules) continue ;; esac
    sources=("$dir"/*.c)
    [ -e "${sources[0]}" ] || { echo "c chefs: $dir has no .c file" >&2; exit 1; }
    wasm_name="${name//-/_}"
    objs=()
    for src in "${sources[@]}"; do
        obj="$build/$wasm_name-$(basename "$src" .c).o"
        clang "${cflags[@]}" "${warnings[@]}" -c "$src" -o "$obj"
        objs+=("$obj")
    done
    core="$build/$wasm_name.core.wasm"
    clang "${cflags[@]}" "${ldflags[@]}" -o "$core" "${objs[@]}" "${shared[@]}" "${libs[@]}"

    # The sandbox grants WASI nothing, and a module importing from it would
    # need the preview1 adapter: refuse (printf to stdout, exit(), files...).
    if "$wasm_tools" print "$core" | grep '(import' | grep -q wasi_snapshot_preview1; then
        echo "c chefs: $name imports from WASI (use nd_log, not stdio):" >&2
        "$wasm_tools" print "$core" | grep '(import' | grep wasi_snapshot_preview1 >&2
        exit 1
    fi
    "$wasm_tools" component new "$core" -o "$out/$wasm_name.wasm.tmp"
    mv "$out/$wasm_name.wasm.tmp" "$out/$wasm_name.wasm"
    built+=("$wasm_name.wasm")
done
echo "c chefs: ${built[*]}"
