//! The protection statement (issue 21), played as someone who has the store *and* the
//! device: they edit or roll back the store and reseal it (the seal's MAC key needs no PIN),
//! but cannot sign a statement without the PIN. Each attack has its control: the same
//! attack on an install without an anchored enrolment, where it works.

use crate::harness::{platform::*, *};
use tpm_passkey_core::ipc::{Pin, SiteRule};
use tpm_passkey_core::{Store, StoreError};

fn pin() -> Pin {
    Pin::new("1234".into())
}

fn register(e: &mut TestEngine, rp: &str, user: u8) -> Vec<u8> {
    let r = call(e, 0x01, Some(mc(rp, user, true, vec![]))).unwrap();
    check_attestation(&r).0
}

/// An install with a PIN, two passkeys and a blocked site, stopped.
fn enrolled(keys: SoftKeys) -> Install {
    let mut i = Install::new(keys);
    let mut e = i.start().unwrap();
    set_pin(&mut e, 2, "1234").unwrap();
    e.set_site_rule_local("evil.example", Some(SiteRule::Block), None)
        .unwrap();
    // The registrations type the PIN (built-in UV): the block is anchored from then on.
    register(&mut e, "bank.example", 1);
    register(&mut e, "mail.example", 2);
    i.stop(e);
    i
}

/// What the attacker with the device does after editing: reseal the store as it is.
fn reseal(i: &mut Install) {
    let mut store = Store::open(&i.path()).unwrap();
    TestEngine::accept_store(i.keys(), &mut store).unwrap();
}

/// F4: alwaysUv turned off and a site block lifted by editing the store, then resealed.
#[test]
fn loosening_on_disk_without_the_pin_is_refused_naming_what_changed() {
    let mut i = enrolled(SoftKeys::with_anchor());
    let db = i.db();
    db.execute(
        "UPDATE settings SET value = replace(value, '\"always_uv\":true', '\"always_uv\":false') WHERE key = 'settings'",
        [],
    )
    .unwrap();
    db.execute("DELETE FROM site_rules", []).unwrap();
    drop(db);
    reseal(&mut i);
    match i.start() {
        Err(StoreError::Loosened(what)) => {
            assert!(what.contains("alwaysUv was turned off"), "{what}");
            assert!(
                what.contains("the block rule for evil.example was lifted"),
                "{what}"
            );
        }
        Err(other) => panic!("{other}"),
        Ok(_) => panic!("a store loosened without the PIN was accepted"),
    }
    // Accepting it needs the PIN; with it, the store is taken as it is.
    let mut store = Store::open(&i.path()).unwrap();
    let wrong = tpm_passkey_core::PinHash::from_pin("0000");
    assert!(TestEngine::accept_protections(i.keys(), &mut store, &wrong).is_err());
    let right = tpm_passkey_core::PinHash::from_pin("1234");
    TestEngine::accept_protections(i.keys(), &mut store, &right).unwrap();
    TestEngine::accept_store(i.keys(), &mut store).unwrap();
    drop(store);
    let e = i.start().expect("accepted with the PIN");
    assert!(!e.settings().always_uv);
}

#[test]
fn control_without_an_anchored_enrolment_the_same_edit_is_served() {
    let mut i = enrolled(SoftKeys::with_audit());
    let db = i.db();
    db.execute(
        "UPDATE settings SET value = replace(value, '\"always_uv\":true', '\"always_uv\":false') WHERE key = 'settings'",
        [],
    )
    .unwrap();
    db.execute("DELETE FROM site_rules", []).unwrap();
    drop(db);
    reseal(&mut i);
    let e = i.start().expect("the attack works without the anchor");
    assert!(!e.settings().always_uv);
}

/// F2: an older copy put back and resealed would bring back a passkey deleted with the PIN.
#[test]
fn an_older_store_put_back_and_resealed_is_refused() {
    for anchored in [true, false] {
        let keys = if anchored {
            SoftKeys::with_anchor()
        } else {
            SoftKeys::with_audit()
        };
        let mut i = enrolled(keys);
        let backup = i.backup();
        let mut e = i.start().unwrap();
        let id = e
            .passkeys(None)
            .unwrap()
            .into_iter()
            .find(|p| p.rp_id == "bank.example")
            .unwrap()
            .id;
        e.delete_passkey(&id, Some(&pin())).unwrap();
        i.stop(e);
        i.restore(&backup);
        reseal(&mut i);
        match (anchored, i.start()) {
            (true, Err(StoreError::PinChangesRolledBack { store, tpm })) => assert!(store < tpm),
            (true, Err(other)) => panic!("{other}"),
            (true, Ok(_)) => panic!("a rolled-back store was accepted"),
            // Control: without the anchor the deleted passkey is back.
            (false, Ok(mut e)) => assert!(e
                .passkeys(None)
                .unwrap()
                .iter()
                .any(|p| p.rp_id == "bank.example")),
            (false, Err(other)) => panic!("control: {other}"),
        }
    }
}

