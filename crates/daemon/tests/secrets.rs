//! Secrets never leak. One test runs every path a secret takes — PINs (right, wrong, new),
//! pinHash, pinUvAuthTokens of both protocols, hmac-secret outputs, the key store's root
//! seed, the install secret and every key blob — through the daemon logging at `trace`,
//! the CLI (its errors included), the scripted agent and python-fido2, then scans every log
//! line and every output for each secret in every form a log could carry it (raw, hex,
//! base64, a Debug list of bytes). Another checks that a same-user process cannot read the
//! daemon's memory (it is non-dumpable).
#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::process::Command;

use common::{Agent, Daemon};

const PIN: &str = "Q7v-leak-PIN-2207";
const NEW_PIN: &str = "R8w-leak-NEW-3318";
const WRONG_PIN: &str = "S9x-leak-BAD-4429";

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn base64(b: &[u8], alphabet: &[u8; 64]) -> String {
    let mut out = String::new();
    for chunk in b.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, x)| n | u32::from(*x) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            out.push(alphabet[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
    }
    out
}

const STD: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const URL: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// The ways a log line could spell `secret`: a distinctive prefix of each form is enough.
fn forms(secret: &[u8]) -> Vec<String> {
    let head = &secret[..secret.len().min(12)];
    let mut f = vec![
        hex(head),
        hex(head).to_uppercase(),
        // Base64 of the start, cut to whole characters not affected by what follows.
        base64(head, STD)[..12].to_owned(),
        base64(head, URL)[..12].to_owned(),
        format!(
            "[{}",
            head[..6]
                .iter()
                .map(u8::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    ];
    if let Ok(s) = std::str::from_utf8(secret) {
        f.push(s.to_owned());
    }
    f
}

fn pin_hash(pin: &str) -> Vec<u8> {
    use sha2::Digest;
    sha2::Sha256::digest(pin.as_bytes())[..16].to_vec()
}

fn secrets_in_store(path: &Path) -> Vec<(String, Vec<u8>)> {
    let db = rusqlite::Connection::open(path).unwrap();
    let mut out = Vec::new();
    let mut st = db.prepare("SELECT name, value FROM secrets").unwrap();
    for row in st
        .query_map([], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, Vec<u8>>(1)?))
        })
        .unwrap()
    {
        let (name, value) = row.unwrap();
        if name == "key_store_state" {
            // version ‖ root seed (32) ‖ …: the seed is the secret.
            out.push(("root seed".into(), value[1..33].to_vec()));
        } else {
            out.push((name, value));
        }
    }
    let mut st = db.prepare("SELECT key_blob FROM credentials").unwrap();
    for blob in st.query_map([], |r| r.get::<_, Vec<u8>>(0)).unwrap() {
        let blob = blob.unwrap();
        // The wrapped private area is the tail of the blob (the public area is public).
        out.push(("key blob".into(), blob[blob.len() - 48..].to_vec()));
    }
    out
}

