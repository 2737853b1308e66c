//! The anti-rollback seal, played as whoever restores an old copy of the store, edits it, or
//! pulls the plug between a change and its counter step. The store is a file (so that a
//! copy can be put back) and the key store's counter is the software one.

use crate::harness::{platform::*, *};
use tpm_passkey_core::ipc::{Pin, SiteRule};
use tpm_passkey_core::{Sealing, Store, StoreError};

fn register(e: &mut TestEngine, rp: &str, user: u8) -> Vec<u8> {
    let r = call(e, 0x01, Some(mc(rp, user, true, vec![]))).unwrap();
    check_attestation(&r).0
}

fn pin() -> Pin {
    Pin::new("1234".into())
}

#[test]
fn every_change_is_sealed_and_the_next_start_accepts_it() {
    let mut i = Install::new(SoftKeys::with_counter());
    let mut e = i.start().unwrap();
    set_pin(&mut e, 2, "1234").unwrap();
    type Step = Box<dyn FnMut(&mut TestEngine)>;
    let mut steps: Vec<(&str, Step)> = vec![
        (
            "register",
            Box::new(|e| {
                register(e, "a.example", 1);
                register(e, "b.example", 2);
            }),
        ),
        (
            "settings",
            Box::new(|e| e.set_settings_local(None, Some(6), None).unwrap()),
        ),
        (
            "site rule",
            Box::new(|e| {
                e.set_site_rule_local("evil.example", Some(SiteRule::Block), None)
                    .unwrap()
            }),
        ),
        (
            "delete",
            Box::new(|e| {
                let id = e.passkeys(None).unwrap()[0].id.clone();
                e.delete_passkey(&id, Some(&pin())).unwrap();
            }),
        ),
        ("reset", Box::new(|e| e.reset_local(Some(&pin())).unwrap())),
    ];
    for (what, step) in steps.iter_mut() {
        step(&mut e);
        i.stop(e);
        e = i
            .start()
            .unwrap_or_else(|err| panic!("after {what}: {err}"));
    }
    // The counter and the seal agree, and each change moved them.
    let (value, _) = e.store().seal().unwrap().unwrap();
    assert_eq!(e.keys_mut().seal_counter().unwrap(), Some(value));
    assert!(value >= 41 + 6, "{value}");
}

#[test]
fn a_restored_backup_is_refused_and_a_deleted_passkey_does_not_come_back() {
    let mut i = Install::new(SoftKeys::with_counter());
    let mut e = i.start().unwrap();
    set_pin(&mut e, 2, "1234").unwrap();
    register(&mut e, "a.example", 1);
    let stolen = register(&mut e, "bank.example", 2);
    i.stop(e);
    let backup = i.backup();
    // The person deletes the bank passkey (say, the laptop's old owner had it).
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
    // Someone puts the old file back.
    i.restore(&backup);
    match i.start() {
        Err(StoreError::RolledBack { store, tpm }) => assert!(store < tpm),
        Err(other) => panic!("{other}"),
        Ok(_) => panic!("a rolled-back store was accepted"),
    }
    // Nothing was written to it: still refused, and still holding the old credential,
    // which nobody can use through tpm-passkey.
    let store = Store::open(&i.path()).unwrap();
    assert!(store.credential(&stolen).unwrap().is_some());
}

#[test]
fn an_edited_store_is_refused() {
    for edit in [
        "UPDATE credentials SET rp_id = 'evil.example'",
        "DELETE FROM site_rules",
        "UPDATE settings SET value = replace(value, '\"always_uv\":true', '\"always_uv\":false')",
        "DELETE FROM credentials",
    ] {
        let mut i = Install::new(SoftKeys::with_counter());
        let mut e = i.start().unwrap();
        set_pin(&mut e, 2, "1234").unwrap();
        register(&mut e, "a.example", 1);
        e.set_site_rule_local("evil.example", Some(SiteRule::Block), None)
            .unwrap();
        i.stop(e);
        let conn = rusqlite::Connection::open(i.path()).unwrap();
        assert!(conn.execute(edit, []).unwrap() > 0, "{edit}");
        drop(conn);
        match i.start() {
            Err(StoreError::SealBroken(_)) => {}
            Err(other) => panic!("{edit}: {other}"),
            Ok(_) => panic!("{edit}: an edited store was accepted"),
        }
    }
}

