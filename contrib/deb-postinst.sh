#!/bin/sh
# postinst of the tpm-passkey .deb: apply the udev rule and load uhid now, not at next boot,
# so that `systemctl --user enable --now tpm-passkey` works straight after installing.
set -e
if [ "$1" = "configure" ]; then
  modprobe uhid 2>/dev/null || true
  if command -v udevadm >/dev/null 2>&1; then
    udevadm control --reload-rules 2>/dev/null || true
    udevadm trigger --subsystem-match=misc --subsystem-match=hidraw --subsystem-match=tpmrm 2>/dev/null || true
  fi
  if [ -d /run/systemd/system ]; then
    systemctl daemon-reload || true
    systemctl enable --now tpm-passkey-uhid.socket || true
  fi
fi
exit 0
