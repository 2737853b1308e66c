//! The management CLI against a running daemon (on its own swtpm): status, PIN, list,
//! delete, settings, audit, reset, with text and --json output, and the errors a user sees.
#![allow(clippy::unwrap_used)]

mod common;

use std::process::{Command, Output};

use common::{Agent, Daemon, PIN};

fn cli(d: &Daemon, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tpm-passkey"))
        .args(args)
        .arg("--control")
        .arg(d.control())
        .output()
        .unwrap()
}

fn ok(d: &Daemon, args: &[&str]) -> String {
    let out = cli(d, args);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn fails(d: &Daemon, args: &[&str]) -> String {
    let out = cli(d, args);
    assert!(
        !out.status.success(),
        "{args:?} succeeded: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8(out.stderr).unwrap()
}

fn json(d: &Daemon, args: &[&str]) -> serde_json::Value {
    serde_json::from_str(&ok(d, args)).unwrap()
}

#[test]
fn manage_the_authenticator_from_the_command_line() {
    let d = Daemon::start(Agent::ApproveAll);
    let pin = d.dir.path().join("pin");
    let wrong = d.dir.path().join("wrong");
    std::fs::write(&wrong, "0000\n").unwrap();
    let (pin, wrong) = (pin.to_str().unwrap(), wrong.to_str().unwrap());

    let s = json(&d, &["status", "--json"]);
    assert_eq!(
        (s["simulated"].as_bool(), s["pin_set"].as_bool()),
        (Some(true), Some(false))
    );
    // `tpm` asks the running daemon, which owns the TPM (swtpm: manufacturer "IBM").
    let t = json(&d, &["tpm", "--json"]);
    assert_eq!(t["manufacturer"], "IBM", "{t}");
    assert_eq!(t["simulated"], true);
    assert_eq!(t["lockout"]["in_lockout"], false);
    assert!(t["self_test"].is_null(), "{t}");
    assert!(ok(&d, &["tpm"]).contains("not run: the daemon owns the TPM"));
    let text = ok(&d, &["status"]);
    assert!(
        text.starts_with("WARNING: simulated TPM — not hardware-protected"),
        "{text}"
    );
    assert!(text.contains("PIN        not set"), "{text}");

    let short = d.dir.path().join("short");
    std::fs::write(&short, "12\n").unwrap();
    let err = fails(
        &d,
        &["pin", "set", "--new-pin-file", short.to_str().unwrap()],
    );
    assert!(err.contains("the PIN must be 4 to 63 bytes long"), "{err}");
    ok(&d, &["pin", "set", "--new-pin-file", pin]);
    let err = fails(&d, &["pin", "set", "--new-pin-file", pin]);
    assert!(err.contains("pin change"), "{err}");
    assert_eq!(json(&d, &["status", "--json"])["pin_retries"], 8);

    d.assert_python("fido2_e2e.py", "register_only");
    let list = json(&d, &["list", "--json"]);
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["rp_id"], "example.com");
    assert_eq!(list[0]["user_name"], "cli");
    assert_eq!(list[0]["pin_bound"], true);
    let id = list[0]["id"].as_str().unwrap().to_owned();
    let text = ok(&d, &["list"]);
    assert!(text.lines().next().unwrap().starts_with("SITE"), "{text}");
    assert!(
        text.contains("example.com") && text.contains(&id[..16]),
        "{text}"
    );

    // Deleting needs the right PIN; a wrong one costs a TPM retry, and says so.
    let err = fails(&d, &["delete", &id[..10], "--pin-file", wrong]);
    assert!(err.contains("wrong PIN: 7 attempts left"), "{err}");
    assert_eq!(json(&d, &["status", "--json"])["pin_retries"], 7);
    let err = fails(&d, &["delete", "ffff", "--pin-file", pin]);
    assert!(err.contains("no passkey with id ffff"), "{err}");
    let text = ok(&d, &["delete", &id[..10], "--pin-file", pin]);
    assert!(
        text.contains("deleted the passkey for example.com (cli)"),
        "{text}"
    );
    assert!(ok(&d, &["list"]).starts_with("no passkeys yet"));
    assert_eq!(
        json(&d, &["status", "--json"])["pin_retries"],
        8,
        "the right PIN restored them"
    );

    // Settings: the minimum only goes up; alwaysUv off needs the PIN.
    let err = fails(&d, &["settings", "--min-pin-length", "3"]);
    assert!(err.contains("minimum length can only go up"), "{err}");
    ok(&d, &["settings", "--always-uv", "off", "--pin-file", pin]);
    assert_eq!(json(&d, &["status", "--json"])["always_uv"], false);

    // The CLI sends a settings change without the PIN first and asks for it only when the
    // daemon's refusal is of kind `pin_required` (the kind, not the words): a stricter
    // limit goes through with no PIN to read, a looser one reaches the PIN prompt (no
    // terminal here, so it says to use --pin-file) and, given the PIN, is saved.
    let per_site = |d: &Daemon| {
        json(d, &["status", "--json"])["fatigue"]["unapproved_per_site"]
            .as_u64()
            .unwrap()
    };
    let was = per_site(&d);
    let stricter = (was - 1).to_string();
    ok(&d, &["settings", "--prompts-per-site", &stricter]);
    assert_eq!(per_site(&d), was - 1);
    let looser = (was + 5).to_string();
    let err = fails(&d, &["settings", "--prompts-per-site", &looser]);
    assert!(err.contains("use --pin-file"), "{err}");
    assert_eq!(per_site(&d), was - 1, "refused without the PIN");
    ok(
        &d,
        &["settings", "--prompts-per-site", &looser, "--pin-file", pin],
    );
    assert_eq!(per_site(&d), was + 5);

    // The built-in test sign-in: two prompts (register, sign in) naming us, PIN typed by
    // the agent, signature verified by the daemon.
    let before = d.prompts().len();
    assert!(ok(&d, &["test-sign-in"]).starts_with("test sign-in passed"));
    let prompts = d.prompts();
    let ops: Vec<_> = prompts[before..]
        .iter()
        .map(|p| {
            (
                p["prompt"]["operation"].as_str().unwrap(),
                p["prompt"]["rp_id"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        ops,
        [
            ("register", "tpm-passkey.test"),
            ("sign_in", "tpm-passkey.test")
        ]
    );
    assert_eq!(
        prompts[before]["prompt"]["client_name"],
        "tpm-passkey test sign-in"
    );

    // Site rules: a blocked site is refused by the authenticator without a prompt;
    // lifting the block needs the PIN.
    assert!(ok(&d, &["sites"]).starts_with("no site rules"));
    ok(&d, &["site", "example.com", "block"]);
    ok(&d, &["site", "bank.example", "require-pin"]);
    let rules = json(&d, &["sites", "--json"]);
    assert_eq!(rules[0]["rp_id"], "bank.example");
    assert_eq!(rules[1]["rule"], "block");
    let prompts_before = d.prompts().len();
    let blocked = d.python("fido2_e2e.py", "register_only");
    assert!(!blocked.status.success(), "a blocked site must be refused");
    assert!(
        String::from_utf8_lossy(&blocked.stderr).contains("OPERATION_DENIED"),
        "{}",
        String::from_utf8_lossy(&blocked.stderr)
    );
    assert_eq!(
        d.prompts().len(),
        prompts_before,
        "no prompt for a blocked site"
    );
    let err = fails(&d, &["site", "example.com", "none", "--pin-file", wrong]);
    assert!(err.contains("wrong PIN"), "{err}");
    ok(&d, &["site", "example.com", "none", "--pin-file", pin]);
    let err = fails(&d, &["site", "not a site", "block"]);
    assert!(err.contains("not a site name"), "{err}");

    let audit = json(&d, &["audit", "--json"]);
    let events: Vec<&str> = audit
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["event"].as_str().unwrap())
        .collect();
    assert!(audit
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["outcome"] == "blocked_site"));
    for e in ["pin_set", "register", "delete", "config"] {
        assert!(events.contains(&e), "{e} missing from {events:?}");
    }
    assert!(audit
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["outcome"] == "wrong_pin"));
    assert!(ok(&d, &["audit"]).contains("register"));

    let err = fails(&d, &["reset"]);
    assert!(err.contains("--yes"), "{err}");
    ok(&d, &["reset", "--yes", "--pin-file", pin]);
    let s = json(&d, &["status", "--json"]);
    assert_eq!(
        (s["pin_set"].as_bool(), s["credentials"].as_u64()),
        (Some(false), Some(0))
    );
    // A forgotten PIN: the same erasure without it (docs/RECOVERY.md), audited as such.
    ok(&d, &["pin", "set", "--new-pin-file", pin]);
    assert_eq!(json(&d, &["status", "--json"])["pin_set"], true);
    let err = fails(&d, &["reset", "--forgotten-pin"]);
    assert!(err.contains("--yes"), "{err}");
    ok(&d, &["reset", "--forgotten-pin", "--yes"]);
    assert_eq!(json(&d, &["status", "--json"])["pin_set"], false);
    let audit = json(&d, &["audit", "--json"]);
    assert!(
        audit
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["event"] == "reset" && r["detail"] == "forgotten PIN"),
        "{audit}"
    );
    assert_eq!(PIN, "4711");
}