/// A file-only attacker who restores a backup (or edits the store) and deletes the seal row
/// as well, so that the store looks as if it had never been sealed, is refused: the store
/// records the counter, so it must carry a seal. Control: a store whose saved key-store
/// state does not name the counter (one from before the seal) is taken as unsealed.
#[test]
fn a_restored_backup_without_its_seal_row_is_refused() {
    let mut i = Install::new(SoftKeys::with_counter());
    let mut e = i.start().unwrap();
    set_pin(&mut e, 2, "1234").unwrap();
    register(&mut e, "bank.example", 2);
    i.stop(e);
    let backup = i.backup();
    let mut e = i.start().unwrap();
    let id = e.passkeys(None).unwrap()[0].id.clone();
    e.delete_passkey(&id, Some(&pin())).unwrap();
    i.stop(e);
    i.restore(&backup);
    let conn = rusqlite::Connection::open(i.path()).unwrap();
    assert_eq!(conn.execute("DELETE FROM seal", []).unwrap(), 1);
    drop(conn);
    match i.start() {
        Err(StoreError::SealBroken(why)) => assert!(why.contains("missing"), "{why}"),
        Err(other) => panic!("{other}"),
        Ok(_) => panic!("a rolled-back store with its seal row deleted was accepted"),
    }
    // Control: a store without a seal row whose key-store state is not the one holding the
    // counter (as one saved before the seal existed) opens as unsealed, and is sealed.
    let mut i = Install::new(SoftKeys::with_counter());
    let mut e = i.start().unwrap();
    set_pin(&mut e, 2, "1234").unwrap();
    register(&mut e, "bank.example", 2);
    i.stop(e);
    let conn = rusqlite::Connection::open(i.path()).unwrap();
    conn.execute("DELETE FROM seal", []).unwrap();
    conn.execute("DELETE FROM secrets WHERE name = 'key_store_state'", [])
        .unwrap();
    drop(conn);
    let e = i.start().expect("a store from before the seal opens");
    assert!(e.store().seal().unwrap().is_some(), "and is sealed at once");
}

#[test]
fn sign_ins_do_not_move_the_counter() {
    let mut i = Install::new(SoftKeys::with_counter());
    let mut e = i.start().unwrap();
    set_pin(&mut e, 2, "1234").unwrap();
    let id = register(&mut e, "a.example", 1);
    let before = e.keys_mut().seal_counter().unwrap();
    for _ in 0..5 {
        call(&mut e, 0x02, Some(ga("a.example", &[&id], vec![]))).unwrap();
    }
    assert_eq!(e.keys_mut().seal_counter().unwrap(), before);
    i.stop(e);
    i.start().unwrap();
}

#[test]
fn a_crash_between_the_commit_and_the_counter_step_is_finished_at_the_next_start() {
    let mut i = Install::new(SoftKeys::with_counter());
    let mut e = i.start().unwrap();
    set_pin(&mut e, 2, "1234").unwrap();
    let before = e.keys_mut().seal_counter().unwrap().unwrap();
    // A change that steps at once, whose step fails (the device went away after the commit).
    e.keys_mut().fail_next_advance = true;
    e.set_site_rule_local("evil.example", Some(SiteRule::Block), None)
        .unwrap();
    // Committed, sealed one ahead, counter not stepped.
    assert_eq!(e.keys_mut().seal_counter().unwrap(), Some(before));
    assert_eq!(e.store().seal().unwrap().unwrap().0, before + 1);
    i.stop(e);
    let mut e = i.start().unwrap();
    assert_eq!(e.keys_mut().seal_counter().unwrap(), Some(before + 1));
    // A registration, whose step waits for an idle moment, and a stop before it came.
    register(&mut e, "a.example", 1);
    assert_eq!(e.store().seal().unwrap().unwrap().0, before + 2);
    i.stop(e);
    let mut e = i.start().unwrap();
    assert_eq!(e.keys_mut().seal_counter().unwrap(), Some(before + 2));
    assert_eq!(e.passkeys(None).unwrap().len(), 1);
    assert_eq!(e.site_rules().unwrap().len(), 1);
}

