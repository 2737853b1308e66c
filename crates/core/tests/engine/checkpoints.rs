//! The audit log's TPM-certified checkpoints, played as a same-user program that rewrites
//! the log — with every hash recomputed, so that the hash chain alone holds — or removes its
//! latest entries, or forges or extends; and as a crash between a checkpoint's steps. The
//! key store's audit index and attestation key are the software ones (same statement
//! format as the TPM's; the TPM's own are attacked in crates/tpm/tests/audit_index.rs).

use crate::harness::*;
use rusqlite::Connection;
use tpm_passkey_core::{AuditEvent, AuditKind, Outcome, CHECKPOINT_EVERY};

/// `n` denials for `rp`, each checkpointed when due, as the daemon does after each request.
fn log_denials(e: &mut TestEngine, rp: &str, n: u32) {
    for _ in 0..n {
        e.audit(AuditEvent::new(
            AuditKind::SignIn,
            Some(rp),
            Outcome::Denied,
        ));
        e.checkpoint_if_due();
    }
}

/// Rewrites every denial of `rp` as an approval and recomputes the whole chain.
fn rewrite_denials_as_approvals(db: &Connection, rp: &str) {
    db.execute(
        "UPDATE audit SET outcome = 'ok' WHERE rp_id = ?1 AND outcome = 'denied'",
        [rp],
    )
    .unwrap();
    tpm_passkey_testkit::recompute_audit_chain(db);
}

#[test]
fn checkpoints_come_every_n_entries_and_at_shutdown_and_the_log_verifies() {
    let mut i = Install::new(SoftKeys::with_audit());
    let mut e = i.start().unwrap();
    log_denials(&mut e, "a.example", 2 * CHECKPOINT_EVERY + 3);
    let v = e.audit_verify().unwrap();
    assert_eq!(v.checkpoints, 2, "{v:?}");
    assert_eq!(v.first_bad_seq, None, "{v:?}");
    assert!(v.tpm_checked);
    assert_eq!(v.vouched_through, Some(i64::from(2 * CHECKPOINT_EVERY)));
    // Shutdown: the last entries get theirs.
    assert!(e.checkpoint_audit());
    assert!(!e.checkpoint_audit(), "nothing new: no second checkpoint");
    let v = e.audit_verify().unwrap();
    assert_eq!((v.checkpoints, v.checkpoints_verified), (3, 3));
    assert_eq!(v.vouched_through, Some(v.entries as i64));
    i.stop(e);
    // A restart keeps counting from the store.
    let mut e = i.start().unwrap();
    log_denials(&mut e, "a.example", CHECKPOINT_EVERY);
    assert_eq!(e.audit_verify().unwrap().checkpoints, 4);
}

#[test]
fn a_rewritten_log_with_every_hash_recomputed_is_caught_and_named() {
    let mut i = Install::new(SoftKeys::with_audit());
    let mut e = i.start().unwrap();
    log_denials(&mut e, "a.example", CHECKPOINT_EVERY);
    // The denials to hide: entries CHECKPOINT_EVERY+1 .. 2*CHECKPOINT_EVERY.
    log_denials(&mut e, "evil.example", CHECKPOINT_EVERY);
    log_denials(&mut e, "a.example", CHECKPOINT_EVERY);
    e.checkpoint_audit();
    i.stop(e);
    rewrite_denials_as_approvals(&i.db(), "evil.example");
    let mut e = i.start().unwrap();
    // The hash chain alone is fooled: that is why the checkpoints exist.
    assert_eq!(e.store().audit_chain_check().unwrap().1, None);
    let v = e.audit_verify().unwrap();
    let first_rewritten = i64::from(CHECKPOINT_EVERY) + 1;
    assert_eq!(v.first_bad_seq, Some(first_rewritten), "{v:?}");
    assert_eq!(v.vouched_through, Some(i64::from(CHECKPOINT_EVERY)));
    assert!(v.problem.unwrap().contains("rewritten"));
}

#[test]
fn rewriting_the_checkpoints_too_does_not_help() {
    let mut i = Install::new(SoftKeys::with_audit());
    let mut e = i.start().unwrap();
    log_denials(&mut e, "evil.example", 2 * CHECKPOINT_EVERY);
    i.stop(e);
    let db = i.db();
    rewrite_denials_as_approvals(&db, "evil.example");
    // The attacker also moves the checkpoints' heads onto the rewritten chain.
    db.execute(
        "UPDATE audit_checkpoints SET head = (SELECT hash FROM audit WHERE audit.seq = audit_checkpoints.seq)",
        [],
    )
    .unwrap();
    let mut e = i.start().unwrap();
    let v = e.audit_verify().unwrap();
    assert_eq!(v.first_bad_seq, Some(1), "{v:?}");
    assert_eq!(v.checkpoints_verified, 0);
}

