//! TPM outages against the real daemon: the TPM dies or hangs and comes back; the embedded
//! swtpm dies, or is left behind by a killed daemon. The daemon must say "unreachable" at
//! once (status, CTAP), serve again without a restart, and never be blocked by its own
//! leftovers.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::{children, comm, wait_for, Agent, Daemon};
use tpm_passkey_tpm::Swtpm;

fn tpm_health(d: &Daemon) -> String {
    let out = d.cli(&["status", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    v["tpm"].as_str().unwrap().to_owned()
}

fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| s.rsplit_once(") ").map(|(_, r)| !r.starts_with('Z')))
        .unwrap_or(false)
}

fn kill(pid: u32, sig: rustix::process::Signal) {
    let pid = rustix::process::Pid::from_raw(i32::try_from(pid).unwrap()).unwrap();
    let _ = rustix::process::kill_process(pid, sig);
}

#[test]
fn a_tpm_that_dies_and_comes_back_is_used_again_without_a_restart() {
    let tpm_dir = tempfile::tempdir().unwrap();
    let state = tpm_dir.path().join("tpm");
    let swtpm = Swtpm::start(&state).unwrap();
    let port = swtpm.port();
    let d = Daemon::start_on(swtpm.tcti().as_str(), Agent::ApproveAll);
    d.assert_python("fido2_e2e.py", "persist_register");
    let pid = d.pid();
    assert_eq!(tpm_health(&d), "ready");

    drop(swtpm);
    let t = Instant::now();
    assert_eq!(tpm_health(&d), "unreachable");
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    let text = d.cli(&["status"]);
    assert!(
        String::from_utf8_lossy(&text.stdout).contains("TPM unreachable"),
        "{}",
        String::from_utf8_lossy(&text.stdout)
    );
    let prompts = d.prompts().len();
    d.assert_python("fido2_e2e.py", "tpm_unreachable");
    assert_eq!(
        d.prompts().len(),
        prompts,
        "no prompt while the TPM is away"
    );

    let back = Swtpm::start_at(&state, port).unwrap();
    wait_for(|| tpm_health(&d) == "ready", "the TPM to be used again");
    d.assert_python("fido2_e2e.py", "persist_authenticate");
    assert_eq!(d.pid(), pid, "the same daemon");
    assert!(d.log().contains("the TPM is back"), "{}", d.log());
    drop(back);
}

#[test]
fn a_hung_tpm_costs_one_deadline_then_fails_at_once() {
    let tpm_dir = tempfile::tempdir().unwrap();
    let swtpm = Swtpm::start(&tpm_dir.path().join("tpm")).unwrap();
    let d = Daemon::start_on_with(
        swtpm.tcti().as_str(),
        Agent::ApproveAll,
        &["--tpm-deadline-ms", "1500"],
    );
    d.assert_python("fido2_e2e.py", "persist_register");

    kill(swtpm.pid(), rustix::process::Signal::STOP);
    // The first request finds the TPM hung and is cut at the deadline …
    let t = Instant::now();
    let out = d.python("fido2_e2e.py", "persist_authenticate");
    assert!(!out.status.success());
    assert!(t.elapsed() < Duration::from_secs(8), "{:?}", t.elapsed());
    assert!(d.log().contains("outlived its deadline"), "{}", d.log());
    // … the next ones fail at once, and status says why.
    assert_eq!(tpm_health(&d), "unreachable");
    d.assert_python("fido2_e2e.py", "tpm_unreachable");

    kill(swtpm.pid(), rustix::process::Signal::CONT);
    wait_for(|| tpm_health(&d) == "ready", "the TPM to answer again");
    d.assert_python("fido2_e2e.py", "persist_authenticate");
}

#[test]
fn the_embedded_swtpm_is_restarted_if_it_dies_and_dies_with_the_daemon() {
    let mut d = Daemon::start(Agent::ApproveAll);
    d.assert_python("fido2_e2e.py", "persist_register");
    let find_swtpm = |d: &Daemon| {
        children(d.pid().unwrap())
            .into_iter()
            .find(|p| comm(*p) == "swtpm")
    };
    let first = find_swtpm(&d).expect("the daemon runs its swtpm");
    kill(first, rustix::process::Signal::KILL);
    wait_for(|| !alive(first), "swtpm to die");
    wait_for(
        || tpm_health(&d) == "ready" && find_swtpm(&d).is_some_and(|p| p != first),
        "a new embedded swtpm",
    );
    d.assert_python("fido2_e2e.py", "persist_authenticate");

    // SIGKILL the daemon: its swtpm follows it (parent-death signal) …
    let second = find_swtpm(&d).unwrap();
    d.kill();
    wait_for(
        || !alive(second),
        "the embedded swtpm to die with the daemon",
    );
    // … and a swtpm left behind on the state directory (as if the signal were lost) is
    // stopped by the next start instead of blocking it.
    let leftover = Swtpm::start(&d.state().join("swtpm")).unwrap();
    let leftover_pid = leftover.pid();
    std::mem::forget(leftover);
    d.restart(Agent::ApproveAll);
    assert!(!alive(leftover_pid), "the leftover swtpm was stopped");
    d.assert_python("fido2_e2e.py", "persist_authenticate");
}

#[test]
fn a_cleared_tpm_is_reported_and_its_dead_passkeys_pruned() {
    let tpm_dir = tempfile::tempdir().unwrap();
    let swtpm = Swtpm::start(&tpm_dir.path().join("tpm")).unwrap();
    let tcti = swtpm.tcti();
    let mut d = Daemon::start_on(tcti.as_str(), Agent::ApproveAll);
    d.assert_python("fido2_e2e.py", "persist_register");
    d.stop();

    // The TPM is cleared (firmware menu, or the disk moved to another machine).
    let cleared = std::process::Command::new("tpm2_clear")
        .args(["-T", tcti.as_str()])
        .output()
        .unwrap();
    assert!(
        cleared.status.success(),
        "{}",
        String::from_utf8_lossy(&cleared.stderr)
    );

    d.restart(Agent::ApproveAll);
    assert_eq!(tpm_health(&d), "replaced");
    let status = String::from_utf8_lossy(&d.cli(&["status"]).stdout).into_owned();
    assert!(status.contains("cleared"), "{status}");
    assert!(
        status.contains("LOST"),
        "the PIN index went with it: {status}"
    );
    let listed = d.cli(&["list", "--json"]);
    let passkeys: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(
        passkeys.as_array().unwrap().len(),
        1,
        "still listed until pruned"
    );

    let refused = d.cli(&["prune"]);
    assert!(!refused.status.success(), "prune asks for --yes");
    let pruned = d.cli(&["prune", "--yes"]);
    assert!(
        pruned.status.success(),
        "{}",
        String::from_utf8_lossy(&pruned.stderr)
    );
    assert!(String::from_utf8_lossy(&pruned.stdout).contains("removed 1"));
    assert_eq!(tpm_health(&d), "ready");
    let listed = d.cli(&["list", "--json"]);
    let passkeys: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert!(passkeys.as_array().unwrap().is_empty());
    let audit = String::from_utf8_lossy(&d.cli(&["audit", "--json"]).stdout).into_owned();
    assert!(audit.contains("dead: this TPM cannot use it"), "{audit}");
    // A fresh start on this TPM: a new PIN, a new passkey.
    d.assert_python("fido2_e2e.py", "persist_register");
    d.stop();
    d.restart(Agent::None);
    assert_eq!(
        tpm_health(&d),
        "ready",
        "the new TPM is now the recorded one"
    );
}
