#!/usr/bin/env bash
# `just dist`: the release bundle, from binaries already built.
#
#   target/dist/netdumplings-VERSION-ARCH-linux.tar.gz   a prefix tree (bin/, share/):
#       unpack under /usr/local or ~/.local; nd-sniff finds share/netdumplings/chefs
#   target/dist/netdumplings_VERSION_DEBARCH.deb         the Debian package
#
# Both hold nd-hub, nd-sniff, nd-print, nd-hubstatus, nd-hubdetails, the
# standard chefs, and the systemd units, sysusers files, example
# configuration and environment files of hub/dist and runtime/dist.
#
# Built with dpkg-deb rather than cargo-deb: the package is a handful of
# files and two maintainer scripts, dpkg-deb is what cargo-deb drives in the
# end, and it is on every Debian machine (cargo-deb would be a few minutes
# of compiling on every CI run).
#
# ND_DIST_PROFILE=release (default) or debug: which build to package (CI's
# package test uses the debug build the tests already made).
set -euo pipefail
cd "$(dirname "$0")/.."
target=${CARGO_TARGET_DIR:-$PWD/target}
profile=${ND_DIST_PROFILE:-release}
bin_dir="$target/$profile"
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
bins=(nd-hub nd-sniff nd-print nd-hubstatus nd-hubdetails)
chefs=(packet_count arp dns_lookup)
out="$target/dist"

for b in "${bins[@]}"; do
    [ -x "$bin_dir/$b" ] || { echo "dist: $bin_dir/$b missing: cargo build --$profile first" >&2; exit 1; }
done
for c in "${chefs[@]}"; do
    [ -f "$target/chefs/$c.wasm" ] || { echo "dist: $target/chefs/$c.wasm missing: just rust-chefs" >&2; exit 1; }
done
rm -rf "$out"
mkdir -p "$out"

# stage PREFIX: the installed tree under PREFIX (usr for the .deb).
stage() {
    local root=$1 prefix=$2
    install -d "$root/$prefix/bin" "$root/$prefix/share/netdumplings/chefs" "$root/$prefix/share/doc/netdumplings"
    for b in "${bins[@]}"; do install -m 755 "$bin_dir/$b" "$root/$prefix/bin/$b"; done
    for c in "${chefs[@]}"; do install -m 644 "$target/chefs/$c.wasm" "$root/$prefix/share/netdumplings/chefs/"; done
    install -m 644 README.md ARCHITECTURE.md docs/writing-a-chef.md "$root/$prefix/share/doc/netdumplings/"
    install -m 644 wit/chef.wit "$root/$prefix/share/netdumplings/"
    cat >"$root/$prefix/share/doc/netdumplings/copyright" <<EOF
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: netdumplings-rs
Source: https://github.com/netdumplings/netdumplings-rs

Files: *
License: MIT
EOF
}

# --- tarball ---------------------------------------------------------------------
arch=$(uname -m)
name="netdumplings-$version-$arch-linux"
tree="$out/$name"
stage "$tree" .
install -d "$tree/share/netdumplings/dist"
install -m 644 hub/dist/nd-hub.service hub/dist/nd-hub.sysusers hub/dist/nd-hub.toml hub/dist/nd-hub.env \
    runtime/dist/nd-sniff.service runtime/dist/nd-sniff.sysusers runtime/dist/nd-sniff.env \
    "$tree/share/netdumplings/dist/"
tar -C "$out" -czf "$out/$name.tar.gz" "$name"
rm -rf "$tree"
echo "dist: $out/$name.tar.gz"

# --- .deb --------------------------------------------------------------------------
command -v dpkg-deb >/dev/null || { echo "dist: dpkg-deb missing (Debian's dpkg); no .deb" >&2; exit 1; }
debarch=$(dpkg --print-architecture)
pkg="$out/deb"
stage "$pkg" usr
# The unit as shipped, with the binary where the package puts it.
install -d "$pkg/usr/lib/systemd/system" "$pkg/usr/lib/sysusers.d" "$pkg/etc/nd-hub" "$pkg/etc/default"
sed 's#/usr/local/bin/nd-hub#/usr/bin/nd-hub#g; s#hub/dist/install.sh#the netdumplings package#' \
    hub/dist/nd-hub.service >"$pkg/usr/lib/systemd/system/nd-hub.service"
