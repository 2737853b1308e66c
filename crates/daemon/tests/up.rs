//! `tpm-passkey up`, the README's first command, as a newcomer meets it on a machine
//! without a desktop and without the uhid helper: it says which install step gives browsers
//! a security key, starts the authenticator on the socket transport and the embedded swtpm,
//! asks for a PIN, runs the test sign-in with its prompts on this terminal, and stops
//! everything on Ctrl-C.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::Command;

#[test]
fn up_on_a_bare_terminal_sets_a_pin_and_passes_the_test_sign_in() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    std::fs::create_dir_all(&run).unwrap();
    let transcript = dir.path().join("tty.txt");
    let pin = "246810";
    let answers = serde_json::json!([
        ["Choose a PIN", format!("{pin}\r")],
        ["The same PIN again", format!("{pin}\r")],
        ["tpm-passkey.test", format!("{pin}\r")],
        ["tpm-passkey.test", format!("{pin}\r")],
        ["test sign-in passed", "\u{3}"],
    ]);
    let status = Command::new("python3")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/python/pty_agent.py"))
        .arg(&transcript)
        .arg(answers.to_string())
        .arg("--")
        .arg(env!("CARGO_BIN_EXE_tpm-passkey"))
        .args(["up", "--simulator", "--state-dir"])
        .arg(dir.path().join("state"))
        .args([
            "--uhid",
            "/nonexistent/uhid",
            "--uhid-helper",
            "/nonexistent/helper.sock",
        ])
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .env("XDG_RUNTIME_DIR", &run)
        .status()
        .unwrap();
    let t = String::from_utf8_lossy(&std::fs::read(&transcript).unwrap()).into_owned();
    assert!(
        t.contains("sudo contrib/install.sh"),
        "says how to get the USB key: {t}"
    );
    assert!(
        t.contains("simulated TPM"),
        "says the keys are not hardware-protected: {t}"
    );
    assert!(t.contains("Create a passkey for tpm-passkey.test"), "{t}");
    assert!(t.contains("test sign-in passed"), "{t}");
    assert!(!t.contains(pin), "the PIN is never echoed: {t}");
    // Ctrl-C stopped everything: no daemon left on the control socket.
    let left = Command::new(env!("CARGO_BIN_EXE_tpm-passkey"))
        .args(["status", "--control"])
        .arg(run.join("tpm-passkey/control.sock"))
        .output()
        .unwrap();
    assert!(
        !left.status.success(),
        "the daemon stopped with `up` ({status:?})"
    );
}
