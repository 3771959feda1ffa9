#!/usr/bin/env python3
"""Replays every test capture (testdata/pcaps) through a chef and through the Rust chef of
the same name, and compares their payloads byte for byte.

    scripts/chef-parity.py target/polyglot/python/packet_count.wasm [more.wasm ...]

The reference is target/chefs/<same file name>. Needs `just build chefs`.
A quick check for chef authors; `runtime/tests/polyglot.rs` is the test.
"""
import json, os, pathlib, shutil, subprocess, sys, tempfile

root = pathlib.Path(__file__).resolve().parent.parent
target = pathlib.Path(os.environ.get("CARGO_TARGET_DIR", root / "target"))
sniff = target / "release" / "nd-sniff"
if not sniff.exists():
    sniff = target / "debug" / "nd-sniff"
pcaps = sorted(p for p in (root / "testdata" / "pcaps").iterdir()
               if p.suffix in (".pcap", ".pcapng"))


def payloads(chef: pathlib.Path, pcap: pathlib.Path) -> list[str]:
    with tempfile.TemporaryDirectory() as d:
        shutil.copy(chef, d)
        out = subprocess.run([sniff, "--read", pcap, "--print", "--chef-dir", d],
                             capture_output=True, text=True, timeout=600)
        if out.returncode != 0:
            return [f"exit {out.returncode}: {out.stderr[-500:]}"]
        # The payload is the raw text after `"payload": ` up to the final `}`.
        return [line.split('"payload": ', 1)[1][:-1] for line in out.stdout.splitlines()]


bad = 0
for chef in map(pathlib.Path, sys.argv[1:]):
    ref = target / "chefs" / chef.name
    for pcap in pcaps:
        ours, theirs = payloads(chef, pcap), payloads(ref, pcap)
        if ours != theirs:
            bad += 1
            print(f"DIFF {chef} on {pcap.name}")
            for a, b in zip(ours, theirs):
                if a != b:
                    print(f"  got  {a[:400]}\n  want {b[:400]}")
                    break
            if len(ours) != len(theirs):
                print(f"  {len(ours)} payloads, want {len(theirs)}")
    print(f"{chef}: {'OK' if not bad else 'differs'} on {len(pcaps)} captures")
sys.exit(1 if bad else 0)
