//! One trusted approval path, against the real daemon on its own swtpm: a second agent
//! cannot take the slot (the first is told, the attempt audited), taking over needs the
//! PIN, and a CTAP reset is refused without the PIN.
#![allow(clippy::unwrap_used)]

mod common;

use std::process::Command;

use common::{wait_for, Agent, Daemon, PIN};

fn audit_events(d: &Daemon) -> Vec<(String, String, String)> {
    let out = d.cli(&["audit", "--json", "--limit", "200"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice::<serde_json::Value>(&out.stdout)
        .unwrap()
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["event"].as_str().unwrap().to_owned(),
                r["outcome"].as_str().unwrap().to_owned(),
                r["detail"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect()
}

fn second_agent(d: &Daemon, extra: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_tpm-passkey"))
        .args(["agent", "--approve-all"])
        .args(extra)
        .arg("--control")
        .arg(d.control())
        .output()
        .unwrap()
}

#[test]
fn a_second_agent_cannot_take_the_slot_without_the_pin() {
    let d = Daemon::start(Agent::ApproveAll);
    let pin_file = d.dir.path().join("pin");
    let set = d.cli(&["pin", "set", "--new-pin-file", pin_file.to_str().unwrap()]);
    assert!(set.status.success());

    // Refused, with the current agent named; the current agent is told.
    let out = second_agent(&d, &[]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("another approval agent is connected"), "{err}");
    assert!(err.contains("scripted"), "{err}");
    wait_for(
        || {
            d.agent_lines()
                .iter()
                .any(|l| l["notice"]["notice"] == "contested")
        },
        "the connected agent hears about it",
    );
    assert!(audit_events(&d)
        .iter()
        .any(|(e, o, _)| e == "agent_refused" && o == "denied"));

    // A wrong PIN does not take over (and counts in the TPM).
    let wrong = d.dir.path().join("wrong");
    std::fs::write(&wrong, "0000\n").unwrap();
    let out = second_agent(&d, &["--take-over", "--pin-file", wrong.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("wrong PIN"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let status: serde_json::Value =
        serde_json::from_slice(&d.cli(&["status", "--json"]).stdout).unwrap();
    assert_eq!(status["pin_retries"], 7);
    assert_eq!(status["agent_info"]["kind"], "scripted");

    // The right PIN does; the old agent is told it was replaced.
    let mut taker = Command::new(env!("CARGO_BIN_EXE_tpm-passkey"))
        .args(["agent", "--approve-all", "--take-over", "--pin-file"])
        .arg(&pin_file)
        .arg("--control")
        .arg(d.control())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    wait_for(
        || {
            d.agent_lines()
                .iter()
                .any(|l| l["notice"]["notice"] == "replaced")
        },
        "the old agent hears it was replaced",
    );
    assert!(audit_events(&d)
        .iter()
        .any(|(e, o, _)| e == "agent_replaced" && o == "ok"));
    let status: serde_json::Value =
        serde_json::from_slice(&d.cli(&["status", "--json"]).stdout).unwrap();
    assert_eq!(status["agent_info"]["pid"], taker.id());
    let _ = taker.kill();
    let _ = taker.wait();
    assert_eq!(PIN, "4711");
}

#[test]
fn a_ctap_reset_without_the_pin_is_refused() {
    let d = Daemon::start(Agent::ApproveWithoutPin);
    d.assert_python("fido2_e2e.py", "reset_needs_pin");
    let prompts = d.prompts();
    let reset = prompts
        .iter()
        .find(|p| p["prompt"]["operation"] == "reset")
        .expect("the reset was asked");
    assert_eq!(reset["prompt"]["pin_required"], true);
}
