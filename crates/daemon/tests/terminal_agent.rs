//! The terminal approval agent on a real pseudo-terminal (tests/python/pty_agent.py types
//! like a person): it shows the same words as the app, takes the PIN masked, approves with
//! Enter, denies with Escape, and leaves a prompt the daemon closed.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use common::{wait_for, Agent, Daemon, PIN};

/// Starts the terminal agent on a pty, answering `answers` ([text, keys] pairs).
fn terminal_agent(d: &Daemon, answers: serde_json::Value) -> (Child, PathBuf) {
    let transcript = d.dir.path().join("tty.txt");
    let child = Command::new("python3")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/python/pty_agent.py"))
        .arg(&transcript)
        .arg(answers.to_string())
        .arg("--")
        .arg(env!("CARGO_BIN_EXE_tpm-passkey"))
        .args(["agent", "--control"])
        .arg(d.control())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    wait_for(
        || d.log().contains("approval agent registered") || d.log().contains("agent registered"),
        "the terminal agent to register",
    );
    (child, transcript)
}

fn set_pin(d: &Daemon) {
    let pin = d.dir.path().join("pin");
    let out = d.cli(&["pin", "set", "--new-pin-file", pin.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn read(t: &Path) -> String {
    String::from_utf8_lossy(&std::fs::read(t).unwrap_or_default()).into_owned()
}

#[test]
fn a_person_at_the_terminal_approves_with_the_pin_after_a_wrong_one() {
    let d = Daemon::start(Agent::None);
    set_pin(&d);
    let (mut agent, transcript) = terminal_agent(
        &d,
        serde_json::json!([
            ["Create a passkey for example.com", "0000\r"],
            ["Wrong PIN. 7 attempts left", format!("{PIN}\r")],
            ["Sign in to example.com", format!("{PIN}\r")],
        ]),
    );
    // Built-in UV: every PIN is typed at the terminal, none by python-fido2.
    d.assert_python("fido2_e2e.py", "builtin_uv_with_pin_set");
    let t = read(&transcript);
    assert!(t.contains("A new passkey for example.com"), "{t}");
    assert!(t.contains("Requested by python3"), "{t}");
    assert!(t.contains("PIN: ****"), "masked: {t}");
    assert!(!t.contains(PIN), "the PIN never echoed: {t}");
    assert!(t.contains("approved"), "{t}");
    agent.kill().unwrap();
    let _ = agent.wait();
}

#[test]
fn escape_denies_and_a_closed_prompt_leaves_the_terminal() {
    let d = Daemon::start_with_timeout(Agent::None, 2);
    let (mut agent, transcript) = terminal_agent(
        &d,
        serde_json::json!([["Create a passkey for example.com", "\u{1b}"]]),
    );
    d.assert_python("fido2_e2e.py", "denied");
    wait_for(
        || read(&transcript).contains("denied"),
        "the denial on the terminal",
    );
    // Nobody answers the next one: the daemon times it out, and the terminal says so.
    d.assert_python("fido2_e2e.py", "timeout");
    wait_for(
        || read(&transcript).contains("timed out"),
        "the timeout on the terminal",
    );
    assert!(d.prompts().is_empty(), "no scripted agent answered");
    agent.kill().unwrap();
    let _ = agent.wait();
}
