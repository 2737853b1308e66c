//! Crashes cost nothing: SIGKILL of the daemon at random moments of creates, deletes, PIN
//! changes, settings writes and resets, again and again (200 kills per run; set
//! `TPM_PASSKEY_CRASH_ROUNDS` for a longer one), on a swtpm that outlives it. After every
//! restart:
//!
//! * the daemon starts on its own store;
//! * no acknowledged passkey is lost, no acknowledged deletion comes back, and a passkey
//!   whose creation was cut short either exists whole or not at all;
//! * exactly one of the old and the new PIN works (PIN changes); the PIN never goes;
//! * an acknowledged setting holds; an interrupted one is the old or the new value;
//! * a reset is all or nothing;
//! * the audit chain verifies.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{Agent, Daemon};
use tpm_passkey_tpm::Swtpm;

/// A small deterministic generator: the kill moments and operations vary, and a failing run
/// can be replayed from the seed it prints (`TPM_PASSKEY_CRASH_SEED`).
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

const PIN_A: &str = "4711";
const PIN_B: &str = "86420";

/// What the test knows the authenticator holds.
struct Model {
    pin: &'static str,
    /// Acknowledged passkeys (hex ids).
    passkeys: BTreeSet<String>,
    /// Acknowledged deletions: must never come back.
    deleted: BTreeSet<String>,
    always_uv: bool,
}

#[derive(Debug, Clone, Copy)]
enum Op {
    Create,
    Delete,
    ChangePin,
    Settings,
    Reset,
}

struct Harness {
    d: Daemon,
    pins: PathBuf,
}

impl Harness {
    fn pin_file(&self, pin: &str) -> String {
        self.pins.join(pin).to_str().unwrap().to_owned()
    }

    fn cli(&self, args: &[&str]) -> std::process::Output {
        self.d.cli(args)
    }

    fn spawn_cli(&self, args: &[&str]) -> Child {
        Command::new(env!("CARGO_BIN_EXE_tpm-passkey"))
            .args(args)
            .arg("--control")
            .arg(self.d.control())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    }