#[test]
fn a_stopped_daemon_is_a_clear_error() {
    let mut d = Daemon::start(Agent::None);
    d.stop();
    let err = fails(&d, &["status"]);
    assert!(err.contains("the daemon is not running"), "{err}");
}

/// A store made before the rebuild-proof PIN index (key-store state version 1, an
/// OWNERWRITE index): the daemon still opens it, nothing is rebound, and status says the
/// PIN's protection is the older, weaker kind and how to re-enrol.
#[test]
fn a_store_from_an_earlier_version_is_reported_as_legacy() {
    use tpm_passkey_core::{PinHash, SecretBytes, Store};
    use tpm_passkey_tpm::{RootSeed, Swtpm, Tpm};
    let tpm_dir = tempfile::tempdir().unwrap();
    let swtpm = Swtpm::start(&tpm_dir.path().join("tpm")).unwrap();
    let mut d = Daemon::start_on(swtpm.tcti().as_str(), Agent::None);
    d.stop();
    let path = d.state().join("store.sqlite");
    let mut store = Store::open(&path).unwrap();
    let v2 = store.secret("key_store_state").unwrap().unwrap();
    let mut seed = [0u8; 32];
    seed.copy_from_slice(&v2.expose_secret_bytes()[1..33]);
    let index = Tpm::open(&swtpm.tcti(), &RootSeed::from_bytes(seed), None)
        .unwrap()
        .define_legacy_pin_index(None, &PinHash::from_pin(PIN))
        .unwrap();
    let mut v1 = vec![1u8];
    v1.extend_from_slice(&seed);
    v1.extend_from_slice(&index.handle().to_be_bytes());
    // Written as an older version did, unsealed (the seal row goes below).
    store
        .write_sealed(tpm_passkey_core::SealWith::Nothing, |w| {
            w.set_secret("key_store_state", &SecretBytes::new(v1))
        })
        .unwrap();
    drop(store);
    // A store of that version had no rollback seal either.
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute("DELETE FROM seal", [])
        .unwrap();
    d.restart(Agent::None);
    let s = json(&d, &["status", "--json"]);
    assert_eq!(s["pin_protection"], "legacy", "{s}");
    assert_eq!(s["pin_set"], true);
    let text = ok(&d, &["status"]);
    assert!(text.contains("older, weaker"), "{text}");
    assert!(text.contains("tpm-passkey reset"), "{text}");
    // The old PIN still works there (nothing was rebound).
    let pin = d.dir.path().join("pin");
    ok(
        &d,
        &[
            "pin",
            "change",
            "--pin-file",
            pin.to_str().unwrap(),
            "--new-pin-file",
            pin.to_str().unwrap(),
        ],
    );
}

