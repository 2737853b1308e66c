use super::*;
use crate::{AuditEvent, AuditKind, Outcome};
use tpm_passkey_wire::cose::P256Key;

fn cred(id: u8, rp: &str, user: u8, created: i64) -> Credential {
    Credential {
        id: vec![id; 32],
        rp_id: rp.into(),
        rp_name: Some("RP".into()),
        user_id: vec![user],
        user_name: Some("alice".into()),
        user_display_name: None,
        key_blob: vec![1, 2, 3],
        public_key: P256Key {
            x: [1; 32],
            y: [2; 32],
        },
        pin_bound: true,
        cred_protect: 2,
        hmac_secret: false,
        prf_in_key_store: true,
        cred_blob: None,
        large_blob_key: None,
        created,
        last_used: None,
        sign_count: 0,
    }
}

#[test]
fn credentials_round_trip_replace_and_order() {
    let s = Store::open_in_memory().unwrap();
    s.put_credential(&cred(1, "a.example", 1, 10)).unwrap();
    s.put_credential(&cred(2, "a.example", 2, 20)).unwrap();
    s.put_credential(&cred(3, "b.example", 1, 30)).unwrap();
    assert_eq!(
        s.credential(&[1; 32]).unwrap(),
        Some(cred(1, "a.example", 1, 10))
    );
    let ids: Vec<u8> = s
        .credentials_for_rp("a.example")
        .unwrap()
        .iter()
        .map(|c| c.id[0])
        .collect();
    assert_eq!(ids, vec![2, 1], "most recent first");
    // Same rp and user handle: the new credential replaces the old one.
    s.put_credential(&cred(4, "a.example", 1, 40)).unwrap();
    assert_eq!(s.credential(&[1; 32]).unwrap(), None);
    assert_eq!(s.credential_count().unwrap(), 3);
    assert_eq!(s.touch_credential(&[4; 32], 50).unwrap(), 1);
    assert_eq!(s.touch_credential(&[4; 32], 51).unwrap(), 2);
    assert!(s.delete_credential(&[4; 32]).unwrap());
    assert!(!s.delete_credential(&[4; 32]).unwrap());
}

#[test]
fn a_sealed_write_rolls_back_on_error() {
    let mut s = Store::open_in_memory().unwrap();
    s.put_credential(&cred(1, "a.example", 1, 10)).unwrap();
    let r: Result<(), StoreError> = s.write_sealed(SealWith::Nothing, |w| {
        w.erase()?;
        Err(StoreError::Malformed("boom"))
    });
    assert!(r.is_err());
    assert_eq!(
        s.credential_count().unwrap(),
        1,
        "nothing already stored is lost"
    );
}

#[test]
fn a_failed_replacement_keeps_the_old_credential() {
    let s = Store::open_in_memory().unwrap();
    s.put_credential(&cred(1, "a.example", 1, 10)).unwrap();
    s.put_credential(&cred(2, "b.example", 2, 10)).unwrap();
    // Same rp and user as credential 1, but the id of credential 2: the insert fails after
    // the delete, and the unit rolls back.
    assert!(s.put_credential(&cred(2, "a.example", 1, 20)).is_err());
    assert_eq!(
        s.credential(&[1; 32]).unwrap(),
        Some(cred(1, "a.example", 1, 10))
    );
    assert_eq!(s.credential_count().unwrap(), 2);
}

#[test]
fn file_store_survives_reopen_and_refuses_newer_schema() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.sqlite");
    {
        let s = Store::open(&path).unwrap();
        s.put_credential(&cred(1, "a.example", 1, 10)).unwrap();
        s.set_secret("x", &SecretBytes::new(vec![9; 4])).unwrap();
    }
    let s = Store::open(&path).unwrap();
    assert_eq!(s.credential_count().unwrap(), 1);
    assert_eq!(
        s.secret("x").unwrap().unwrap().expose_secret_bytes(),
        &[9; 4]
    );
    s.conn.pragma_update(None, "user_version", 99).unwrap();
    drop(s);
    assert!(matches!(
        Store::open(&path),
        Err(StoreError::TooNew { found: 99, .. })
    ));
}

#[test]
fn audit_chain_detects_edits() {
    let s = Store::open_in_memory().unwrap();
    s.append_audit(
        1,
        &AuditEvent::new(AuditKind::Register, Some("a.example"), Outcome::Ok),
    )
    .unwrap();
    s.append_audit(
        2,
        &AuditEvent::new(AuditKind::SignIn, Some("a.example"), Outcome::Denied),
    )
    .unwrap();
    s.append_audit(3, &AuditEvent::new(AuditKind::Reset, None, Outcome::Ok))
        .unwrap();
    assert!(s.verify_audit_chain().unwrap());
    let tail = s.audit_tail(2).unwrap();
    assert_eq!(tail.len(), 2);
    assert_eq!(tail[0].event, "sign_in");
    s.conn
        .execute("UPDATE audit SET outcome = 'ok' WHERE seq = 2", [])
        .unwrap();
    assert!(!s.verify_audit_chain().unwrap());
    assert_eq!(
        s.audit_chain_check().unwrap(),
        (3, Some(2)),
        "the edited entry is named"
    );
    // Removing an entry breaks the chain at the one after it.
    let s = Store::open_in_memory().unwrap();
    for t in 1..=3 {
        s.append_audit(t, &AuditEvent::new(AuditKind::Reset, None, Outcome::Ok))
            .unwrap();
    }
    assert_eq!(s.audit_chain_check().unwrap(), (3, None));
    s.conn
        .execute("DELETE FROM audit WHERE seq = 2", [])
        .unwrap();
    assert_eq!(s.audit_chain_check().unwrap(), (2, Some(3)));
}

#[test]
fn audit_client_is_recorded_and_chained() {
    let s = Store::open_in_memory().unwrap();
    s.append_audit(1, &AuditEvent::new(AuditKind::PinSet, None, Outcome::Ok))
        .unwrap();
    let mut e = AuditEvent::new(AuditKind::SignIn, Some("a.example"), Outcome::Ok);
    e.client = Some("firefox".into());
    s.append_audit(2, &e).unwrap();
    assert!(s.verify_audit_chain().unwrap());
    let tail = s.audit_tail(5).unwrap();
    assert_eq!(tail[0].client, None);
    assert_eq!(tail[1].client.as_deref(), Some("firefox"));
    // Naming another application breaks the chain, as any other edit does.
    s.conn
        .execute("UPDATE audit SET client = 'ssh' WHERE seq = 2", [])
        .unwrap();
    assert!(!s.verify_audit_chain().unwrap());
}
