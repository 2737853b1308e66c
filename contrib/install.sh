#!/bin/sh
# Installs tpm-passkey's session integration: the daemon binary, the systemd user unit, the
# uhid helper (a socket-activated system service), the udev rule, the uhid module-load file,
# the .desktop entry, the icon, and the documents the units name (INSTALL.md, THREAT-MODEL.md,
# RECOVERY.md under share/doc/tpm-passkey).
#
#   sudo contrib/install.sh [--prefix /usr/local] [--bin PATH] [--app PATH]
#
# --bin defaults to target/release/tpm-passkey (build it first with
# `cargo build --release -p tpm-passkey`); --app (optional) is the desktop app binary (the
# approval window, tpm-passkey-prompt, is taken from beside it).
# DESTDIR=/some/root stages everything under that root instead (packaging, tests).
# Afterwards, as your own user: systemctl --user enable --now tpm-passkey
set -eu
here=$(cd "$(dirname "$0")" && pwd)
prefix=/usr/local
bin="$here/../target/release/tpm-passkey"
app=""
while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) prefix=$2; shift 2 ;;
    --bin) bin=$2; shift 2 ;;
    --app) app=$2; shift 2 ;;
    *) echo "install.sh: unknown option $1 (see the comment at the top)" >&2; exit 2 ;;
  esac
done
[ -x "$bin" ] || { echo "install.sh: no daemon binary at $bin; run: cargo build --release -p tpm-passkey" >&2; exit 1; }
root=${DESTDIR:-}
bindir=$prefix/bin
docdir=$prefix/share/doc/tpm-passkey
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

install -D -m 0755 "$bin" "$root$bindir/tpm-passkey"
[ -z "$app" ] || install -D -m 0755 "$app" "$root$bindir/tpm-passkey-app"
# The approval window the unit starts per request is built beside the app.
prompt=$(dirname "$app")/tpm-passkey-prompt
[ -z "$app" ] || [ ! -x "$prompt" ] || install -D -m 0755 "$prompt" "$root$bindir/tpm-passkey-prompt"
for doc in INSTALL.md THREAT-MODEL.md RECOVERY.md; do
  install -D -m 0644 "$here/../docs/$doc" "$root$docdir/$doc"
done
# For a Snap browser on an older snapd, copied by hand (docs/INSTALL.md says when).
install -D -m 0644 "$here/69-tpm-passkey-snap.rules" "$root$docdir/69-tpm-passkey-snap.rules"
sed "s|@BINDIR@|$bindir|g; s|@DOCDIR@|$docdir|g" "$here/tpm-passkey.service.in" > "$tmp/tpm-passkey.service"
install -D -m 0644 "$tmp/tpm-passkey.service" "$root/usr/lib/systemd/user/tpm-passkey.service"
sed "s|@BINDIR@|$bindir|g; s|@DOCDIR@|$docdir|g" "$here/tpm-passkey-uhid@.service.in" > "$tmp/tpm-passkey-uhid@.service"
install -D -m 0644 "$tmp/tpm-passkey-uhid@.service" "$root/usr/lib/systemd/system/tpm-passkey-uhid@.service"
install -D -m 0644 "$here/tpm-passkey-uhid.socket" "$root/usr/lib/systemd/system/tpm-passkey-uhid.socket"
install -D -m 0644 "$here/70-tpm-passkey.rules" "$root/etc/udev/rules.d/70-tpm-passkey.rules"
install -D -m 0644 "$here/tpm-passkey-modules.conf" "$root/etc/modules-load.d/tpm-passkey.conf"
sed "s|@BINDIR@|$bindir|g" "$here/tpm-passkey.desktop.in" > "$tmp/tpm-passkey.desktop"
install -D -m 0644 "$tmp/tpm-passkey.desktop" "$root$prefix/share/applications/tpm-passkey.desktop"
install -D -m 0644 "$here/../icons/128x128.png" "$root$prefix/share/icons/hicolor/128x128/apps/tpm-passkey.png"

if [ -z "$root" ]; then
  # Apply now rather than at the next boot: the module, then the rules.
  modprobe uhid 2>/dev/null || echo "install.sh: could not load uhid now; it loads at boot" >&2
  if command -v udevadm >/dev/null; then
    udevadm control --reload-rules || true
    udevadm trigger --subsystem-match=misc --subsystem-match=tpmrm --subsystem-match=hidraw || true
  fi
  if command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
    systemctl daemon-reload || true
    systemctl enable --now tpm-passkey-uhid.socket || echo "install.sh: could not start tpm-passkey-uhid.socket" >&2
  fi
fi
echo "installed under ${root:-/}$prefix; now, as your user:"
echo "  systemctl --user daemon-reload && systemctl --user enable --now tpm-passkey"
