//! The audit log's TPM checkpoints through the real daemon on its own swtpm (docs/DESIGN.md
//! "Audit checkpoints"): `audit verify` vouches for the log, an export is accepted by an
//! independent verifier (tests/python/verify_audit_export.py) with the key pinned and
//! refused when tampered with, the daemon checkpoints at shutdown, and a same-user program
//! that rewrites the store with the whole hash chain recomputed is caught and the first
//! rewritten entry named.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::process::Command;

use common::{Agent, Daemon};

/// Runs the independent verifier on an export written to `file`.
fn independent_verifier(file: &Path, extra: &[&str]) -> (bool, String) {
    let script =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/python/verify_audit_export.py");
    let out = Command::new("python3")
        .arg(script)
        .arg(file)
        .args(extra)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn the_tpm_vouches_for_the_log_and_a_rewrite_with_recomputed_hashes_is_caught() {
    let mut d = Daemon::start(Agent::None);
    // Enough audited changes for two periodic checkpoints (16 entries each), at a person's
    // pace: the daemon makes a checkpoint once it has been idle a moment after the batch.
    for len in 5..50 {
        d.ok(&["settings", "--min-pin-length", &len.to_string()]);
        if len % 8 == 0 {
            std::thread::sleep(std::time::Duration::from_millis(600));
        }
    }
    let v: serde_json::Value = serde_json::from_str(&d.ok(&["audit", "verify", "--json"])).unwrap();
    assert_eq!(v["first_bad_seq"], serde_json::Value::Null, "{v}");
    assert_eq!(v["tpm_checked"], true, "{v}");
    assert!(v["checkpoints_verified"].as_u64().unwrap() >= 2, "{v}");

    // The export, checked elsewhere with the key and index pinned and the verifier's nonce.
    let nonce = "ab".repeat(32);
    let export = d.ok(&["audit", "export", "--json", "--nonce", &nonce]);
    let j: serde_json::Value = serde_json::from_str(&export).unwrap();
    let key = j["attestation_key"].as_str().unwrap().to_owned();
    let name = j["audit_index_name"].as_str().unwrap().to_owned();
    let file = d.dir.path().join("export.json");
    std::fs::write(&file, &export).unwrap();
    let pins = ["--key", &key, "--index-name", &name, "--nonce", &nonce];
    let (good, out) = independent_verifier(&file, &pins);
    assert!(good, "{out}");
    // Tampered with: an entry changed (the verifier recomputes the chain itself)...
    let mut t = j.clone();
    t["entries"][20]["detail"] = "minPINLength 4".into();
    std::fs::write(&file, t.to_string()).unwrap();
    let (good, out) = independent_verifier(&file, &pins);
    assert!(!good && out.contains("entry 21"), "{out}");
    // ...the last checkpoint left out...
    let mut t = j.clone();
    t["checkpoints"].as_array_mut().unwrap().pop();
    std::fs::write(&file, t.to_string()).unwrap();
    let (good, out) = independent_verifier(&file, &pins);
    assert!(!good && out.contains("statement now"), "{out}");
    // ...or another nonce.
    std::fs::write(&file, &export).unwrap();
    let other = "cd".repeat(32);
    let (good, _) = independent_verifier(&file, &["--key", &key, "--nonce", &other]);
    assert!(!good);

    // Shutdown checkpoints the last entries.
    d.stop();
    let db = rusqlite::Connection::open(d.state().join("store.sqlite")).unwrap();
    let (last_entry, last_checkpoint): (i64, i64) = db
        .query_row(
            "SELECT (SELECT max(seq) FROM audit), (SELECT max(seq) FROM audit_checkpoints)",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(last_checkpoint, last_entry);

    // A same-user program rewrites an entry and recomputes every hash.
    let target: i64 = db
        .query_row(
            "SELECT seq FROM audit WHERE detail LIKE '%minPINLength 30%'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    db.execute(
        "UPDATE audit SET detail = 'minPINLength 4' WHERE seq = ?1",
        [target],
    )
    .unwrap();
    tpm_passkey_testkit::recompute_audit_chain(&db);
    drop(db);
    d.restart(Agent::None);
    let out = d.cli(&["audit", "verify", "--json"]);
    assert!(!out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let bad = v["first_bad_seq"].as_i64().unwrap();
    let vouched = v["vouched_through"].as_i64().unwrap_or(0);
    // Named: the first entry the TPM no longer vouches for, at or before the rewrite.
    assert_eq!(bad, vouched + 1, "{v}");
    assert!(bad <= target && target - bad < 16, "{v}");
    assert!(v["problem"].as_str().unwrap().contains("rewritten"), "{v}");
}

/// The TPM's owner deletes the audit index (an empty owner password lets any program of
/// the user's do that): `audit verify` says the TPM cannot vouch any more, the person
/// accepts the store, a new index starts an epoch, and the log verifies again with a notice.
#[test]
fn an_audit_index_deleted_by_the_owner_is_reported_and_made_anew_on_acceptance() {
    use std::str::FromStr;
    use tss_esapi::{
        constants::{CapabilityType, NvIndexType},
        handles::TpmHandle,
        interface_types::{resource_handles::Provision, session_handles::AuthSession},
        structures::CapabilityData,
        tcti_ldr::TctiNameConf,
        Context,
    };

    let dir = tempfile::tempdir().unwrap();
    let swtpm = tpm_passkey_tpm::Swtpm::start(&dir.path().join("tpm")).unwrap();
    let tcti = swtpm.tcti().as_str().to_owned();
    let mut d = Daemon::start_on(&tcti, Agent::None);
    for len in 5..25 {
        d.ok(&["settings", "--min-pin-length", &len.to_string()]);
    }
    d.stop();

    // The attacker, as the owner: finds the extend index and undefines it.
    let mut ctx = Context::new(TctiNameConf::from_str(&tcti).unwrap()).unwrap();
    let (data, _) = ctx
        .get_capability(CapabilityType::Handles, 0x0100_0000, 64)
        .unwrap();
    let CapabilityData::Handles(handles) = data else {
        panic!("no handle list");
    };
    let mut deleted = 0;
    for h in handles.into_inner() {
        let TpmHandle::NvIndex(nv) = h else { continue };
        let obj = ctx.tr_from_tpm_public(TpmHandle::NvIndex(nv)).unwrap();
        let (public, _) = ctx.nv_read_public(obj.into()).unwrap();
        if public.attributes().index_type().unwrap() == NvIndexType::Extend {
            ctx.execute_with_session(Some(AuthSession::Password), |c| {
                c.nv_undefine_space(Provision::Owner, obj.into())
            })
            .unwrap();
            deleted += 1;
        }
    }
    assert_eq!(deleted, 1, "one audit index");
    drop(ctx);

    d.restart(Agent::None);
    let out = d.cli(&["audit", "verify", "--json"]);
    assert!(!out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["first_bad_seq"], serde_json::Value::Null, "{v}");
    assert!(
        v["problem"].as_str().unwrap().contains("cannot vouch"),
        "{v}"
    );
    d.stop();
    d.set_extra_args(&["--accept-restored-store"]);
    d.restart(Agent::None);
    d.ok(&["settings", "--min-pin-length", "30"]);
    d.stop();
    d.set_extra_args(&[]);
    d.restart(Agent::None);
    let v: serde_json::Value = serde_json::from_str(&d.ok(&["audit", "verify", "--json"])).unwrap();
    assert_eq!(v["tpm_checked"], true, "{v}");
    assert!(v["notice"].as_str().unwrap().contains("made anew"), "{v}");
}
