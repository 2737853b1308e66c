//! Crashes cost nothing: SIGKILL of the daemon in the middle of a PIN change, again and
//! again, on a swtpm that outlives it. After every restart exactly one of the old and the
//! new PIN works, and at the end a passkey registered before the first kill still signs in.
#![allow(clippy::unwrap_used)]

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Agent, Daemon, PIN};
use tpm_passkey_tpm::Swtpm;

/// A small deterministic generator: the kill moments vary, and a failing run can be
/// replayed from the seed it prints.
struct Lcg(u64);
impl Lcg {
    fn next(&mut self, below: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % below
    }
}

fn works(d: &Daemon, pin: &std::path::Path) -> bool {
    // Changing the PIN to itself succeeds only with the current PIN; a wrong one costs one
    // TPM retry, which the right one restores.
    let p = pin.to_str().unwrap();
    let out = d.cli(&["pin", "change", "--pin-file", p, "--new-pin-file", p]);
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("wrong PIN"), "{err}\n--- daemon\n{}", d.log());
    }
    out.status.success()
}

#[test]
fn a_kill_at_any_point_of_a_pin_change_leaves_exactly_one_pin() {
    let tpm_dir = tempfile::tempdir().unwrap();
    let swtpm = Swtpm::start(&tpm_dir.path().join("tpm")).unwrap();
    let mut d = Daemon::start_on(swtpm.tcti().as_str(), Agent::ApproveAll);
    let (a, b) = (d.dir.path().join("pin"), d.dir.path().join("pin-b"));
    std::fs::write(&b, "86420\n").unwrap();
    d.assert_python("fido2_e2e.py", "persist_register");

    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    println!("seed {seed}");
    let mut rng = Lcg(seed);
    let (mut current, mut other) = (a.clone(), b.clone());
    let (mut completed, mut interrupted) = (0, 0);
    for round in 0..25 {
        let mut change = Command::new(env!("CARGO_BIN_EXE_tpm-passkey"))
            .args(["pin", "change", "--pin-file"])
            .arg(&current)
            .arg("--new-pin-file")
            .arg(&other)
            .arg("--control")
            .arg(d.control())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // A PIN change takes ~20–60 ms on swtpm: kill anywhere in and around it.
        let started = Instant::now();
        std::thread::sleep(Duration::from_micros(rng.next(80_000)));
        d.kill();
        let cli_ok = change.wait().unwrap().success();
        d.restart(Agent::None);
        let (old_works, new_works) = (works(&d, &current), works(&d, &other));
        assert!(
            old_works ^ new_works,
            "round {round} (seed {seed}, killed after {:?}): old PIN works {old_works}, new PIN works {new_works}",
            started.elapsed()
        );
        if cli_ok {
            assert!(new_works, "an acknowledged change must hold");
        }
        if new_works {
            completed += 1;
            std::mem::swap(&mut current, &mut other);
        } else {
            interrupted += 1;
        }
    }
    println!("PIN changes completed {completed}, interrupted {interrupted}");
    // The passkey made before all this signs in with PIN 4711.
    if current != a {
        let out = d.cli(&[
            "pin",
            "change",
            "--pin-file",
            current.to_str().unwrap(),
            "--new-pin-file",
            a.to_str().unwrap(),
        ]);
        assert!(out.status.success());
    }
    d.kill();
    d.restart(Agent::ApproveAll);
    d.assert_python("fido2_e2e.py", "persist_authenticate");
    assert_eq!(PIN, "4711");
}
