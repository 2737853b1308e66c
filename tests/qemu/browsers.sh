#!/bin/sh
# Real browsers on the path a desktop user has, inside the TPM guest (tests/qemu/vm-run.sh
# with TPM_PASSKEY_VM_TPM=1): the privileged uhid helper makes the FIDO device, the daemon
# runs unprivileged on /dev/tpmrm0 behind it, the scripted agent approves and types the PIN
# (built-in user verification), and Debian's Chromium and Firefox ESR — headless, as the
# desktop user, through their own WebAuthn stacks and the kernel's hidraw node — register,
# are refused by the excludeList, sign in with an allowList and discoverable, and use PRF
# (tests/qemu/browsers.py against tests/qemu/browser-page.html).
#
# Each step's output lands in $R/<step>; the first failing step stops the run (set -e) and
# its name is in $R/step.
set -eu
R=/tmp/results
B=$R/tpm-passkey
SYSPY=/usr/bin/python3
CTL=/tmp/user/control.sock
HELPER=/run/tpm-passkey/uhid.sock
step() { echo "$1" > $R/step; echo "== $1"; }

rule=$(grep '^KERNEL=="tpmrm' $R/70-tpm-passkey.rules)
tss=$(echo "$rule" | sed -n 's/.*GROUP="\([^"]*\)".*/\1/p')
chgrp "$tss" /dev/tpmrm0
chmod "$(echo "$rule" | sed -n 's/.*MODE="\([^"]*\)".*/\1/p')" /dev/tpmrm0
chmod 600 /dev/uhid
# The desktop user (nobody here): the daemon with the udev rule's group for /dev/tpmrm0,
# the browsers without it (they only need the FIDO node, which uaccess gives).
AS_DAEMON="setpriv --reuid=65534 --regid=65534 --groups=$(getent group "$tss" | cut -d: -f3)"
AS_USER="setpriv --reuid=65534 --regid=65534 --clear-groups"
U=/tmp/user
mkdir -p $U; chown 65534:65534 $U
echo 4711 > $R/pin; chmod 644 $R/pin; chmod 755 $R

step helper; $B uhid-helper --listen $HELPER > $R/helper.log 2>&1 &
for _ in $(seq 50); do [ -S $HELPER ] && break; sleep 0.1; done
step daemon
TPM_PASSKEY_LOG=info,tpm_passkey=debug,tpm_passkey_hid=debug,tpm_passkey_core=debug $AS_DAEMON $B daemon --hid uhid-helper:$HELPER --state-dir $U/state --control $CTL > $R/daemon.log 2>&1 &
for _ in $(seq 300); do [ -S $CTL ] && break; sleep 0.2; done
step pin-set; $AS_USER $B pin set --control $CTL --new-pin-file $R/pin > $R/pin-set 2>&1
# Approves, types the PIN, and (as a person in the prompt would) picks the first account.
$AS_USER $B agent --approve-all --choose 1 --pin-file $R/pin --control $CTL > $R/agent.log 2>&1 &
sleep 1

# What udev's uaccess does on a desktop: the logged-in user may open the FIDO node.
step node
for _ in $(seq 100); do ls /sys/class/hidraw/*/device/uevent >/dev/null 2>&1 && break; sleep 0.1; done
for d in /sys/class/hidraw/*; do
  grep -q 'HID_ID=0003:00001209:00007A50' $d/device/uevent && node=/dev/$(basename $d)
done
[ -n "${node:-}" ]
chmod 666 "$node"; echo "$node" > $R/node

# What udev makes of the node, with the install's rules and the Snap one added (a tmpfs over
# the host's read-only rules dir): udev's fido_id says it is a FIDO token (what snapd with
# canonical/snapd#17524 tags by), our rule gives the desktop user access (uaccess), and
# contrib/69-tpm-passkey-snap.rules tags it for the Snap browsers.
step udev
mkdir -p /tmp/rules; cp -a /etc/udev/rules.d/. /tmp/rules/
mount -t tmpfs tmpfs /etc/udev/rules.d; cp -a /tmp/rules/. /etc/udev/rules.d/
cp $R/70-tpm-passkey.rules $R/69-tpm-passkey-snap.rules /etc/udev/rules.d/
sys=$(readlink -f /sys/class/hidraw/$(basename $node))
udevadm test --action=add $sys > $R/udev 2>&1 || true
umount /etc/udev/rules.d
# `udevadm test` cannot hand fido_id its device; it takes the sysfs path as an argument.
/usr/lib/udev/fido_id $sys > $R/fido_id 2>&1
cat $R/fido_id >> $R/udev
grep -q '^ID_FIDO_TOKEN=1$' $R/fido_id
grep '^TAGS=' $R/udev | grep -q ':uaccess:'
grep '^TAGS=' $R/udev | grep -q ':snap_firefox_firefox:'

step browsers
$SYSPY $R/browsers.py --page $R --as-user "$AS_USER" --home $U --logs $R ${BROWSERS_STRACE:+--strace} > $R/browsers 2>&1

# The prompts named each browser, as /proc shows it; Firefox's discoverable sign-in listed
# both accounts and got the chosen one alone (no userSelected: authenticator-rs refuses it).
step prompts
grep -q '"client_name":"chromium"' $R/agent.log
grep -q '"accounts":\["firefox-alice","chromium-alice"\],"any_site":false,"client_name":"firefox-esr"' $R/agent.log

# The authenticator itself refused the excluded registration: one credential per browser.
step credentials; $AS_USER $B list --json --control $CTL > $R/credentials
[ "$(grep -o '"rp_id": *"localhost"' $R/credentials | wc -l)" -eq 2 ]
step done
