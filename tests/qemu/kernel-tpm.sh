#!/bin/sh
# The daemon on the path users with a TPM chip have: the kernel's resource manager,
# /dev/tpmrm0, in the TPM guest (tests/qemu/vm-run.sh with TPM_PASSKEY_VM_TPM=1). It runs
# unprivileged, with the access the install gives (the udev rule's group on /dev/tpmrm0):
#
#   * issue 20's E1/E2/E3 from other opens of /dev/tpmrm0 — the same account (it has the
#     store), root, and another account in the same group — while a satisfied session waits
#     and during PIN changes (tests/qemu/tpmrm-attack.py);
#   * a short crash run: kill -9 mid-registration, restart, nothing acknowledged lost;
#   * `tpm-passkey up` and its test sign-in, as a newcomer with a TPM chip meets it.
#
# Each step's output lands in $R/<step>; the first failing step stops the run (set -e) and
# its name is in $R/step.
set -eu
R=/tmp/results
B=$R/tpm-passkey
# The host's python3 with python-fido2 (it may live where only root can read, as pyenv's
# does: the FIDO clients run as root, which any client may be); the stdlib-only attacker
# and terminal typist run as their accounts on Debian's own python3.
PY=$(cat $R/python)
SYSPY=/usr/bin/python3
step() { echo "$1" > $R/step; echo "== $1"; }

# /dev/tpmrm0 as the install's udev rule sets it (contrib/70-tpm-passkey.rules).
rule=$(grep '^KERNEL=="tpmrm' $R/70-tpm-passkey.rules)
group=$(echo "$rule" | sed -n 's/.*GROUP="\([^"]*\)".*/\1/p')
mode=$(echo "$rule" | sed -n 's/.*MODE="\([^"]*\)".*/\1/p')
chgrp "$group" /dev/tpmrm0
chmod "$mode" /dev/tpmrm0
gid=$(getent group "$group" | cut -d: -f3)
ls -l /dev/tpm0 /dev/tpmrm0 > $R/devices
# The desktop user, in group tss as docs/INSTALL.md says; another account in the same group.
AS_USER="setpriv --reuid=65534 --regid=65534 --groups=$gid"
AS_OTHER="setpriv --reuid=65533 --regid=65533 --groups=$gid"
U=/tmp/user
mkdir -p $U; chown 65534:65534 $U; chmod 755 $R
export TPM_PASSKEY_HID=$U/hid.sock TPM_PASSKEY_PIN=4711 TPM_PASSKEY_OUT=$U/cred
CTL=$U/control.sock
printf '4711\n' > $R/pin-a; printf '13579\n' > $R/pin-b; chmod 644 $R/pin-a $R/pin-b

start_daemon() {
  rm -f $CTL
  $AS_USER $B daemon --hid socket:$TPM_PASSKEY_HID --state-dir $U/state --control $CTL >> $R/daemon.log 2>&1 &
  daemon=$!
  for _ in $(seq 600); do [ -S $CTL ] && break; sleep 0.1; done
  [ -S $CTL ]
}
py() { (cd $R && $PY fido2_e2e.py "$@"); }

step daemon; start_daemon
$AS_USER $B agent --approve-all --pin-file $R/pin-a --control $CTL > $R/agent.log 2>&1 &
agent=$!
sleep 1
step status; $AS_USER $B status --control $CTL > $R/status
step tpm; $AS_USER $B tpm --control $CTL > $R/tpm

# E1/E2: a UV token leaves the satisfied session waiting for its signature (at most 30 s,
# by the TPM's own clock). Others try every session they can list.
step register; py persist_register > $R/register 2>&1
step uv-token; py uv_token > $R/uv-token 2>&1
step attack-same-account
$AS_USER $SYSPY $R/tpmrm-attack.py --store $U/state/store.sqlite --label "same account" > $R/attack 2>&1
step attack-root
$PY $R/tpmrm-attack.py --store $U/state/store.sqlite --label root >> $R/attack 2>&1
step attack-other-account
$AS_OTHER $SYSPY $R/tpmrm-attack.py --store $U/state/store.sqlite --label "another account" >> $R/attack 2>&1

