#!/bin/sh
# Installs nd-hub as a systemd service. Run as root, from the repository:
#
#   cargo build --release -p nd-hub && hub/dist/install.sh
#
# DESTDIR=DIR stages everything under DIR instead of / (the hub's tests use
# that to check that the service's user can read what this puts in place).
# An existing /etc/nd-hub/nd-hub.toml or /etc/default/nd-hub is kept.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=${DESTDIR:-}
bin=${ND_HUB_BIN:-$here/../../target/release/nd-hub}

# The system user and group (systemd-sysusers creates them if missing).
install -D -m 644 "$here/nd-hub.sysusers" "$root/etc/sysusers.d/nd-hub.conf"
systemd-sysusers --root="${root:-/}" "$here/nd-hub.sysusers"
gid=$(awk -F: '$1 == "nd-hub" { print $3 }' "$root/etc/group")
[ -n "$gid" ] || { echo "install.sh: no nd-hub group after systemd-sysusers" >&2; exit 1; }

install -D -m 755 "$bin" "$root/usr/local/bin/nd-hub"
# Configuration, tokens and TLS key: readable by the hub's group only.
# (Put token files and the key here too, with the same owner and mode.)
install -d -m 750 -o 0 -g "$gid" "$root/etc/nd-hub"
if [ -e "$root/etc/nd-hub/nd-hub.toml" ]; then
    # Kept, but made readable by the service (an older install had them
    # root:root): every file in /etc/nd-hub becomes root:nd-hub, mode 640.
    find "$root/etc/nd-hub" -type f -exec chown 0:"$gid" {} + -exec chmod 640 {} +
    echo "install.sh: kept /etc/nd-hub/nd-hub.toml; files in /etc/nd-hub are now root:nd-hub 640"
else
    install -m 640 -o 0 -g "$gid" "$here/nd-hub.toml" "$root/etc/nd-hub/nd-hub.toml"
fi
[ -e "$root/etc/default/nd-hub" ] ||
    install -D -m 644 "$here/nd-hub.env" "$root/etc/default/nd-hub"
install -D -m 644 "$here/nd-hub.service" "$root/etc/systemd/system/nd-hub.service"

if [ -z "$root" ]; then
    systemctl daemon-reload
    echo "installed; start it with: systemctl enable --now nd-hub"
fi
