#!/usr/bin/env bash
# Builds every Zig chef (each folder of chefs/zig/ but sdk/ and template/)
# into a component: chefs/zig/packet-count -> target/polyglot/zig/packet_count.wasm.
# Intermediate files go to target/polyglot/zig-build/.
#
# Per chef: Zig compiles the chef, the SDK and wit-bindgen's C bindings into
# a core wasm module (wasm32-wasi libc for malloc, but no WASI imports), then
# wasm-tools embeds the WIT world and wraps the module into a component.
#
# Tools (scripts/polyglot-tools.sh installs them): zig from the ziglang wheel
# in .tools/venv, wasm-tools in .tools/venv, wit-bindgen in .tools/cargo.
# ZIG_CHEF_OPTIMIZE picks Zig's optimize mode (default ReleaseSafe: a chef bug
# traps with a message in the kitchen's log instead of misbehaving silently).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
target="${CARGO_TARGET_DIR:-$repo/target}"
out="$target/polyglot/zig"
build="$target/polyglot/zig-build"
optimize="${ZIG_CHEF_OPTIMIZE:-ReleaseSafe}"

zig=("$repo/.tools/venv/bin/python" -m ziglang)
wasm_tools="$repo/.tools/venv/bin/wasm-tools"
wit_bindgen="$repo/.tools/cargo/bin/wit-bindgen"
for tool in "$repo/.tools/venv/bin/python" "$wasm_tools" "$wit_bindgen"; do
    [ -x "$tool" ] || { echo "zig chefs: $tool is missing; run scripts/polyglot-tools.sh" >&2; exit 1; }
done

mkdir -p "$out" "$build/bindings"
# Zig's per-project cache goes there too. Its global cache (the toolchain's
# own builds: translate-c and wasi-libc, minutes to make, once per machine)
# stays where Zig keeps it, ~/.cache/zig or $ZIG_GLOBAL_CACHE_DIR, so that a
# fresh target directory does not pay for them again.
export ZIG_LOCAL_CACHE_DIR="$build/zig-cache"

# C bindings for the `chef` world: chef.c (the canonical-ABI glue, calling
# the exports_netdumplings_chef_handlers_* functions sdk/main.zig defines),
# chef.h, and chef_component_type.o. Zig reads chef.h through translate-c
# (Zig 0.17 has no @cImport).
if ! log="$("$wit_bindgen" c "$repo/wit" --world chef --out-dir "$build/bindings" 2>&1)"; then
    echo "$log" >&2
    exit 1
fi
"${zig[@]}" translate-c -target wasm32-wasi -lc "$build/bindings/chef.h" > "$build/bindings/chef_h.zig.tmp"
mv "$build/bindings/chef_h.zig.tmp" "$build/bindings/chef_h.zig"

cd "$build"
built=()
for dir in "$here"/*/; do
    dir="${dir%/}"
    name="$(basename "$dir")"
    case "$name" in sdk | template | node_modules) continue ;; esac
    if [ ! -f "$dir/chef.zig" ]; then
        echo "zig chefs: $dir has no chef.zig" >&2
        exit 1
    fi
    wasm_name="${name//-/_}"
    work="$build/$wasm_name"
    mkdir -p "$work"
    # `zig build-exe` does not cache its output (only `zig build` does), and
    # a chef takes seconds to compile: skip it when no input changed.
    stamp="$(
        echo "$optimize $("${zig[@]}" version) $("$wasm_tools" --version)"
        find "$dir" "$here/sdk" -type f -print0 | sort -z | xargs -0 sha256sum
        sha256sum "$build/bindings/"* "$here/build.sh"
    )"
    if [ -f "$out/$wasm_name.wasm" ] && [ "$stamp" = "$(cat "$work/stamp" 2>/dev/null)" ]; then
        built+=("$wasm_name.wasm")
        continue
    fi
    # Modules: root = sdk/main.zig (the exports), chef = the chef's chef.zig,
    # sdk = sdk/sdk.zig (the chef-facing API), bindings = translated chef.h.
    # -mexec-model=reactor: a library-style module, no _start.
    "${zig[@]}" build-exe \
        -target wasm32-wasi -O "$optimize" -fno-entry -mexec-model=reactor -lc -fno-stack-protector -fstrip \
        --name "$wasm_name" -femit-bin="$work/core.wasm" \
        -I "$build/bindings" "$build/bindings/chef.c" "$build/bindings/chef_component_type.o" \
        --dep sdk --dep chef --dep bindings -Mroot="$here/sdk/main.zig" \
        --dep sdk -Mchef="$dir/chef.zig" \
        --dep bindings -Msdk="$here/sdk/sdk.zig" \
        -Mbindings="$build/bindings/chef_h.zig"
    # Embed the WIT world explicitly (the linker may drop the custom section
    # of chef_component_type.o), then make the component.
    "$wasm_tools" component embed "$repo/wit" --world chef "$work/core.wasm" -o "$work/embedded.wasm"
    "$wasm_tools" component new "$work/embedded.wasm" -o "$work/component.wasm"
    cp "$work/component.wasm" "$out/$wasm_name.wasm"
    echo "$stamp" > "$work/stamp"
    built+=("$wasm_name.wasm")
done
echo "zig chefs: ${built[*]:-none} in $out"