#[test]
fn removing_the_latest_entries_with_their_checkpoint_is_caught() {
    let mut i = Install::new(SoftKeys::with_audit());
    let mut e = i.start().unwrap();
    log_denials(&mut e, "a.example", CHECKPOINT_EVERY);
    log_denials(&mut e, "evil.example", CHECKPOINT_EVERY);
    i.stop(e);
    let db = i.db();
    let cut = i64::from(CHECKPOINT_EVERY);
    db.execute("DELETE FROM audit WHERE seq > ?1", [cut])
        .unwrap();
    db.execute("DELETE FROM audit_checkpoints WHERE seq > ?1", [cut])
        .unwrap();
    let mut e = i.start().unwrap();
    let v = e.audit_verify().unwrap();
    assert_eq!(v.checkpoints_verified, 1);
    assert_eq!(v.first_bad_seq, Some(cut + 1), "{v:?}");
    assert!(v.problem.unwrap().contains("ahead"));
    assert!(!v.tpm_checked);
}

#[test]
fn a_statement_signed_by_another_key_or_about_another_value_is_refused() {
    let mut i = Install::new(SoftKeys::with_audit());
    let mut e = i.start().unwrap();
    log_denials(&mut e, "a.example", 2 * CHECKPOINT_EVERY);
    i.stop(e);
    let db = i.db();
    // A signature by a key of the attacker's own over the real statement.
    let attest: Vec<u8> = db
        .query_row(
            "SELECT attest FROM audit_checkpoints ORDER BY seq DESC LIMIT 1",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let other = p256::ecdsa::SigningKey::from_slice(&[7; 32]).unwrap();
    let sig: p256::ecdsa::Signature = p256::ecdsa::signature::Signer::sign(&other, &attest);
    db.execute(
        "UPDATE audit_checkpoints SET signature = ?1 WHERE seq = ?2",
        rusqlite::params![sig.to_der().as_bytes(), i64::from(2 * CHECKPOINT_EVERY)],
    )
    .unwrap();
    let mut e = i.start().unwrap();
    let v = e.audit_verify().unwrap();
    assert_eq!(v.checkpoints_verified, 1);
    assert_eq!(v.first_bad_seq, Some(i64::from(CHECKPOINT_EVERY) + 1));
    assert!(v.problem.unwrap().contains("not a valid TPM statement"));
}

#[test]
fn another_program_extending_the_index_is_reported() {
    let mut i = Install::new(SoftKeys::with_audit());
    let mut e = i.start().unwrap();
    log_denials(&mut e, "a.example", CHECKPOINT_EVERY);
    e.keys_mut().extend_audit(&[9; 32]);
    let v = e.audit_verify().unwrap();
    assert!(v.first_bad_seq.is_some());
    assert!(!v.tpm_checked);
}

#[test]
fn a_tpm_that_cannot_vouch_now_is_reported_not_taken_for_tampering() {
    let mut i = Install::new(SoftKeys::with_audit());
    let mut e = i.start().unwrap();
    log_denials(&mut e, "a.example", CHECKPOINT_EVERY + 2);
    e.keys_mut().audit_unreachable = true;
    let v = e.audit_verify().unwrap();
    assert_eq!(v.first_bad_seq, None, "{v:?}");
    assert_eq!(v.checkpoints_verified, 1);
    assert!(!v.tpm_checked);
    assert!(v.problem.unwrap().contains("cannot vouch"));
}

#[test]
fn a_checkpoint_the_tpm_could_not_finish_is_finished_before_the_next_one() {
    let mut i = Install::new(SoftKeys::with_audit());
    let mut e = i.start().unwrap();
    log_denials(&mut e, "a.example", CHECKPOINT_EVERY - 1);
    // The TPM goes away after extending, and stays away for the next batch.
    e.keys_mut().fail_after_next_extend = true;
    log_denials(&mut e, "a.example", 1);
    e.keys_mut().audit_unreachable = true;
    log_denials(&mut e, "a.example", CHECKPOINT_EVERY);
    e.keys_mut().audit_unreachable = false;
    log_denials(&mut e, "a.example", 1);
    let v = e.audit_verify().unwrap();
    assert_eq!(v.first_bad_seq, None, "{v:?}");
    assert_eq!((v.checkpoints, v.checkpoints_verified), (2, 2), "{v:?}");
    assert!(v.tpm_checked);
}

#[test]
fn an_index_made_anew_starts_an_epoch_noticed_but_not_a_fault() {
    let mut i = Install::new(SoftKeys::with_audit());
    let mut e = i.start().unwrap();
    log_denials(&mut e, "a.example", CHECKPOINT_EVERY);
    // The index is lost (the owner deleted it): a checkpoint is left unfinished...
    e.keys_mut().audit_unreachable = true;
    log_denials(&mut e, "a.example", CHECKPOINT_EVERY);
    let v = e.audit_verify().unwrap();
    assert!(v.problem.unwrap().contains("cannot vouch"));
    // ...until the person accepts the store and a new index is made: the unfinished one is
    // dropped (the new index never had it) and checkpoints go on under the new index.
    e.keys_mut().renew_audit_index();
    log_denials(&mut e, "a.example", CHECKPOINT_EVERY);
    let v = e.audit_verify().unwrap();
    assert_eq!(v.first_bad_seq, None, "{v:?}");
    assert_eq!(v.problem, None, "{v:?}");
    assert_eq!((v.checkpoints, v.checkpoints_verified), (2, 2), "{v:?}");
    assert!(v.tpm_checked);
    assert!(v.notice.unwrap().contains("made anew"));
    // Rewriting what the earlier index vouched for is still caught: the new checkpoint's
    // chain head covers every entry before it.
    i.stop(e);
    rewrite_denials_as_approvals(&i.db(), "a.example");
    let mut e = i.start().unwrap();
    assert_eq!(e.audit_verify().unwrap().first_bad_seq, Some(1));
}

#[test]
fn checkpoints_of_a_replaced_tpm_are_noticed_and_a_garbled_one_of_this_tpm_is_not_excused() {
    let mut i = Install::new(SoftKeys::with_audit());
    let mut e = i.start().unwrap();
    log_denials(&mut e, "a.example", 2 * CHECKPOINT_EVERY);
    e.keys_mut().replace_tpm();
    log_denials(&mut e, "a.example", CHECKPOINT_EVERY);
    let v = e.audit_verify().unwrap();
    assert_eq!(v.first_bad_seq, None, "{v:?}");
    assert_eq!((v.checkpoints, v.checkpoints_verified), (3, 1), "{v:?}");
    assert!(v.tpm_checked);
    assert!(v.notice.unwrap().contains("earlier TPM"));
    // Without a replacement, a first checkpoint whose signature was garbled is not taken
    // for an earlier TPM's: the index still holds its message, so the replay fails.
    let mut i = Install::new(SoftKeys::with_audit());
    let mut e = i.start().unwrap();
    log_denials(&mut e, "a.example", 2 * CHECKPOINT_EVERY);
    i.stop(e);
    let other = p256::ecdsa::SigningKey::from_slice(&[9; 32]).unwrap();
    let db = i.db();
    let attest: Vec<u8> = db
        .query_row(
            "SELECT attest FROM audit_checkpoints ORDER BY seq LIMIT 1",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let sig: p256::ecdsa::Signature = p256::ecdsa::signature::Signer::sign(&other, &attest);
    db.execute(
        "UPDATE audit_checkpoints SET signature = ?1 WHERE seq = ?2",
        rusqlite::params![sig.to_der().as_bytes(), i64::from(CHECKPOINT_EVERY)],
    )
    .unwrap();
    let mut e = i.start().unwrap();
    let v = e.audit_verify().unwrap();
    assert!(v.first_bad_seq.is_some(), "{v:?}");
}

#[test]
fn a_crash_after_the_extend_is_finished_and_one_before_it_is_dropped() {
    // After the extend, before the statement was stored.
    let mut i = Install::new(SoftKeys::with_audit());
    let mut e = i.start().unwrap();
    log_denials(&mut e, "a.example", CHECKPOINT_EVERY - 1);
    e.keys_mut().fail_after_next_extend = true;
    log_denials(&mut e, "a.example", 1);
    i.stop(e);
    let pending: i64 = i
        .db()
        .query_row(
            "SELECT count(*) FROM audit_checkpoints WHERE length(attest) = 0",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(pending, 1, "the crash left a row without a statement");
    let mut e = i.start().unwrap();
    let v = e.audit_verify().unwrap();
    assert_eq!((v.checkpoints, v.checkpoints_verified), (1, 1), "{v:?}");
    assert!(v.tpm_checked);
    i.stop(e);

    // Before the extend: the row was written, the index never moved.
    i.db()
        .execute(
            "INSERT INTO audit_checkpoints (seq, head, counter, attest, signature) VALUES (999, x'00', 0, x'', x'')",
            [],
        )
        .unwrap();
    let mut e = i.start().unwrap();
    let v = e.audit_verify().unwrap();
    assert_eq!((v.checkpoints, v.checkpoints_verified), (1, 1), "{v:?}");
    assert_eq!(v.first_bad_seq, None);
}

#[test]
fn without_an_audit_index_the_log_still_verifies_by_its_chain() {
    let mut e = engine();
    e.audit(AuditEvent::new(AuditKind::Config, None, Outcome::Ok));
    assert!(!e.checkpoint_audit());
    let v = e.audit_verify().unwrap();
    assert_eq!((v.entries, v.checkpoints, v.tpm_checked), (1, 0, false));
    assert_eq!(v.first_bad_seq, None);
}