    fn passkeys(&self) -> BTreeSet<String> {
        let out = self.cli(&["list", "--json"]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        v.as_array()
            .unwrap()
            .iter()
            .map(|p| p["id"].as_str().unwrap().to_owned())
            .collect()
    }

    fn status(&self) -> serde_json::Value {
        let out = self.cli(&["status", "--json"]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }

    /// Whether `pin` is the PIN: changing it to itself succeeds only with the current one
    /// (a wrong one costs one TPM retry, which the right one restores).
    fn pin_works(&self, pin: &str) -> bool {
        let f = self.pin_file(pin);
        let out = self.cli(&["pin", "change", "--pin-file", &f, "--new-pin-file", &f]);
        if !out.status.success() {
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(
                err.contains("wrong PIN"),
                "{err}\n--- daemon\n{}",
                self.d.log()
            );
        }
        out.status.success()
    }

    /// `audit verify`: the chain, every checkpoint (one a kill cut short is finished or
    /// dropped at the start) and the TPM's audit index now.
    fn audit_chain_verifies(&self) -> bool {
        let out = self.cli(&["audit", "verify"]);
        if !out.status.success() {
            eprintln!("{}", String::from_utf8_lossy(&out.stderr));
        }
        out.status.success()
    }

    /// The python-fido2 create loop, started; returns once it is ready to register.
    fn spawn_creates(&self, pin: &str) -> (Child, std::sync::mpsc::Receiver<String>) {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/python");
        let mut child = Command::new("python3")
            .arg(dir.join("fido2_e2e.py"))
            .arg("create_loop")
            .env("TPM_PASSKEY_HID", self.d.hid())
            .env("TPM_PASSKEY_PIN", pin)
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let out = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        assert_eq!(
            rx.recv_timeout(Duration::from_secs(30)).unwrap(),
            "ready",
            "create loop did not start"
        );
        (child, rx)
    }
}

#[test]
fn kills_at_random_points_of_every_write_lose_nothing_acknowledged() {
    let rounds: u64 = std::env::var("TPM_PASSKEY_CRASH_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(200);
    let seed = std::env::var("TPM_PASSKEY_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    println!("seed {seed} ({rounds} rounds)");
    let mut rng = Lcg(seed);

    let tpm_dir = tempfile::tempdir().unwrap();
    let swtpm = Swtpm::start(&tpm_dir.path().join("tpm")).unwrap();
    let d = Daemon::start_on(swtpm.tcti().as_str(), Agent::ApproveAll);
    let pins = d.dir.path().join("pins");
    std::fs::create_dir_all(&pins).unwrap();
    for p in [PIN_A, PIN_B] {
        std::fs::write(pins.join(p), format!("{p}\n")).unwrap();
    }
    let mut h = Harness { d, pins };
    assert!(h
        .cli(&["pin", "set", "--new-pin-file", &h.pin_file(PIN_A)])
        .status
        .success());
    let mut m = Model {
        pin: PIN_A,
        passkeys: BTreeSet::new(),
        deleted: BTreeSet::new(),
        always_uv: true,
    };
    let started = Instant::now();
    let mut counts = std::collections::BTreeMap::<&str, (u32, u32)>::new();

    for round in 0..rounds {
        let op = match rng.next(100) {
            0..=34 => Op::Create,
            35..=54 if !m.passkeys.is_empty() => Op::Delete,
            35..=54 => Op::Create,
            55..=74 => Op::ChangePin,
            75..=95 => Op::Settings,
            _ => Op::Reset,
        };
        let other = if m.pin == PIN_A { PIN_B } else { PIN_A };
        let cur = h.pin_file(m.pin);
        let delay = Duration::from_micros(rng.next(200_000));
        let ctx = |what: &str| format!("round {round} {op:?} (seed {seed}): {what}");

        // Start the operation, kill the daemon somewhere in it, see what was acknowledged.
        let mut acked_creates = Vec::new();
        let mut target = None;
        let cli_ok = match op {
            Op::Create => {
                let (mut child, rx) = h.spawn_creates(m.pin);
                // A create (PIN token, prompt, TPM key, store) takes ~100–200 ms: kill
                // anywhere in the first few.
                std::thread::sleep(delay * 4);
                h.d.kill();
                let _ = child.wait();
                while let Ok(line) = rx.recv_timeout(Duration::from_millis(200)) {
                    if let Some(id) = line.strip_prefix("created ") {
                        acked_creates.push(id.to_owned());
                    }
                }
                false
            }
            Op::Delete => {
                let id = m.passkeys.iter().next().unwrap().clone();
                let mut c = h.spawn_cli(&["delete", &id, "--pin-file", &cur]);
                target = Some(id);
                std::thread::sleep(delay);
                h.d.kill();
                c.wait().unwrap().success()
            }
            Op::ChangePin => {
                let new = h.pin_file(other);
                let mut c =
                    h.spawn_cli(&["pin", "change", "--pin-file", &cur, "--new-pin-file", &new]);
                std::thread::sleep(delay);
                h.d.kill();
                c.wait().unwrap().success()
            }
            Op::Settings => {
                let to = if m.always_uv { "off" } else { "on" };
                let mut c = h.spawn_cli(&["settings", "--always-uv", to, "--pin-file", &cur]);
                std::thread::sleep(delay);
                h.d.kill();
                c.wait().unwrap().success()
            }
            Op::Reset => {
                let mut c = h.spawn_cli(&["reset", "--yes", "--pin-file", &cur]);
                std::thread::sleep(delay);
                h.d.kill();
                c.wait().unwrap().success()
            }
        };
        h.d.restart(Agent::ApproveAll);
        assert!(h.audit_chain_verifies(), "{}", ctx("audit chain"));

        // What the authenticator holds now, against the model.
        let now = h.passkeys();
        let status = h.status();
        let pin_set = status["pin_set"].as_bool().unwrap();
        let done;
        match op {
            Op::Reset => {
                let erased = now.is_empty() && !pin_set;
                if cli_ok {
                    assert!(erased, "{}", ctx("an acknowledged reset must hold"));
                }
                if !erased {
                    assert_eq!(
                        now,
                        m.passkeys,
                        "{}",
                        ctx("an interrupted reset is all or nothing")
                    );
                    assert!(pin_set, "{}", ctx("PIN kept with the passkeys"));
                }
                done = erased;
                if erased {
                    m.passkeys.clear();
                    m.pin = PIN_A;
                    m.always_uv = true;
                    let set = h.cli(&["pin", "set", "--new-pin-file", &h.pin_file(PIN_A)]);
                    assert!(set.status.success(), "{}", ctx("PIN set after reset"));
                }
            }
            Op::ChangePin => {
                let (old_works, new_works) = (h.pin_works(m.pin), h.pin_works(other));
                assert!(
                    old_works ^ new_works,
                    "{}",
                    ctx(&format!("old PIN works {old_works}, new {new_works}"))
                );
                if cli_ok {
                    assert!(new_works, "{}", ctx("an acknowledged change must hold"));
                }
                done = new_works;
                if new_works {
                    m.pin = other;
                }
            }
            Op::Settings => {
                let now_uv = status["always_uv"].as_bool().unwrap();
                if cli_ok {
                    assert_eq!(
                        now_uv,
                        !m.always_uv,
                        "{}",
                        ctx("an acknowledged setting must hold")
                    );
                }
                done = now_uv != m.always_uv;
                m.always_uv = now_uv;
            }
            Op::Delete => {
                let id = target.unwrap();
                if cli_ok {
                    assert!(
                        !now.contains(&id),
                        "{}",
                        ctx("an acknowledged deletion came back")
                    );
                }
                done = !now.contains(&id);
                if done {
                    m.passkeys.remove(&id);
                    m.deleted.insert(id);
                }
            }
            Op::Create => {
                m.passkeys.extend(acked_creates.iter().cloned());
                done = !acked_creates.is_empty();
                // The one being made when the kill came may exist, whole, or not at all.
                let extra: Vec<_> = now.difference(&m.passkeys).cloned().collect();
                assert!(
                    extra.len() <= 1,
                    "{}",
                    ctx(&format!("unexpected passkeys {extra:?}"))
                );
                m.passkeys.extend(extra);
            }
        }
        if !matches!(op, Op::ChangePin | Op::Reset) {
            assert!(pin_set, "{}", ctx("the PIN never goes"));
        }
        assert_eq!(
            now.len(),
            m.passkeys.len(),
            "{}",
            ctx("no acknowledged passkey lost")
        );
        assert!(
            m.passkeys.is_subset(&now),
            "{}",
            ctx("no acknowledged passkey lost")
        );
        assert!(
            now.is_disjoint(&m.deleted),
            "{}",
            ctx("no deletion resurrected")
        );
        let name = match op {
            Op::Create => "create",
            Op::Delete => "delete",
            Op::ChangePin => "PIN change",
            Op::Settings => "settings",
            Op::Reset => "reset",
        };
        let e = counts.entry(name).or_default();
        if done {
            e.0 += 1;
        } else {
            e.1 += 1;
        }
    }
    println!(
        "{rounds} kills in {:?}; per operation (took effect, did not): {counts:?}; passkeys at the end {}",
        started.elapsed(),
        m.passkeys.len()
    );
    // Every passkey left signs in with the PIN of the end, under the public key it was
    // registered with.
    assert!(h.pin_works(m.pin));
    let out = Command::new("python3")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/python/fido2_e2e.py"))
        .arg("all_sign")
        .env("TPM_PASSKEY_HID", h.d.hid())
        .env("TPM_PASSKEY_PIN", m.pin)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let signed = format!("signed {}", m.passkeys.len());
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .any(|l| l == signed),
        "{signed}: {}",
        String::from_utf8_lossy(&out.stdout)
    );
}
