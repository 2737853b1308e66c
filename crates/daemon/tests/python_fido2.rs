//! python-fido2 2.x (client and Fido2Server) against the daemon over the socket transport,
//! on a real swtpm per test.
#![allow(clippy::unwrap_used)]

mod common;

use common::{Agent, Daemon};
use tpm_passkey_core::{Engine, KeyError, KeyStore, PinHash, Store};
use tpm_passkey_tpm::{Swtpm, TpmKeyStore};

#[test]
fn pin_credentials_management_and_reset() {
    let d = Daemon::start(Agent::ApproveAll);
    d.assert_python("fido2_e2e.py", "pin_credentials");
    let prompts = d.prompts();
    let ops: Vec<&str> = prompts
        .iter()
        .map(|p| p["prompt"]["operation"].as_str().unwrap())
        .collect();
    assert!(
        ops.starts_with(&["register", "register", "sign_in"]),
        "{ops:?}"
    );
    assert!(
        ops.contains(&"reset"),
        "the reset was approved by the user: {ops:?}"
    );
    assert_eq!(prompts[0]["prompt"]["rp_id"], "example.com");
    assert_eq!(prompts[0]["prompt"]["user"], "alice (Alice)");
    // The prompt names the application that asked (SO_PEERCRED, /proc/PID/comm).
    let client = prompts[0]["prompt"]["client_name"].as_str().unwrap();
    assert!(client.starts_with("python"), "{client}");
    assert!(prompts[0]["prompt"]["client_pid"].as_u64().unwrap() > 1);
}

#[test]
fn pin_protocol_points_independent_clients_check() {
    let d = Daemon::start(Agent::ApproveAll);
    d.assert_python("fido2_e2e.py", "pin_protocol_points");
}

#[test]
fn cred_blob_and_prf_at_registration() {
    let d = Daemon::start(Agent::ApproveAll);
    d.assert_python("fido2_e2e.py", "cred_blob_and_prf_at_registration");
}

