#!/usr/bin/env bash
# Runs a command inside a throw-away VM booted from Debian's own kernel (linux-image-amd64)
# under qemu TCG, with the host's root shared read-only over 9p, tmpfs on /tmp and /run,
# and the kernel's uhid, hid and 9p modules loaded. Used by the kernel-path tests: this
# machine's kernel has no /dev/uhid, the VM's does.
#
#   vm-run.sh RESULTS_DIR COMMAND [ARG...]
#
# RESULTS_DIR (host, writable) is mounted at /tmp/results in the guest (the guest's /tmp is
# its own tmpfs: host files under /tmp are not visible there); the command's exit
# status lands in RESULTS_DIR/rc and the serial console in RESULTS_DIR/console.log.
#
# With TPM_PASSKEY_VM_TPM=1 the guest gets a TPM: a tpm-tis device backed by a swtpm on the
# host (its control socket; qemu drives it), which Debian's kernel (TPM drivers built in)
# turns into /dev/tpm0 and its resource manager /dev/tpmrm0 — the path users with a TPM
# chip have. TIS emulation makes each command cost about what a discrete chip's does.
set -euo pipefail

results=$(realpath "$1"); shift
[ $# -gt 0 ] || { echo "usage: vm-run.sh RESULTS_DIR COMMAND [ARG...]" >&2; exit 2; }
kver=${TPM_PASSKEY_VM_KERNEL:-$(ls /lib/modules | sort -V | tail -n1)}
kernel=/boot/vmlinuz-$kver
mods=/lib/modules/$kver/kernel
for f in "$kernel" /usr/bin/qemu-system-x86_64 /bin/busybox; do
  [ -e "$f" ] || { echo "vm-run: $f is missing (apt install linux-image-amd64 qemu-system-x86 busybox-static)" >&2; exit 2; }
done
mkdir -p "$results"
rm -f "$results/rc"
printf '%q ' "$@" > "$results/command"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/root"/{bin,dev,proc,sys,mnt,modules}
cp /bin/busybox "$work/root/bin/busybox"
for m in virtio/virtio virtio/virtio_ring virtio/virtio_pci_modern_dev virtio/virtio_pci_legacy_dev \
         virtio/virtio_pci; do
  cp "$mods/drivers/$m.ko" "$work/root/modules/"
done
cp "$mods/fs/netfs/netfs.ko" "$mods/fs/fscache/fscache.ko" "$mods/net/9p/9pnet.ko" \
   "$mods/net/9p/9pnet_virtio.ko" "$mods/fs/9p/9p.ko" "$mods/drivers/hid/hid.ko" \
   "$mods/drivers/hid/uhid.ko" "$mods/drivers/hid/hid-generic.ko" "$work/root/modules/"

cat > "$work/root/init" <<'INIT'
#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
for m in virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci \
         netfs fscache 9pnet 9pnet_virtio 9p hid hid-generic uhid; do
  insmod /modules/$m.ko || echo "vm: insmod $m failed"
done
ip link set lo up
r=/mnt
mount -t 9p -o trans=virtio,version=9p2000.L,ro,cache=loose hostroot $r || { echo "vm: no host root"; poweroff -f; }
mount -t tmpfs tmp $r/tmp; mount -t tmpfs run $r/run
mkdir -p $r/tmp/results
mount -t 9p -o trans=virtio,version=9p2000.L results $r/tmp/results
mkdir -p /dev/pts; mount -t devpts devpts /dev/pts
mount --bind /dev $r/dev; mount --bind /dev/pts $r/dev/pts; mount -t proc proc $r/proc; mount -t sysfs sys $r/sys
mkdir -p $r/tmp/home $r/run/user/0
cmd=$(cat $r/tmp/results/command)
chroot $r /usr/bin/env -i PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin HOME=/tmp/home \
  XDG_RUNTIME_DIR=/run/user/0 /bin/sh -c "cd /tmp && $cmd" > $r/tmp/results/output 2>&1
echo $? > $r/tmp/results/rc
sync
poweroff -f
INIT
chmod +x "$work/root/init"
(cd "$work/root" && find . | cpio -o -H newc --quiet | gzip -1) > "$work/initramfs.gz"

tpm_args=()
if [ "${TPM_PASSKEY_VM_TPM:-0}" = 1 ]; then
  command -v swtpm >/dev/null || { echo "vm-run: swtpm is missing (apt install swtpm)" >&2; exit 2; }
  mkdir -p "$work/tpm"
  # No --server and no startup flags: qemu speaks to swtpm over the control channel and the
  # guest's kernel sends TPM2_Startup itself. --terminate: gone when qemu hangs up.
  swtpm socket --tpm2 --tpmstate "dir=$work/tpm" --ctrl "type=unixio,path=$work/tpm.sock" \
    --terminate --log "file=$results/swtpm.log" &
  for _ in $(seq 100); do [ -S "$work/tpm.sock" ] && break; sleep 0.05; done
  tpm_args=(-chardev "socket,id=chrtpm,path=$work/tpm.sock" -tpmdev emulator,id=tpm0,chardev=chrtpm
            -device tpm-tis,tpmdev=tpm0)
fi

timeout "${TPM_PASSKEY_VM_TIMEOUT:-600}" qemu-system-x86_64 -accel tcg -m 1024 -smp 1 -nographic -no-reboot \
  "${tpm_args[@]}" \
  -kernel "$kernel" -initrd "$work/initramfs.gz" \
  -append "console=ttyS0 panic=-1 quiet" \
  -virtfs "local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap" \
  -virtfs "local,path=$results,mount_tag=results,security_model=none" \
  > "$results/console.log" 2>&1 || true
if [ ! -f "$results/rc" ]; then
  echo "vm-run: the VM did not report a result; console:" >&2
  tail -n 30 "$results/console.log" >&2
  exit 3
fi
exit "$(cat "$results/rc")"
