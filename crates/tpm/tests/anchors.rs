//! Issue 21's attacks on a real TPM, as someone with the store *and* the TPM (a program
//! running as the user, or a thief who boots another OS; with the empty owner
//! authorization most machines have, and again with an owner password they know):
//!
//! * F4 — protections loosened on disk (alwaysUv off, a site block lifted), then resealed;
//! * F2 — an older copy of the store put back (a passkey deleted with the PIN is in it),
//!   then resealed;
//! * G2 — the audit index replaced by a fresh one the store is pointed at.
//!
//! Resealing needs no secret: the seal's MAC key has an empty authValue and the counter
//! steps through a public branch, so the attacker runs exactly the TPM commands
//! `Engine::accept_store` sends. Each attack is refused on an anchored enrolment, and works
//! (the control) on one made as before anchors (`set_pin_before_anchors`).
#![allow(clippy::unwrap_used)]
mod common;

use common::attacker::Attacker;
use common::Fixture;
use tpm_passkey_core::ipc::{Pin, PinProtection, SiteRule};
use tpm_passkey_core::{Approver, Engine, KeyStore, Prompt, Refusal, Store, StoreError};
use tpm_passkey_tpm::{OwnerAuth, PinHash, TpmKeyStore};
use tss_esapi::interface_types::{resource_handles::Provision, session_handles::AuthSession};

const OWNER_PASSWORDS: [Option<&[u8]>; 2] = [None, Some(b"it-department")];
const PIN: &str = "4711";

/// Approves every prompt, typing the PIN when asked.
struct Typist;
impl Approver for Typist {
    fn ask(&mut self, p: &Prompt) -> Result<Option<PinHash>, Refusal> {
        Ok(p.pin_required.then(|| PinHash::from_pin(PIN)))
    }
}

type E = Engine<TpmKeyStore, Typist>;

struct Install {
    f: Fixture,
    path: std::path::PathBuf,
    owner: Option<OwnerAuth>,
}

impl Install {
    fn new(pw: Option<&[u8]>) -> Self {
        let f = Fixture::new();
        if let Some(pw) = pw {
            let mut a = Attacker::connect(f.swtpm.tcti().as_str(), None);
            a.ctx
                .execute_with_nullauth_session(|c| {
                    c.hierarchy_change_auth(
                        tss_esapi::handles::AuthHandle::Owner,
                        tss_esapi::structures::Auth::try_from(pw.to_vec())?,
                    )
                })
                .unwrap();
        }
        let path = f.dir.path().join("store.sqlite");
        Install {
            f,
            path,
            owner: pw.map(|p| OwnerAuth::new(p.to_vec())),
        }
    }

    fn keys(&self, store: &Store) -> TpmKeyStore {
        let state = E::saved_key_store_state(store).unwrap();
        TpmKeyStore::open(&self.f.swtpm.tcti(), self.owner.as_ref(), state.as_ref()).unwrap()
    }

    fn open(&self) -> Result<E, StoreError> {
        let store = Store::open(&self.path).unwrap();
        let keys = self.keys(&store);
        Engine::new(keys, Typist, store)
    }

    /// A PIN (anchored, or as before anchors), a blocked site, and two passkeys made with
    /// built-in UV (so the PIN was typed after the block: it is anchored).
    fn enrol(&self, anchored: bool) {
        let store = Store::open(&self.path).unwrap();
        let mut keys = self.keys(&store);
        if !anchored {
            keys.set_pin_before_anchors(&PinHash::from_pin(PIN))
                .unwrap();
        }
        let mut e = Engine::new(keys, Typist, store).unwrap();
        if anchored {
            e.set_pin_local(&Pin::new(PIN.into())).unwrap();
        }
        assert_eq!(
            e.keys_mut().pin_protection(),
            if anchored {
                PinProtection::Anchored
            } else {
                PinProtection::Sealed
            }
        );
        // Settings saved (alwaysUv on, as by default), and a site blocked: tightenings.
        e.set_settings_local(Some(true), None, None).unwrap();
        e.set_site_rule_local("evil.example", Some(SiteRule::Block), None)
            .unwrap();
        for (rp, user) in [("bank.example", 1u8), ("mail.example", 2)] {
            let r = e.process(&make_credential(rp, user));
            assert_eq!(r[0], 0, "makeCredential: 0x{:02x}", r[0]);
        }
    }

    /// The attacker's reseal of the store as it is now.
    fn reseal(&self) {
        let mut store = Store::open(&self.path).unwrap();
        let mut keys = self.keys(&store);
        E::accept_store(&mut keys, &mut store).unwrap();
    }

    fn db(&self) -> rusqlite::Connection {
        rusqlite::Connection::open(&self.path).unwrap()
    }
}