/// The account chosen in the prompt comes back alone. With userSelected to a client the
/// daemon names as a Chromium-family browser (the requesting process's name); without it to
/// any other — here the same python-fido2 client as `python3` (issue 24: a client that
/// rejects the key, like Mozilla's authenticator crate, fails under any name otherwise).
#[test]
fn the_account_chosen_in_the_prompt_comes_back_alone_with_user_selected() {
    let d = Daemon::start(Agent::ApproveChoosing(2));
    let out = d.python_named(
        "chromium",
        "fido2_e2e.py",
        "choose_account",
        &[("TPM_PASSKEY_EXPECT_USER_SELECTED", "1")],
    );
    assert!(
        out.status.success(),
        "as chromium\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let d = Daemon::start(Agent::ApproveChoosing(2));
    d.assert_python("fido2_e2e.py", "choose_account");
    let prompts = d.prompts();
    let listed = prompts
        .iter()
        .find(|p| {
            p["prompt"]["accounts"]
                .as_array()
                .is_some_and(|a| a.len() == 2)
        })
        .expect("a prompt listed both accounts");
    assert_eq!(listed["prompt"]["accounts"][0], "bob (Bob)");
    assert_eq!(listed["prompt"]["accounts"][1], "alice (Alice)");
}

#[test]
fn large_blobs_and_large_blob_key() {
    let d = Daemon::start(Agent::ApproveAll);
    d.assert_python("fido2_e2e.py", "large_blobs");
}

#[test]
fn hmac_secret_is_stable() {
    let d = Daemon::start(Agent::ApproveAll);
    d.assert_python("fido2_e2e.py", "hmac_secret");
}

#[test]
fn denied_requests_fail_and_store_nothing() {
    let mut d = Daemon::start(Agent::DenyAll);
    d.assert_python("fido2_e2e.py", "denied");
    d.stop();
    let store = Store::open(&d.state().join("store.sqlite")).unwrap();
    assert_eq!(store.credential_count().unwrap(), 0);
    let audit = store.audit_tail(10).unwrap();
    // The denial is recorded with the application that asked.
    assert!(
        audit.iter().any(|r| r.event == "register"
            && r.outcome == "denied"
            && r.client.as_deref().is_some_and(|c| c.starts_with("python"))),
        "{audit:?}"
    );
}

/// Approval fatigue, with a real client: a program keeps asking for one site and every
/// prompt is denied. After four unapproved prompts for the site in a minute the rest are
/// refused unseen; the agent is told once, status shows the cool-down, and lifting it
/// needs the PIN.
#[test]
fn a_prompt_flood_is_refused_unseen_after_four_unapproved_prompts() {
    let d = Daemon::start(Agent::DenyAll);
    d.assert_python("fido2_e2e.py", "flood");
    let prompts = d.prompts();
    assert_eq!(
        prompts.len(),
        4,
        "only four prompts reached the person: {prompts:?}"
    );
    let status = d.cli(&["status", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(v["cooldowns"].as_array().map(Vec::len), Some(1), "{v}");
    assert_eq!(v["cooldowns"][0]["site"], "example.com", "{v}");
    let notices: Vec<_> = d
        .agent_lines()
        .into_iter()
        .filter_map(|l| {
            l.get("notice_text")
                .and_then(|t| t.as_str())
                .map(str::to_owned)
        })
        .collect();
    assert_eq!(notices.len(), 1, "told once: {notices:?}");
    assert!(notices[0].contains("example.com"), "{notices:?}");
    // Without the PIN it stays; with it, it is lifted.
    let lift = d.cli(&["settings", "--lift-cooldowns", "--pin-file", "/dev/null"]);
    assert!(!lift.status.success(), "{lift:?}");
    let pin_file = d.state().parent().unwrap().join("pin");
    let lift = d.cli(&[
        "settings",
        "--lift-cooldowns",
        "--pin-file",
        pin_file.to_str().unwrap(),
    ]);
    assert!(lift.status.success(), "{lift:?}");
    let status = d.cli(&["status", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(v["cooldowns"].as_array().map(Vec::len), Some(0), "{v}");
    let audit = d.cli(&["audit", "--json"]);
    let text = String::from_utf8_lossy(&audit.stdout);
    assert!(
        text.contains("prompt_flood") && text.contains("throttled"),
        "{text}"
    );
    // Stricter limits go without the PIN; looser ones (and step-up off) need it.
    let stricter = d.cli(&[
        "settings",
        "--prompts-per-site",
        "3",
        "--pin-file",
        "/dev/null",
    ]);
    assert!(stricter.status.success(), "{stricter:?}");
    let looser = d.cli(&[
        "settings",
        "--prompts-per-site",
        "10",
        "--pin-file",
        "/dev/null",
    ]);
    assert!(!looser.status.success(), "{looser:?}");
    let pin = pin_file.to_str().unwrap();
    for args in [["--prompts-per-site", "10"], ["--step-up", "off"]] {
        let out = d.cli(&[&["settings"][..], &args[..], &["--pin-file", pin][..]].concat());
        assert!(out.status.success(), "{args:?}: {out:?}");
    }
    let v: serde_json::Value =
        serde_json::from_slice(&d.cli(&["status", "--json"]).stdout).unwrap();
    assert_eq!(v["fatigue"]["unapproved_per_site"], 10, "{v}");
    assert_eq!(v["step_up"]["enabled"], false, "{v}");
}

/// Built-in user verification: the PIN is typed into our own prompt. Then, with the daemon
/// stopped, the credential's key blob is useless without the PIN: the TPM itself refuses.
#[test]
fn built_in_uv_and_keys_are_pin_bound_in_the_tpm() {
    let mut d = Daemon::start(Agent::ApproveAll);
    d.assert_python("fido2_e2e.py", "builtin_uv");
    assert!(
        d.prompts()
            .iter()
            .any(|p| p["prompt"]["pin_required"] == true),
        "the agent typed the PIN"
    );
    d.stop();

    let store = Store::open(&d.state().join("store.sqlite")).unwrap();
    let creds = store.all_credentials().unwrap();
    assert_eq!(creds.len(), 1);
    assert!(creds[0].pin_bound);
    let state = Engine::<TpmKeyStore, NoApprover>::saved_key_store_state(&store)
        .unwrap()
        .unwrap();
    // The same simulator state the daemon used, on a new port.
    let swtpm = Swtpm::start(&d.state().join("swtpm")).unwrap();
    let mut keys = TpmKeyStore::open(&swtpm.tcti(), None, Some(&state)).unwrap();
    let digest = [7u8; 32];
    assert_eq!(
        keys.sign(&creds[0].key_blob, &digest, None).err(),
        Some(KeyError::PinRequired)
    );
    assert_eq!(
        keys.sign(
            &creds[0].key_blob,
            &digest,
            Some(&PinHash::from_pin("0000"))
        )
        .err(),
        Some(KeyError::PinInvalid)
    );
    keys.sign(
        &creds[0].key_blob,
        &digest,
        Some(&PinHash::from_pin(common::PIN)),
    )
    .unwrap();
}

struct NoApprover;
impl tpm_passkey_core::Approver for NoApprover {
    fn ask(
        &mut self,
        _: &tpm_passkey_core::Prompt,
    ) -> Result<Option<PinHash>, tpm_passkey_core::Refusal> {
        Err(tpm_passkey_core::Refusal::Denied)
    }
}

/// py_webauthn, an independent relying-party library, verifies our packed
/// self-attestation and two assertions with increasing counters.
#[test]
fn py_webauthn_verifies_registration_and_assertions() {
    let d = Daemon::start(Agent::ApproveAll);
    d.assert_python("py_webauthn_e2e.py", "verify");
}

/// CTAP1/U2F once alwaysUv is off: python-fido2's Ctap1 checks the self-signed attestation
/// certificate and the signatures.
#[test]
fn u2f_register_and_authenticate_after_always_uv_is_turned_off() {
    let d = Daemon::start(Agent::ApproveAll);
    d.assert_python("fido2_e2e.py", "u2f");
    let ops: Vec<String> = d
        .prompts()
        .iter()
        .map(|p| p["prompt"]["operation"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        ops,
        ["u2f_register", "u2f_sign_in", "u2f_sign_in"],
        "check-only and wrong handles prompt nobody"
    );
}

/// Stopped with SIGTERM and started again on the same state: the PIN (the TPM's index,
/// reopened and checked) and the credential (the store, the root re-derived from the
/// saved seed) are still there.
#[test]
fn pin_and_credentials_survive_a_restart() {
    let mut d = Daemon::start(Agent::ApproveAll);
    d.assert_python("fido2_e2e.py", "persist_register");
    d.stop();
    d.restart(Agent::ApproveAll);
    d.assert_python("fido2_e2e.py", "persist_authenticate");
}

/// CTAPHID_CANCEL while a prompt waits ends the request with KEEPALIVE_CANCEL.
#[test]
fn a_client_cancel_ends_the_prompt() {
    let d = Daemon::start(Agent::None);
    d.assert_python("fido2_e2e.py", "cancel");
}

/// Nobody answers within the prompt timeout: USER_ACTION_TIMEOUT.
#[test]
fn an_unanswered_prompt_times_out() {
    let d = Daemon::start_with_timeout(Agent::None, 2);
    d.assert_python("fido2_e2e.py", "timeout");
}

/// CTAPHID_WINK is passed to the approval agent (the app flashes its window).
#[test]
fn wink_reaches_the_agent() {
    let d = Daemon::start(Agent::ApproveAll);
    d.assert_python("fido2_e2e.py", "wink");
    common::wait_for(
        || d.agent_lines().iter().any(|l| l["wink"] == true),
        "the wink at the agent",
    );
}

/// With no agent connected, `--start-app` makes the daemon start the app, which registers
/// and gets the waiting prompt. The "app" here is a script that records how it was started,
/// then answers as the scripted agent for a few seconds and leaves, as the real app does
/// once idle: the next prompt starts it again at once (only an app that never registers is
/// held back).
#[test]
fn a_prompt_without_an_agent_starts_the_app() {
    let dir = tempfile::tempdir().unwrap();
    let app = dir.path().join("fake-app");
    let started = dir.path().join("started");
    let pin = dir.path().join("pin");
    std::fs::write(&pin, format!("{}\n", common::PIN)).unwrap();
    std::fs::write(
        &app,
        format!(
            "#!/bin/sh\necho \"$* $TPM_PASSKEY_CONTROL\" >> '{}'\nexec timeout 4 '{}' agent --approve-all --pin-file '{}' --control \"$TPM_PASSKEY_CONTROL\"\n",
            started.display(),
            env!("CARGO_BIN_EXE_tpm-passkey"),
            pin.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&app, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let d = Daemon::start_with_args(&["--start-app", app.to_str().unwrap()]);
    let set = std::process::Command::new(env!("CARGO_BIN_EXE_tpm-passkey"))
        .args([
            "pin",
            "set",
            "--new-pin-file",
            pin.to_str().unwrap(),
            "--control",
        ])
        .arg(d.control())
        .output()
        .unwrap();
    assert!(
        set.status.success(),
        "{}",
        String::from_utf8_lossy(&set.stderr)
    );
    d.assert_python("fido2_e2e.py", "register_only");
    let lines = std::fs::read_to_string(&started).unwrap();
    assert_eq!(
        lines.lines().collect::<Vec<_>>(),
        [format!("--hidden {}", d.control().display())],
        "started once, hidden, pointed at our control socket"
    );
    // The app left (idle); the next prompt, well within the 30 s hold-back, starts it again.
    common::wait_for(
        || {
            let out = std::process::Command::new(env!("CARGO_BIN_EXE_tpm-passkey"))
                .args(["status", "--json", "--control"])
                .arg(d.control())
                .output()
                .unwrap();
            serde_json::from_slice::<serde_json::Value>(&out.stdout)
                .is_ok_and(|v| v["agent_info"].is_null())
        },
        "the app's agent leaving",
    );
    d.assert_python("fido2_e2e.py", "register_only");
    let lines = std::fs::read_to_string(&started).unwrap();
    assert_eq!(lines.lines().count(), 2, "started again: {lines}");
}
