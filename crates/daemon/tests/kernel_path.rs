//! The real kernel HID path: Debian's kernel under qemu (TCG) with the host root shared
//! read-only (tests/qemu/vm-run.sh). Inside, the daemon creates its virtual FIDO device on
//! /dev/uhid with the embedded swtpm, and libfido2's own tools find and query it through
//! /dev/hidraw. (The full fido2-token/-cred/-assert sequence is the next step of issue 4.)
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::Command;

#[test]
fn libfido2_finds_the_uhid_device_and_reads_get_info() {
    let results = tempfile::tempdir().unwrap();
    // The guest mounts its own tmpfs on /tmp, which would hide a binary built under the
    // host's /tmp: hand it over through the results directory instead.
    std::fs::copy(
        env!("CARGO_BIN_EXE_tpm-passkey"),
        results.path().join("tpm-passkey"),
    )
    .unwrap();
    let script = r#"set -e
B=/tmp/results/tpm-passkey
$B daemon --simulator --state-dir /tmp/state --control /tmp/control.sock > /tmp/results/daemon.log 2>&1 &
for i in $(seq 100); do [ -S /tmp/control.sock ] && break; sleep 0.2; done
fido2-token -L > /tmp/results/list
dev=$(cut -d: -f1 /tmp/results/list | head -n1)
fido2-token -I "$dev" > /tmp/results/info
"#;
    std::fs::write(results.path().join("test.sh"), script).unwrap();
    let vm = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/qemu/vm-run.sh");
    let out = Command::new(vm)
        .arg(results.path())
        .args(["sh", "/tmp/results/test.sh"])
        .output()
        .unwrap();
    let read = |f: &str| std::fs::read_to_string(results.path().join(f)).unwrap_or_default();
    assert!(
        out.status.success(),
        "VM run failed ({})\n{}\n--- guest output\n{}\n--- daemon\n{}\n--- console\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr),
        read("output"),
        read("daemon.log"),
        read("console.log")
    );
    let list = read("list");
    assert!(list.starts_with("/dev/hidraw"), "{list}");
    assert!(list.contains("vendor=0x1209, product=0x7a50"), "{list}");
    let info = read("info");
    for want in [
        "version strings: FIDO_2_0, FIDO_2_1",
        "aaguid: 7d1f5c2e934a4b6ea10c3f6258e49127",
        "alwaysUv",
        "pin protocols: 2, 1",
        "caps: 0x0d (wink, cbor, nomsg)",
    ] {
        assert!(info.contains(want), "missing {want:?} in:\n{info}");
    }
}