#[test]
fn no_secret_reaches_any_log_or_output_at_trace_level() {
    // The CLI and the agent (children of this test) log at trace level too.
    std::env::set_var("TPM_PASSKEY_LOG", "trace");
    let mut d = Daemon::start_logging("trace");
    std::fs::write(d.dir.path().join("pin"), format!("{PIN}\n")).unwrap();
    d.spawn_agent(Agent::ApproveAll);
    let out_file = d.dir.path().join("seen");
    let python = Command::new("python3")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/python/fido2_e2e.py"))
        .arg("leak_probe")
        .env("TPM_PASSKEY_HID", d.hid())
        .env("TPM_PASSKEY_PIN", PIN)
        .env("TPM_PASSKEY_NEW_PIN", NEW_PIN)
        .env("TPM_PASSKEY_WRONG_PIN", WRONG_PIN)
        .env("TPM_PASSKEY_OUT", &out_file)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .unwrap();
    assert!(
        python.status.success(),
        "{}\n{}\n{}",
        String::from_utf8_lossy(&python.stdout),
        String::from_utf8_lossy(&python.stderr),
        d.log()
    );

    // The CLI, its refusals included: a wrong PIN, a PIN that breaks the policy.
    let f = |name: &str, pin: &str| {
        let p = d.dir.path().join(name);
        std::fs::write(&p, format!("{pin}\n")).unwrap();
        p.to_str().unwrap().to_owned()
    };
    let (new, wrong) = (f("new", NEW_PIN), f("wrong", WRONG_PIN));
    let mut outputs = Vec::new();
    for args in [
        vec![
            "pin",
            "change",
            "--pin-file",
            &wrong,
            "--new-pin-file",
            &new,
        ],
        vec!["pin", "change", "--pin-file", &new, "--new-pin-file", &new],
        vec!["settings", "--always-uv", "off", "--pin-file", &wrong],
        vec!["settings", "--always-uv", "off", "--pin-file", &new],
        vec!["status"],
        vec!["list"],
        vec!["audit", "--json"],
        vec!["reset", "--yes", "--pin-file", &wrong],
    ] {
        let o = d.cli(&args);
        outputs.push((args.join(" "), o.stdout, o.stderr));
    }
    let store = d.state().join("store.sqlite");
    d.stop();

    let mut secrets: Vec<(String, Vec<u8>)> = vec![
        ("PIN".into(), PIN.as_bytes().to_vec()),
        ("new PIN".into(), NEW_PIN.as_bytes().to_vec()),
        ("wrong PIN".into(), WRONG_PIN.as_bytes().to_vec()),
        ("pinHash".into(), pin_hash(PIN)),
        ("new pinHash".into(), pin_hash(NEW_PIN)),
        ("wrong pinHash".into(), pin_hash(WRONG_PIN)),
    ];
    for (i, line) in std::fs::read_to_string(&out_file)
        .unwrap()
        .lines()
        .enumerate()
    {
        let bytes = (0..line.len())
            .step_by(2)
            .map(|j| u8::from_str_radix(&line[j..j + 2], 16).unwrap())
            .collect();
        secrets.push((format!("token or PRF output {i}"), bytes));
    }
    secrets.extend(secrets_in_store(&store));
    assert!(secrets.len() >= 12, "{secrets:?}");

    let mut texts = vec![
        ("daemon log".to_owned(), d.log()),
        (
            "agent output".to_owned(),
            std::fs::read_to_string(d.dir.path().join("agent.jsonl")).unwrap_or_default(),
        ),
        (
            "python stderr".to_owned(),
            String::from_utf8_lossy(&python.stderr).into_owned(),
        ),
    ];
    for (what, stdout, stderr) in outputs {
        texts.push((
            format!("`{what}` stdout"),
            String::from_utf8_lossy(&stdout).into_owned(),
        ));
        texts.push((
            format!("`{what}` stderr"),
            String::from_utf8_lossy(&stderr).into_owned(),
        ));
    }
    assert!(
        texts[0].1.contains(" DEBUG ") && texts[0].1.contains("CTAP2 request"),
        "trace logging was on"
    );
    for (name, secret) in &secrets {
        for form in forms(secret) {
            for (what, text) in &texts {
                assert!(
                    !text.contains(&form),
                    "{name} appears in the {what} as {form:?}"
                );
            }
        }
    }
}

/// A same-user process must not read the daemon's memory (PIN hashes, tokens, the root
/// seed live there): the daemon makes itself non-dumpable, so /proc/PID/mem is closed to
/// it. Run as an unprivileged user (root could read anything); a dumpable child of the same
/// attacker shows the attack itself works.
#[test]
fn a_same_user_process_cannot_read_the_daemons_memory() {
    if !rustix::process::geteuid().is_root() {
        eprintln!("skipped: needs root to drop to an unprivileged user for the attack");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(
        dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o777),
    )
    .unwrap();
    let script = r#"
import os, subprocess, sys, time
d = sys.argv[2]
def can_read(pid):
    try:
        with open(f"/proc/{pid}/mem", "rb") as m:
            m.seek(int(open(f"/proc/{pid}/maps").readline().split("-")[0], 16))
            m.read(16)
        return True
    except OSError:
        return False
daemon = subprocess.Popen([sys.argv[1], "daemon", "--simulator", "--state-dir", d + "/state",
    "--control", d + "/control.sock", "--hid", "socket:" + d + "/hid.sock"],
    stderr=subprocess.PIPE, text=True)
log = []
for line in daemon.stderr:
    log.append(line)
    if "tpm-passkey: ready" in line:
        break
if daemon.poll() is not None or not log or "ready" not in log[-1]:
    sys.exit("the daemon did not start: " + "".join(log))
control = subprocess.Popen(["sleep", "30"])
print("daemon", can_read(daemon.pid), "control", can_read(control.pid))
daemon.terminate(); control.kill(); daemon.wait()
"#;
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .arg("/usr/bin/python3")
        .arg("-c")
        .arg(script)
        .arg(env!("CARGO_BIN_EXE_tpm-passkey"))
        .arg(dir.path())
        .env("HOME", dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        stdout.trim(),
        "daemon False control True",
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