# E3: PIN changes while the others try every session they see, all along.
step attack-during-pin-changes
$AS_USER $SYSPY $R/tpmrm-attack.py --store $U/state/store.sqlite --seconds 25 \
  --label "same account, during PIN changes" > $R/attack-changes 2>&1 &
a1=$!
$AS_OTHER $SYSPY $R/tpmrm-attack.py --seconds 25 --label "another account, during PIN changes" \
  >> $R/attack-changes 2>&1 &
a2=$!
sleep 1
for _ in 1 2 3; do
  $AS_USER $B pin change --control $CTL --pin-file $R/pin-a --new-pin-file $R/pin-b >> $R/pin-changes 2>&1
  $AS_USER $B pin change --control $CTL --pin-file $R/pin-b --new-pin-file $R/pin-a >> $R/pin-changes 2>&1
done
wait $a1 $a2
step after-changes; py persist_authenticate > $R/after-changes 2>&1

# A short crash run: the daemon killed mid-registration, again and again.
step crash
: > $R/acknowledged
for i in 1 2 3 4 5; do
  (cd $R && $PY fido2_e2e.py create_loop > $R/crash-$i 2>&1) &
  loop=$!
  # Once a registration is acknowledged (each takes seconds here: an ECC key made under
  # TCG emulation), kill the daemon a moment into the next one.
  for _ in $(seq 600); do grep -q '^created' $R/crash-$i 2>/dev/null && break; sleep 0.1; done
  sleep "0.$(( (i * 37) % 10 ))"
  kill -9 $daemon
  wait $loop || true
  grep '^created' $R/crash-$i | cut -d' ' -f2 >> $R/acknowledged || true
  start_daemon
  kill $agent 2>/dev/null || true
  $AS_USER $B agent --approve-all --pin-file $R/pin-a --control $CTL >> $R/agent.log 2>&1 &
  agent=$!
  sleep 1
  $AS_USER $B audit verify --control $CTL > $R/verify-$i 2>&1
done
step crash-check
$AS_USER $B list --json --control $CTL > $R/list
while read -r id; do grep -q "\"$id\"" $R/list || { echo "lost $id" > $R/lost; exit 1; }; done < $R/acknowledged
py all_sign > $R/all-sign 2>&1

# `tpm-passkey up` with a TPM chip: a new user's first run, on the socket transport (the
# guest's uhid belongs to the other test), its prompts answered on its terminal.
step up
kill $agent 2>/dev/null || true
kill -TERM $daemon; wait $daemon || true
mkdir -p $U/run; chown 65534:65534 $U/run; chmod 700 $U/run
$AS_USER env XDG_RUNTIME_DIR=$U/run HOME=$U $SYSPY $R/pty_agent.py $U/up.txt \
  '[["Choose a PIN", "246810\r"], ["The same PIN again", "246810\r"], ["Create a passkey for tpm-passkey.test", "246810\r"], ["Sign in to tpm-passkey.test", "246810\r"], ["test sign-in passed", "\u0003"]]' \
  -- $B up --state-dir $U/up-state --uhid /nonexistent/uhid --uhid-helper /nonexistent/helper.sock || true
cp $U/up.txt $R/up.txt

# The performance figures on this path, each against the raw TPM floor measured here, now
# (crates/tpm/benches/perf.rs; docs/PERFORMANCE.md has a release run). Smoke: a few runs.
step bench
$AS_USER $R/perf --tcti device:/dev/tpmrm0 --iterations "${TPM_PASSKEY_BENCH_ITERATIONS:-3}" > $U/bench 2>&1 || { cp $U/bench $R/bench; exit 1; }
cp $U/bench $R/bench
step done
