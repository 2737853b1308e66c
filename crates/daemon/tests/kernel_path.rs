//! The real kernel paths: Debian's kernel under qemu (TCG) with the host root shared
//! read-only (tests/qemu/vm-run.sh), with a TPM of its own — a tpm-tis device backed by a
//! swtpm on the host, which the kernel turns into /dev/tpm0 and its resource manager
//! /dev/tpmrm0, the path users with a TPM chip have.
//!
//! * HID: the privileged uhid helper (root) creates the virtual FIDO device for the daemon,
//!   which runs unprivileged on /dev/tpmrm0 (an unprivileged attacker first tries to get an
//!   input device of its own), the scripted agent answers its prompts, and libfido2's own
//!   tools drive it through /dev/hidraw (tests/qemu/libfido2-sequence.sh): list, getInfo, set
//!   a PIN, make and verify credentials, get and verify assertions, find a discoverable
//!   credential and delete it, and the same with the PIN typed at libfido2's own prompt;
//!   python-fido2 clients on the node at once; OpenSSH; pam_u2f.
//! * TPM: issue 20's attacks from other opens of /dev/tpmrm0, a crash run and `tpm-passkey
//!   up` (tests/qemu/kernel-tpm.sh).
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A results dir holding the daemon, `files` (from the repository) and the host python's
/// path: the guest mounts its own tmpfs on /tmp, which would hide files under the host's
/// /tmp (a clone or target dir there), so everything is handed over through it.
fn results_with(files: &[&str]) -> tempfile::TempDir {
    let results = tempfile::tempdir().unwrap();
    let dir = results.path();
    std::fs::copy(env!("CARGO_BIN_EXE_tpm-passkey"), dir.join("tpm-passkey")).unwrap();
    for f in files {
        let from = repo().join(f);
        std::fs::copy(&from, dir.join(from.file_name().unwrap())).unwrap();
    }
    // The python3 on the host's PATH (with python-fido2), by its real path: the guest's
    // PATH is a plain one.
    let py = Command::new("python3")
        .args(["-c", "import sys, fido2; print(sys.executable)"])
        .output()
        .unwrap();
    assert!(
        py.status.success(),
        "python3 with fido2 (tests/python/requirements.txt) is needed"
    );
    std::fs::write(dir.join("python"), &py.stdout).unwrap();
    results
}

/// Boots the TPM guest and runs `script` (in the results dir) in it.
fn run_in_tpm_guest(dir: &Path, script: &str) -> Output {
    Command::new(repo().join("tests/qemu/vm-run.sh"))
        .env("TPM_PASSKEY_VM_TPM", "1")
        .arg(dir)
        .args(["sh", &format!("/tmp/results/{script}")])
        .output()
        .unwrap()
}

/// The newest build of bench `name` beside this test (the workspace build makes both in
/// target/*/deps).
fn bench_binary(name: &str) -> PathBuf {
    let deps = std::env::current_exe()
        .unwrap()
        .parent()
        .unwrap()
        .to_owned();
    std::fs::read_dir(&deps)
        .unwrap()
        .flatten()
        .filter(|e| {
            let n = e.file_name().to_string_lossy().into_owned();
            n.starts_with(&format!("{name}-")) && !n.contains('.')
        })
        .max_by_key(|e| e.metadata().and_then(|m| m.modified()).ok())
        .unwrap_or_else(|| panic!("build the benches first: cargo build --workspace --all-targets"))
        .path()
}

/// Fails with what the guest left behind unless `script` ran to its `done` step.
fn assert_done(out: &Output, read: &dyn Fn(&str) -> String) {
    assert!(
        out.status.success() && read("step").trim() == "done",
        "VM run failed ({}) at step {:?}\n{}\n--- guest output\n{}\n--- that step's output\n{}\n--- daemon\n{}\n--- agent\n{}\n--- console\n{}",
        out.status,
        read("step").trim(),
        String::from_utf8_lossy(&out.stderr),
        read("output"),
        read(read("step").trim()),
        read("daemon.log"),
        read("agent.log").lines().rev().take(20).collect::<Vec<_>>().join("\n"),
        read("console.log")
    );
}

/// The daemon ran on the guest's TPM chip through the kernel's resource manager, with the
/// access the udev rule gives.
fn assert_on_the_kernel_resource_manager(read: &dyn Fn(&str) -> String) {
    assert!(
        read("status").contains("TPM chip via the kernel's resource manager"),
        "{}",
        read("status")
    );
    assert!(
        read("status").contains("device:/dev/tpmrm0"),
        "{}",
        read("status")
    );
    assert!(
        !read("daemon.log").contains("simulated"),
        "{}",
        read("daemon.log")
    );
}

