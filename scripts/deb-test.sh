#!/usr/bin/env bash
# `just deb-test`: installs the .deb that scripts/dist.sh made on this
# machine (root only: it is a real install), checks that the installed
# tools work with no checkout, then purges the package again.
#
#   - /usr/bin/nd-sniff --read CAPTURE --print, run from an empty directory
#     with a clean environment: the standard chefs come from
#     /usr/share/netdumplings/chefs and give the kitchen's dumplings;
#   - /usr/bin/nd-hub --check-config of the packaged /etc/nd-hub/nd-hub.toml,
#     as the package's nd-hub user (what the unit runs as);
#   - systemd-analyze verify of the installed units (hub and kitchen), and
#     their users made;
#   - every other tool answers --version.
set -euo pipefail
cd "$(dirname "$0")/.."
target=${CARGO_TARGET_DIR:-$PWD/target}
if [ "$(id -u)" != 0 ]; then
    echo "deb-test: installs a package, so it runs as root only; skipped" >&2
    exit 0
fi
deb=$(ls "$target"/dist/netdumplings_*.deb)
work=$(mktemp -d)
cleanup() {
    dpkg --purge netdumplings >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "deb-test: FAILED: $*" >&2; exit 1; }

echo "deb-test: installing $deb"
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$deb" >/dev/null
cp testdata/pcaps/wikipedia.pcap "$work/"
cd "$work"
clean_env=(env -i PATH=/usr/bin:/bin HOME="$work" LANG=C.UTF-8)

out=$("${clean_env[@]}" nd-sniff --read wikipedia.pcap --print --no-watch -p 3600 2>"$work/err") ||
    fail "nd-sniff: $(cat "$work/err")"
for chef in PacketCountChef ARPChef DNSLookupChef; do
    grep -q "\"chef\": *\"$chef\"" <<<"$out" || fail "no $chef dumpling: $out"
done
grep -q '"lookup"' <<<"$out" || fail "no DNS lookup in: $out"
listed=$("${clean_env[@]}" nd-sniff --chef-list) || fail "nd-sniff --chef-list"
grep -q "^/usr/share/netdumplings/chefs$" <<<"$listed" || fail "chefs not from the package: $listed"
echo "deb-test: nd-sniff --read ... --print: $(wc -l <<<"$out") dumplings from the packaged chefs"

check=$(setpriv --reuid=nd-hub --regid=nd-hub --clear-groups \
    nd-hub --config /etc/nd-hub/nd-hub.toml --check-config 2>&1) || fail "nd-hub --check-config: $check"
grep -q "configuration OK" <<<"$check" || fail "$check"
echo "deb-test: nd-hub --check-config as nd-hub: $check"

for unit in nd-hub nd-sniff; do
    verify=$(systemd-analyze verify --man=no /usr/lib/systemd/system/$unit.service 2>&1) ||
        fail "systemd-analyze verify $unit: $verify"
    [ -z "$verify" ] || fail "systemd-analyze verify $unit warns: $verify"
    getent passwd $unit >/dev/null || fail "no $unit user after the install"
done

for b in nd-print nd-hubstatus nd-hubdetails; do
    "${clean_env[@]}" "$b" --version >/dev/null || fail "$b --version"
done
echo "deb-test: OK"