/// makeCredential (rk, uv) for `rp`, as a CTAP 2.1 platform sends it.
fn make_credential(rp: &str, user: u8) -> Vec<u8> {
    use ciborium::value::Value;
    let m = Value::Map(vec![
        (Value::from(1), Value::Bytes(vec![7; 32])),
        (
            Value::from(2),
            Value::Map(vec![(Value::from("id"), Value::from(rp))]),
        ),
        (
            Value::from(3),
            Value::Map(vec![
                (Value::from("id"), Value::Bytes(vec![user])),
                (Value::from("name"), Value::from(format!("user{user}"))),
            ]),
        ),
        (
            Value::from(4),
            Value::Array(vec![Value::Map(vec![
                (Value::from("alg"), Value::from(-7)),
                (Value::from("type"), Value::from("public-key")),
            ])]),
        ),
        (
            Value::from(7),
            Value::Map(vec![
                (Value::from("rk"), Value::Bool(true)),
                (Value::from("uv"), Value::Bool(true)),
            ]),
        ),
    ]);
    let mut out = vec![0x01];
    ciborium::ser::into_writer(&m, &mut out).unwrap();
    out
}

#[test]
fn f4_protections_loosened_on_disk_and_resealed_are_refused() {
    for pw in OWNER_PASSWORDS {
        for anchored in [true, false] {
            let i = Install::new(pw);
            i.enrol(anchored);
            let db = i.db();
            let edited = db.execute(
                "UPDATE settings SET value = replace(value, '\"always_uv\":true', '\"always_uv\":false') WHERE key = 'settings'",
                [],
            )
            .unwrap();
            assert_eq!(edited, 1);
            db.execute("DELETE FROM site_rules", []).unwrap();
            drop(db);
            i.reseal();
            match (anchored, i.open()) {
                (true, Err(StoreError::Loosened(what))) => {
                    assert!(what.contains("alwaysUv was turned off"), "{what}");
                    assert!(what.contains("evil.example"), "{what}");
                }
                (true, Err(other)) => panic!("{other}"),
                (true, Ok(_)) => panic!("owner {pw:?}: a store loosened on disk was served"),
                // Control: as before anchors, the attack works.
                (false, Ok(e)) => assert!(!e.settings().always_uv),
                (false, Err(e)) => panic!("control: {e}"),
            }
        }
    }
}

#[test]
fn f2_an_older_store_put_back_and_resealed_is_refused() {
    for pw in OWNER_PASSWORDS {
        for anchored in [true, false] {
            let i = Install::new(pw);
            i.enrol(anchored);
            let backup = std::fs::read(&i.path).unwrap();
            let mut e = i.open().unwrap();
            let id = e
                .passkeys(None)
                .unwrap()
                .into_iter()
                .find(|p| p.rp_id == "bank.example")
                .unwrap()
                .id;
            e.delete_passkey(&id, Some(&Pin::new(PIN.into()))).unwrap();
            drop(e);
            std::fs::write(&i.path, &backup).unwrap();
            for ext in ["-wal", "-shm"] {
                let _ = std::fs::remove_file(i.path.with_extension(format!("sqlite{ext}")));
            }
            i.reseal();
            match (anchored, i.open()) {
                (true, Err(StoreError::PinChangesRolledBack { store, tpm })) => {
                    assert!(store < tpm)
                }
                (true, Err(other)) => panic!("{other}"),
                (true, Ok(_)) => panic!("owner {pw:?}: a rolled-back store was served"),
                (false, Ok(mut e)) => assert!(
                    e.passkeys(None)
                        .unwrap()
                        .iter()
                        .any(|p| p.rp_id == "bank.example"),
                    "control: the deleted passkey is back"
                ),
                (false, Err(e)) => panic!("control: {e}"),
            }
        }
    }
}

#[test]
fn g2_an_audit_index_the_enrolment_does_not_name_fails_the_verification() {
    for pw in OWNER_PASSWORDS {
        for anchored in [true, false] {
            let i = Install::new(pw);
            i.enrol(anchored);
            let mut e = i.open().unwrap();
            assert!(e.checkpoint_audit());
            let v = e.audit_verify().unwrap();
            assert_eq!(v.problem, None, "{v:?}");
            let handle = e.keys_mut().audit_handle().unwrap();
            drop(e);
            // The owner deletes the audit index, and the store is pointed at a fresh one
            // (the daemon's own acceptance path makes it: the TPM commands are the same).
            let mut a = Attacker::connect(i.f.swtpm.tcti().as_str(), pw);
            let nv = a.nv(handle);
            a.ctx
                .execute_with_session(Some(AuthSession::Password), |c| {
                    c.nv_undefine_space(Provision::Owner, nv)
                })
                .unwrap();
            drop(a);
            let mut store = Store::open(&i.path).unwrap();
            let mut keys = i.keys(&store);
            keys.renew_lost_indexes().unwrap();
            assert_ne!(keys.audit_handle(), None);
            E::accept_store(&mut keys, &mut store).unwrap();
            drop((keys, store));
            let mut e = i.open().unwrap();
            // A checkpoint into the fresh index (one is made at the next entry).
            e.audit(tpm_passkey_core::AuditEvent::new(
                tpm_passkey_core::AuditKind::Config,
                None,
                tpm_passkey_core::Outcome::Ok,
            ));
            assert!(e.checkpoint_audit());
            let v = e.audit_verify().unwrap();
            if anchored {
                let problem = v
                    .problem
                    .unwrap_or_else(|| panic!("owner {pw:?}: not caught"));
                assert!(
                    problem.contains("not the one the PIN enrolment vouches for"),
                    "{problem}"
                );
            } else {
                assert_eq!(v.problem, None, "control: the substitute passes: {v:?}");
            }
        }
    }
}