#[test]
fn libfido2_tools_drive_the_uhid_device_through_the_kernel() {
    let results = results_with(&[
        "tests/qemu/pty-answer.py",
        "tests/qemu/libfido2-sequence.sh",
        "tests/qemu/hidraw-clients.py",
        "tests/qemu/uhid-attack.py",
        "contrib/70-tpm-passkey.rules",
    ]);
    let dir = results.path();
    // Firefox's CTAP stack as a client (tests/mozilla-client, a workspace member: the
    // workspace build puts it beside this test's own binaries).
    let mozilla = std::env::current_exe()
        .unwrap()
        .parent()
        .and_then(Path::parent)
        .unwrap()
        .join("tpm-passkey-mozilla-client");
    assert!(
        mozilla.is_file(),
        "build the Mozilla client first: cargo build -p tpm-passkey-mozilla-client"
    );
    std::fs::copy(&mozilla, dir.join("tpm-passkey-mozilla-client")).unwrap();
    std::fs::copy(bench_binary("transport"), dir.join("transport")).unwrap();
    let out = run_in_tpm_guest(dir, "libfido2-sequence.sh");
    let read = |f: &str| std::fs::read_to_string(dir.join(f)).unwrap_or_default();
    assert_done(&out, &read);

    assert_on_the_kernel_resource_manager(&read);
    // The daemon ran unprivileged, through the helper; an unprivileged program got no
    // input device of its own making, and /dev/uhid stayed closed to it.
    let attack = read("attack");
    assert!(!attack.contains("FAIL"), "{attack}");
    assert_eq!(
        attack.lines().filter(|l| l.starts_with("ok")).count(),
        5,
        "{attack}"
    );
    assert!(
        read("daemon.log").contains("CTAPHID over uhid"),
        "{}",
        read("daemon.log")
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
    // Four python-fido2 processes on the node at once, each on its own channel.
    assert_eq!(read("concurrent"), "ok\nok\nok\nok\n");
    // A 7609-byte message each way, whole: replies are paced as a USB bus paces them.
    assert_eq!(read("long-message"), "ok\n");
    // fido2-cred -M output: client data hash, rp id, fmt, authData, credential id, sig.
    let cred = read("cred.out");
    let lines: Vec<&str> = cred.lines().collect();
    assert_eq!(lines.get(1), Some(&"example.org"), "{cred}");
    assert_eq!(lines.get(2), Some(&"packed"), "{cred}");
    // fido2-cred -V -o: the credential id, then the public key it checked against.
    assert!(read("cred.pem").contains("-----BEGIN PUBLIC KEY-----"));
    // The discoverable credential was listed for its site before it was deleted.
    let rk_id = read("rk.out").lines().nth(4).unwrap_or("").to_owned();
    assert!(!rk_id.is_empty());
    assert!(read("rk-list").contains(&rk_id), "{}", read("rk-list"));
    assert!(read("rk-list-after").contains("FIDO_ERR_NO_CREDENTIALS"));
    // libfido2's own PIN prompt was answered on its terminal.
    assert!(read("pin-assert-get").contains("Enter PIN for /dev/hidraw"));
    // The transport bench ran through the hidraw node against the floors on /dev/tpmrm0.
    let bench = read("bench-transport");
    // Printed: the release figures of docs/PERFORMANCE.md come from this run.
    println!("{bench}");
    assert!(bench.contains("through hidraw /dev/hidraw"), "{bench}");
    for figure in [
        "getInfo (no TPM work)",
        "whole UV sign-in",
        "makeCredential with a token",
    ] {
        assert!(bench.contains(figure), "missing {figure:?} in:\n{bench}");
    }
    // Firefox's CTAP stack: every step, with no PIN dialog of its own (built-in UV).
    assert_eq!(
        read("mozilla"),
        "ok register\nok sign-in-allow-list\nok sign-in-discoverable\nok exclude-list\n"
    );
    // Under another process name too (issue 24).
    assert_eq!(read("mozilla-renamed"), read("mozilla"));
    // OpenSSH: an ecdsa-sk key made and used on the device, its signature verifies and a
    // forged message does not; the resident key comes back with `ssh-keygen -K`.
    assert!(
        read("ssh-verify").contains("Good \"file\" signature for ssh@vm"),
        "{}",
        read("ssh-verify")
    );
    assert!(read("ssh-verify-forged").contains("Signature verification failed"));
    let rk_pub = read("ssh-rk.pub");
    let rk_blob = rk_pub.split_whitespace().nth(1).unwrap_or("missing");
    assert!(
        rk_pub.starts_with("sk-ecdsa-sha2-nistp256@openssh.com "),
        "{rk_pub}"
    );
    assert!(
        read("ssh-found").contains(rk_blob),
        "{}\n{rk_pub}",
        read("ssh-found")
    );
    // Login and sudo through pam_u2f: approved with the PIN, refused when denied or with a
    // wrong PIN, and `pam remove` took our credential out again.
    let enrolled = read("pam-enroll");
    assert!(enrolled.contains("pam_u2f.so cue origin="), "{enrolled}");
    assert!(read("pam-enroll").contains("added a credential for nobody"));
    assert!(
        read("pam-approve").contains("successfully authenticated"),
        "{}",
        read("pam-approve")
    );
    assert!(!read("pam-deny").contains("successfully authenticated"));
    assert!(!read("pam-wrong-pin").contains("successfully authenticated"));
    assert!(
        read("pam-status").contains("paused") || read("pam-status").contains("attempts left"),
        "{}",
        read("pam-status")
    );
    assert!(
        read("pam-remove").contains("removed 1 credential"),
        "{}",
        read("pam-remove")
    );
    assert!(
        !read("u2f_keys").contains(",es256,"),
        "{}",
        read("u2f_keys")
    );
    // The login prompt named the account. (Not the program: pamtester, like sudo, runs as
    // root, whose /proc entries the unprivileged daemon cannot read.)
    let agent_pam = read("agent.log");
    assert!(
        agent_pam
            .lines()
            .any(|l| l.contains("\"rp_id\":\"pam://tpm-passkey-vm\"")
                && l.contains("\"operation\":\"sign_in\"")
                && l.contains("\"user\":\"nobody\"")),
        "the login prompt names the account:\n{agent_pam}"
    );
    // The prompts named the tool holding the hidraw node open.
    let agent = read("agent.log");
    for (tool, op) in [
        ("fido2-cred", "register"),
        ("fido2-assert", "sign_in"),
        ("fido2-token", "verify"),
    ] {
        let want = format!("\"client_name\":\"{tool}\"");
        assert!(
            agent
                .lines()
                .any(|l| l.contains(&want) && l.contains(&format!("\"operation\":\"{op}\""))),
            "no {op} prompt naming {tool}:\n{agent}"
        );
    }
}

/// Issue 20 on the path users with a TPM chip have. Another open of /dev/tpmrm0 — the same
/// account (with the store: it re-derives the root and loads the PIN-bound keys), root, and
/// another account in the tss group — lists the daemon's sessions while a satisfied one
/// waits (after a UV token) and during six PIN changes, and names each in every command
/// that would use it (E1: Sign, E2: HMAC, E3: PolicyCommandCode, NV_ChangeAuth; and
/// PolicyGetDigest): every one is refused by the resource manager (TPM_RC_REFERENCE_H0 /
/// _S0), while the attacker's own session is evaluated (control). The PIN stays the user's.
/// Then a crash run (kill -9 mid-registration, five times: nothing acknowledged lost, the
/// audit log verifies after each restart, every passkey signs) and `tpm-passkey up` with
/// its test sign-in.
#[test]
fn the_daemon_on_the_kernel_resource_manager_withstands_other_programs_and_crashes() {
    let results = results_with(&[
        "tests/qemu/kernel-tpm.sh",
        "tests/qemu/tpmrm-attack.py",
        "tests/python/fido2_e2e.py",
        "tests/python/socket_hid.py",
        "tests/python/pty_agent.py",
        "contrib/70-tpm-passkey.rules",
    ]);
    let dir = results.path();
    std::fs::copy(bench_binary("perf"), dir.join("perf")).unwrap();
    let out = run_in_tpm_guest(dir, "kernel-tpm.sh");
    let read = |f: &str| std::fs::read_to_string(dir.join(f)).unwrap_or_default();
    assert_done(&out, &read);
    assert_on_the_kernel_resource_manager(&read);
    assert!(
        read("tpm").contains("TPM chip via the kernel's resource manager"),
        "{}",
        read("tpm")
    );
    // The udev rule's access: the resource manager for group tss, the raw device for root.
    let devices = read("devices");
    assert!(
        devices.lines().any(|l| l.starts_with("crw-rw----")
            && l.contains(" tss ")
            && l.ends_with("/dev/tpmrm0")),
        "{devices}"
    );
    assert!(
        devices
            .lines()
            .any(|l| l.starts_with("crw-------") && l.ends_with("/dev/tpm0")),
        "{devices}"
    );

    for file in ["attack", "attack-changes"] {
        let attack = read(file);
        assert!(!attack.contains("FAIL"), "{attack}");
        // Each attacker's own session worked (two controls), and it attacked.
        assert_eq!(
            attack.matches("control:").count(),
            2 * attack.matches("attempts on").count(),
            "{attack}"
        );
        for line in attack.lines().filter(|l| l.contains("attempts on")) {
            assert!(!line.contains(" on 0 sessions"), "{attack}");
            assert!(line.contains("0x910") || line.contains("0x918"), "{line}");
        }
    }
    let attack = read("attack");
    for who in ["same account", "root", "another account"] {
        assert!(attack.contains(&format!("ok {who}: control")), "{attack}");
    }
    // With the store, the attacker had the daemon's keys to try (E1 and E2).
    assert!(
        attack.contains("ok same account: re-derived the daemon's root and loaded"),
        "{attack}"
    );
    assert!(
        read("after-changes").contains("ok persist_authenticate"),
        "{}",
        read("after-changes")
    );

    // Crashes: every acknowledged passkey is there, the log verified after each restart,
    // and every passkey signs.
    assert!(read("lost").is_empty(), "{}", read("lost"));
    assert!(
        !read("acknowledged").trim().is_empty(),
        "no registration finished between the kills"
    );
    for i in 1..=5 {
        assert!(
            read(&format!("verify-{i}")).contains("verifies"),
            "{}",
            read(&format!("verify-{i}"))
        );
    }
    assert!(
        read("all-sign").contains("ok all_sign"),
        "{}",
        read("all-sign")
    );

    // `tpm-passkey up`: a PIN, the test sign-in, on the TPM chip, and never the PIN echoed.
    let up = read("up.txt");
    assert!(
        up.contains("TPM chip via the kernel's resource manager"),
        "{up}"
    );
    assert!(up.contains("test sign-in passed"), "{up}");
    assert!(!up.contains("simulated"), "{up}");
    assert!(!up.contains("246810"), "{up}");

    // The bench ran on this path: every figure with its ratio to the floor measured here.
    let bench = read("bench");
    println!("{bench}");
    assert!(
        bench.contains("on device:/dev/tpmrm0 (TPM chip via the kernel's resource manager)"),
        "{bench}"
    );
    for floor in ["R_pin raw", "R_pin as ESYS ships"] {
        assert!(
            bench.lines().any(|l| l.starts_with(floor)),
            "{floor}: {bench}"
        );
    }
    for figure in [
        "whole UV sign-in",
        "getAssertion with a pinUvAuthToken in hand",
        "makeCredential with a token",
    ] {
        assert!(
            bench
                .lines()
                .any(|l| l.starts_with(figure) && l.contains(" x ")),
            "{figure}: {bench}"
        );
    }
}

/// Debian's Chromium and Firefox ESR, headless, as the desktop user, through their own
/// WebAuthn stacks and the kernel's hidraw node, against the daemon (unprivileged on
/// /dev/tpmrm0, behind the uhid helper) at a page on http://localhost
/// (tests/qemu/browsers.sh, browsers.py, browser-page.html): each registers a discoverable
/// credential with UV and PRF, is refused by the excludeList, signs in with an allowList and
/// discoverable — every signature checked by the page with WebCrypto against the registered
/// key — and gets one PRF output per salt. Firefox's discoverable sign-in finds two accounts
/// (Chromium's too) and gets the chosen one alone, without userSelected (issue 24).
#[test]
fn chromium_and_firefox_sign_in_through_the_kernel_path() {
    for browser in ["chromium", "firefox-esr"] {
        assert!(
            Command::new("sh")
                .args(["-c", &format!("command -v {browser}")])
                .output()
                .unwrap()
                .status
                .success(),
            "{browser} is missing (bash .ci/setup installs it)"
        );
    }
    let results = results_with(&[
        "tests/qemu/browsers.sh",
        "tests/qemu/browsers.py",
        "tests/qemu/browser-page.html",
        "contrib/70-tpm-passkey.rules",
        "contrib/69-tpm-passkey-snap.rules",
    ]);
    let dir = results.path();
    let out = run_in_tpm_guest(dir, "browsers.sh");
    let read = |f: &str| std::fs::read_to_string(dir.join(f)).unwrap_or_default();
    assert_done(&out, &read);
    let report = read("browsers");
    let steps: Vec<serde_json::Value> = report
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(steps.iter().all(|s| s.get("failed").is_none()), "{report}");
    for browser in ["chromium", "firefox"] {
        let passed: Vec<&str> = steps
            .iter()
            .filter(|s| s["browser"] == browser)
            .filter_map(|s| s["step"].as_str())
            .collect();
        // Every ceremony, then the end of the run.
        assert_eq!(
            passed,
            [
                "register (rk, uv, prf)",
                "excludeList refuses a second registration",
                "sign in, allowList",
                "sign in, discoverable",
                "PRF (salt one)",
                "PRF (salt one)",
                "PRF (salt two)",
                "done"
            ],
            "{browser}: {report}"
        );
    }
}