/// The store's rollback seal through the daemon: a store put back from an older copy is
/// refused at start with what happened and what to do; the person may accept it.
#[test]
fn a_restored_store_is_refused_until_the_person_accepts_it() {
    let mut d = Daemon::start(Agent::None);
    let pin = d.state().parent().unwrap().join("pin");
    let pin = pin.to_str().unwrap().to_owned();
    ok(&d, &["pin", "set", "--new-pin-file", &pin]);
    d.stop();
    let store = d.state().join("store.sqlite");
    let backup = std::fs::read(&store).unwrap();
    d.restart(Agent::None);
    ok(&d, &["settings", "--min-pin-length", "6"]);
    d.stop();
    std::fs::write(&store, &backup).unwrap();
    let _ = std::fs::remove_file(d.state().join("store.sqlite-wal"));
    let out = d.daemon_command(&[]).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("restored from a backup or rolled back")
            && err.contains("--accept-restored-store"),
        "{err}"
    );
    // The CLI (and the app) find no daemon, and say why its start failed.
    let why = fails(&d, &["status"]);
    assert!(
        why.contains("its last start failed") && why.contains("--accept-restored-store"),
        "{why}"
    );
    d.set_extra_args(&["--accept-restored-store"]);
    d.restart(Agent::None);
    assert!(!tpm_passkey_core::ipc::start_failure_path(&d.control()).exists());
    let audit = json(&d, &["audit", "--json"]);
    assert!(
        audit.as_array().unwrap().iter().any(|r| r["detail"]
            .as_str()
            .is_some_and(|t| t.contains("--accept-restored-store"))),
        "{audit}"
    );
    d.stop();
    d.set_extra_args(&[]);
    d.restart(Agent::None);
    assert_eq!(
        json(&d, &["status", "--json"])["min_pin_length"],
        4,
        "the copy's settings"
    );
}

/// The audit log's hash chain from the CLI: intact, then an entry edited in the file while
/// the daemon was stopped is named.
#[test]
fn audit_verify_names_the_first_altered_entry() {
    let mut d = Daemon::start(Agent::None);
    ok(&d, &["settings", "--min-pin-length", "6"]);
    ok(&d, &["settings", "--min-pin-length", "7"]);
    assert!(ok(&d, &["audit", "--verify"]).contains("the audit log verifies"));
    d.stop();
    let conn = rusqlite::Connection::open(d.state().join("store.sqlite")).unwrap();
    let seq: i64 = conn
        .query_row(
            "SELECT seq FROM audit WHERE detail LIKE '%minPINLength 6%'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    conn.execute(
        "UPDATE audit SET detail = 'alwaysUv on, minPINLength 4' WHERE seq = ?1",
        [seq],
    )
    .unwrap();
    drop(conn);
    d.restart(Agent::None);
    let err = fails(&d, &["audit", "--verify"]);
    assert!(err.contains(&format!("entry #{seq}")), "{err}");
    let v = d.cli(&["audit", "--verify", "--json"]);
    let j: serde_json::Value = serde_json::from_slice(&v.stdout).unwrap();
    assert_eq!(j["first_bad_seq"], seq);
}
