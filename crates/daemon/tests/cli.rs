//! The `tpm-passkey` binary as a user runs it, against the embedded swtpm.
#![allow(clippy::unwrap_used)]
use std::process::Command;

fn tpm_passkey(args: &[&str], state: &std::path::Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_tpm-passkey"))
        .args(args)
        .arg("--state-dir")
        .arg(state)
        // No ambient TPM choice may leak in from the developer's shell.
        .env_remove("TPM2TOOLS_TCTI")
        .env_remove("TCTI")
        .output()
        .expect("runs")
}

#[test]
fn tpm_json_reports_a_passing_self_test_and_says_it_is_simulated() {
    let dir = tempfile::tempdir().unwrap();
    let out = tpm_passkey(&["tpm", "--simulator", "--json"], dir.path());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    assert_eq!(v["simulated"], true);
    assert_eq!(v["warning"], "simulated TPM — not hardware-protected");
    assert_eq!(v["manufacturer"], "IBM");
    assert_eq!(v["self_test"]["passed"], true);
    assert_eq!(v["lockout"]["in_lockout"], false);
    assert!(
        dir.path().join("swtpm").is_dir(),
        "simulator state lives under the state dir"
    );
}

#[test]
fn text_output_warns_first_and_is_aligned() {
    let dir = tempfile::tempdir().unwrap();
    let out = tpm_passkey(&["tpm", "--simulator"], dir.path());
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some("WARNING: simulated TPM — not hardware-protected")
    );
    // Every row: a label padded to 10 columns, one space, then the value at column 11.
    for line in lines {
        let (label, value) = line.split_at(11);
        assert!(
            !label.trim().is_empty() && label.ends_with(' '),
            "label column: {line:?}"
        );
        assert!(
            !value.is_empty() && !value.starts_with(' '),
            "value column: {line:?}"
        );
    }
    assert!(text.contains("self-test  passed"), "{text}");
}

#[test]
fn a_bad_interface_is_a_clear_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let out = tpm_passkey(&["tpm", "--tcti", "usb:/dev/hidraw0"], dir.path());
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("unknown TPM interface") && err.contains("device:/dev/tpmrm0"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn an_unreachable_tpm_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    // A port nothing listens on (bound and released just now).
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let out = tpm_passkey(
        &[
            "tpm",
            "--tcti",
            &format!("swtpm:host=127.0.0.1,port={port}"),
        ],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cannot reach the TPM through swtpm:"), "{err}");
}
