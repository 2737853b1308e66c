#!/bin/sh
# Builds the Debian package: the app, the approval window, the daemon, the systemd user unit, the uhid helper's
# system units, the udev rule and the uhid module-load file (tauri.conf.json →
# bundle.linux.deb).
#
#   contrib/build-deb.sh            → target/release/bundle/deb/tpm-passkey_<version>_amd64.deb
#
# Needs the Tauri CLI: `npm install @tauri-apps/cli@2` (a prebuilt binary; `cargo install
# tauri-cli` also works but takes long). Release builds leave the scripted agent out.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
cargo build --release --locked -p tpm-passkey
cargo build --release --locked -p tpm-passkey-app --bin tpm-passkey-prompt
target=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
stage=src-tauri/deb-staging
rm -rf "$stage"; mkdir -p "$stage"
cp "$target/release/tpm-passkey" "$stage/tpm-passkey"
cp "$target/release/tpm-passkey-prompt" "$stage/tpm-passkey-prompt"
sed "s|@BINDIR@|/usr/bin|g; s|@DOCDIR@|/usr/share/doc/tpm-passkey|g" contrib/tpm-passkey.service.in > "$stage/tpm-passkey.service"
sed "s|@BINDIR@|/usr/bin|g; s|@DOCDIR@|/usr/share/doc/tpm-passkey|g" contrib/tpm-passkey-uhid@.service.in > "$stage/tpm-passkey-uhid@.service"
tauri=${TAURI:-$(command -v tauri || echo "$root/node_modules/.bin/tauri")}
[ -x "$tauri" ] || { echo "build-deb.sh: no Tauri CLI; run: npm install @tauri-apps/cli@2" >&2; exit 1; }
TAURI_APP_PATH=src-tauri "$tauri" build --bundles deb
ls "$target"/release/bundle/deb/*.deb