grep -q '^ExecStart=/usr/bin/nd-hub ' "$pkg/usr/lib/systemd/system/nd-hub.service"
install -m 644 hub/dist/nd-hub.sysusers "$pkg/usr/lib/sysusers.d/nd-hub.conf"
sed 's#/usr/local/bin/nd-sniff#/usr/bin/nd-sniff#g' \
    runtime/dist/nd-sniff.service >"$pkg/usr/lib/systemd/system/nd-sniff.service"
grep -q '^ExecStart=/usr/bin/nd-sniff ' "$pkg/usr/lib/systemd/system/nd-sniff.service"
install -m 644 runtime/dist/nd-sniff.sysusers "$pkg/usr/lib/sysusers.d/nd-sniff.conf"
install -m 644 runtime/dist/nd-sniff.env "$pkg/etc/default/nd-sniff"
install -m 640 hub/dist/nd-hub.toml "$pkg/etc/nd-hub/nd-hub.toml"
install -m 644 hub/dist/nd-hub.env "$pkg/etc/default/nd-hub"

# The libpcap package the kitchen links, by asking dpkg which package owns it.
libpcap=$(ldd "$bin_dir/nd-sniff" | awk '/libpcap/ { print $3 }')
pcap_pkg=$(dpkg -S "$(readlink -f "$libpcap")" 2>/dev/null | cut -d: -f1 | head -1)
[ -n "$pcap_pkg" ] || pcap_pkg=libpcap0.8
installed_size=$(du -sk "$pkg" | cut -f1)
install -d "$pkg/DEBIAN"
cat >"$pkg/DEBIAN/control" <<EOF
Package: netdumplings
Version: $version
Architecture: $debarch
Maintainer: netdumplings-rs developers <netdumplings@users.noreply.github.com>
Installed-Size: $installed_size
Depends: libc6, $pcap_pkg
Recommends: systemd
Section: net
Priority: optional
Homepage: https://github.com/netdumplings/netdumplings-rs
Description: distributed packet sniffing with WebAssembly chefs
 Kitchens (nd-sniff) capture packets with libpcap and hand them to
 sandboxed WebAssembly chefs; the dumplings they make are relayed to a
 hub (nd-hub), which fans them out to eaters (nd-print, nd-hubstatus,
 nd-hubdetails, a browser dashboard). Wire-compatible with the Python
 netdumplings 0.5.1.
EOF
printf '/etc/nd-hub/nd-hub.toml\n/etc/default/nd-hub\n/etc/default/nd-sniff\n' >"$pkg/DEBIAN/conffiles"
cat >"$pkg/DEBIAN/postinst" <<'EOF'
#!/bin/sh
# The nd-hub system user (sysusers.d), and /etc/nd-hub readable by its group only.
set -e
if [ "$1" = configure ]; then
    for user in nd-hub nd-sniff; do
        if command -v systemd-sysusers >/dev/null; then
            systemd-sysusers /usr/lib/sysusers.d/$user.conf
        elif ! getent passwd $user >/dev/null; then
            adduser --system --group --no-create-home --home / --shell /usr/sbin/nologin $user
        fi
    done
    chown root:nd-hub /etc/nd-hub
    chmod 750 /etc/nd-hub
    find /etc/nd-hub -type f -exec chown root:nd-hub {} + -exec chmod 640 {} +
    if [ -d /run/systemd/system ]; then
        systemctl daemon-reload || true
        echo "netdumplings: start the hub with: systemctl enable --now nd-hub"
        echo "netdumplings: a live kitchen (edit /etc/default/nd-sniff first): systemctl enable --now nd-sniff"
    fi
fi
EOF
cat >"$pkg/DEBIAN/postrm" <<'EOF'
#!/bin/sh
set -e
if [ -d /run/systemd/system ]; then systemctl daemon-reload || true; fi
EOF
chmod 755 "$pkg/DEBIAN/postinst" "$pkg/DEBIAN/postrm"
deb="$out/netdumplings_${version}_${debarch}.deb"
dpkg-deb --root-owner-group --build "$pkg" "$deb" >/dev/null
rm -rf "$pkg"
echo "dist: $deb"