/// The deleted passkey's row put back into the current store (its statement is current):
/// the statement lists it as deleted with the PIN.
#[test]
fn a_passkey_deleted_with_the_pin_put_back_is_refused() {
    let mut i = enrolled(SoftKeys::with_anchor());
    let row: Vec<(String, Vec<u8>)> = {
        let db = i.db();
        let mut st = db
            .prepare("SELECT rp_id, id FROM credentials WHERE rp_id = 'bank.example'")
            .unwrap();
        st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    };
    let backup = i.backup();
    let mut e = i.start().unwrap();
    let hex: String = row[0].1.iter().map(|b| format!("{b:02x}")).collect();
    e.delete_passkey(&hex, Some(&pin())).unwrap();
    i.stop(e);
    // Copy the row from the backup into the current store.
    let old = std::env::temp_dir().join(format!("anchors-{}.sqlite", std::process::id()));
    std::fs::write(&old, &backup).unwrap();
    let db = i.db();
    db.execute_batch(&format!(
        "ATTACH DATABASE '{}' AS old; INSERT INTO credentials SELECT * FROM old.credentials WHERE rp_id = 'bank.example'; DETACH DATABASE old;",
        old.display()
    ))
    .unwrap();
    drop(db);
    let _ = std::fs::remove_file(&old);
    reseal(&mut i);
    match i.start() {
        Err(StoreError::Loosened(what)) => {
            assert!(what.contains("bank.example"), "{what}");
            assert!(what.contains("deleted with the PIN, is back"), "{what}");
        }
        Err(other) => panic!("{other}"),
        Ok(_) => panic!("a passkey deleted with the PIN came back"),
    }
}

#[test]
fn an_edited_or_missing_statement_is_refused() {
    let mut i = enrolled(SoftKeys::with_anchor());
    let db = i.db();
    db.execute(
        "UPDATE settings SET value = replace(value, '\"always_uv\":true', '\"always_uv\":false') WHERE key = 'protections'",
        [],
    )
    .unwrap();
    drop(db);
    reseal(&mut i);
    assert!(matches!(i.start(), Err(StoreError::SealBroken(w)) if w.contains("does not verify")));
    let db = i.db();
    db.execute("DELETE FROM settings WHERE key = 'protections'", [])
        .unwrap();
    drop(db);
    reseal(&mut i);
    assert!(matches!(i.start(), Err(StoreError::SealBroken(w)) if w.contains("missing")));
}

/// What the PIN loosens is kept across restarts; a crash between a statement's commit and
/// its counter step is finished at the next start.
#[test]
fn changes_with_the_pin_hold_across_restarts_and_a_crash_before_the_step() {
    let mut i = enrolled(SoftKeys::with_anchor());
    let mut e = i.start().unwrap();
    e.set_site_rule_local("evil.example", None, Some(&pin()))
        .unwrap();
    e.keys_mut().fail_next_epoch = true;
    e.set_settings_local(Some(false), None, Some(&pin()))
        .unwrap();
    i.stop(e);
    let e = i.start().expect("one ahead: the step is finished");
    assert!(!e.settings().always_uv);
    i.stop(e);
    i.start().expect("and again");
}

/// A tightening needs no PIN and writes no statement: until the PIN is next typed, it can
/// be undone on disk down to the last statement (the limit docs/THREAT-MODEL.md states).
/// Once the PIN is typed for a sign-in, the tightening is anchored too.
#[test]
fn a_tightening_is_anchored_the_next_time_the_pin_is_typed() {
    let mut i = enrolled(SoftKeys::with_anchor());
    let mut e = i.start().unwrap();
    e.set_site_rule_local("phish.example", Some(SiteRule::Block), None)
        .unwrap();
    i.stop(e);
    let undo = |i: &mut Install| {
        let db = i.db();
        db.execute("DELETE FROM site_rules WHERE rp_id = 'phish.example'", [])
            .unwrap();
        drop(db);
        reseal(i);
    };
    let before = i.backup();
    undo(&mut i);
    let e = i.start().expect("the limit: not anchored yet");
    i.stop(e);
    // Put the tightened store back, and type the PIN (a sign-in with built-in UV).
    i.restore(&before);
    reseal(&mut i);
    let mut e = i.start().unwrap();
    let id = e.passkeys(None).unwrap()[0].id.clone();
    let id = tpm_passkey_core::hex::decode(&id).unwrap();
    call(&mut e, 0x02, Some(ga("bank.example", &[&id], vec![]))).unwrap();
    i.stop(e);
    undo(&mut i);
    match i.start() {
        Err(StoreError::Loosened(what)) => assert!(what.contains("phish.example"), "{what}"),
        Err(other) => panic!("{other}"),
        Ok(_) => panic!("an anchored tightening was undone"),
    }
}

/// G2's core: an audit index other than the one the enrolment names makes `audit verify`
/// fail, whatever its statements say.
#[test]
fn an_audit_index_the_enrolment_does_not_name_fails_the_verification() {
    let mut i = enrolled(SoftKeys::with_anchor());
    let mut e = i.start().unwrap();
    assert!(e.audit_verify().unwrap().problem.is_none());
    e.keys_mut().renew_audit_index();
    let v = e.audit_verify().unwrap();
    let problem = v.problem.expect("caught");
    assert!(
        problem.contains("not the one the PIN enrolment vouches for"),
        "{problem}"
    );
    assert_eq!(v.checkpoints_verified, 0);
}