/// The counter step is owed after a change, not taken in its answer (issue 22), and taken
/// when the engine is idle — or before the next change, whichever comes first.
#[test]
fn the_counter_step_waits_for_an_idle_moment_or_the_next_change() {
    let mut i = Install::new(SoftKeys::with_counter());
    let mut e = i.start().unwrap();
    assert!(e.do_idle_work());
    set_pin(&mut e, 2, "1234").unwrap();
    let before = e.keys_mut().seal_counter().unwrap().unwrap();
    register(&mut e, "a.example", 1);
    assert!(e.counter_step_owed());
    assert_eq!(e.keys_mut().seal_counter().unwrap(), Some(before));
    // The next change takes it first, then owes its own.
    register(&mut e, "b.example", 2);
    assert_eq!(e.keys_mut().seal_counter().unwrap(), Some(before + 1));
    assert!(e.idle_work_due());
    assert!(e.do_idle_work());
    assert!(!e.idle_work_due());
    assert_eq!(e.keys_mut().seal_counter().unwrap(), Some(before + 2));
    assert_eq!(e.store().seal().unwrap().unwrap().0, before + 2);
}

/// Anyone with the TPM may advance the counter. When the engine's own step reads it back
/// higher than its seal, it seals the store again at the counter's value, so that the next
/// start does not take the store for a rolled-back one. (Without that re-seal, the start
/// refuses it: the control is the same scenario's store with its seal one behind.)
#[test]
fn a_counter_another_program_advanced_is_sealed_at_its_value() {
    let mut i = Install::new(SoftKeys::with_counter());
    let mut e = i.start().unwrap();
    set_pin(&mut e, 2, "1234").unwrap();
    register(&mut e, "a.example", 1);
    // Another program steps the counter while our step is owed.
    e.keys_mut().advance_seal_counter().unwrap();
    assert!(e.do_idle_work());
    let counter = e.keys_mut().seal_counter().unwrap().unwrap();
    assert_eq!(e.store().seal().unwrap().unwrap().0, counter);
    i.stop(e);
    let mut e = i
        .start()
        .expect("sealed at the counter's value, the store opens");
    assert_eq!(e.passkeys(None).unwrap().len(), 1);
    // Control: the same again, but the other program steps the counter after our step: the
    // seal is one behind and the start refuses the store.
    e.keys_mut().advance_seal_counter().unwrap();
    i.stop(e);
    assert!(matches!(i.start(), Err(StoreError::RolledBack { .. })));
}

#[test]
fn a_crash_before_the_commit_leaves_the_old_store_and_counter() {
    let mut i = Install::new(SoftKeys::with_counter());
    let mut e = i.start().unwrap();
    set_pin(&mut e, 2, "1234").unwrap();
    register(&mut e, "a.example", 1);
    // The registration's counter step, taken once idle.
    assert!(e.do_idle_work());
    let before = e.keys_mut().seal_counter().unwrap();
    // The seal cannot be computed (the device went away mid-change): the change is rolled
    // back with it, and the client told.
    e.keys_mut().fail_next_mac = true;
    assert!(call(&mut e, 0x01, Some(mc("b.example", 2, true, vec![]))).is_err());
    assert_eq!(e.passkeys(None).unwrap().len(), 1);
    assert_eq!(e.keys_mut().seal_counter().unwrap(), before);
    i.stop(e);
    let mut e = i.start().unwrap();
    assert_eq!(e.passkeys(None).unwrap().len(), 1);
}

#[test]
fn the_person_may_accept_a_store_they_restored_on_purpose() {
    let mut i = Install::new(SoftKeys::with_counter());
    let mut e = i.start().unwrap();
    set_pin(&mut e, 2, "1234").unwrap();
    register(&mut e, "a.example", 1);
    i.stop(e);
    let backup = i.backup();
    let mut e = i.start().unwrap();
    register(&mut e, "b.example", 2);
    // Its counter step, as the daemon takes it once idle (or at shutdown).
    assert!(e.do_idle_work());
    i.stop(e);
    i.restore(&backup);
    assert!(matches!(i.start(), Err(StoreError::RolledBack { .. })));
    // (start() took the key store; a refused start hands nothing back.)
    i.keys = Some(SoftKeys::with_counter());
    i.keys().counter = Some(1000);
    let mut store = Store::open(&i.path()).unwrap();
    TestEngine::accept_store(i.keys.as_mut().unwrap(), &mut store).unwrap();
    drop(store);
    let mut e = i.start().unwrap();
    assert_eq!(e.passkeys(None).unwrap().len(), 1);
}
