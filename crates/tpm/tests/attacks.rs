//! The PIN against the TPM owner and anyone who has the store file (docs/THREAT-MODEL.md).
//!
//! Each test plays the attacker with raw tss-esapi calls ([`common::attacker`]) on a real
//! swtpm whose owner password is empty (most machines) — and again with one set by IT,
//! which this attacker (the owner) knows. The legacy index (OWNERWRITE) is attacked the
//! same way as a control: there the same attack code succeeds, so a green run is not an
//! attack that could never have worked.
#![allow(clippy::unwrap_used)]
mod common;

use common::attacker::{Attacker, Loot};
use common::Fixture;
use tpm_passkey_core::{Approver, Engine, KeyStore, Prompt, Refusal, Store};
use tpm_passkey_tpm::{Error, KeyAuth, PinHash, Tpm, TpmKeyStore, PIN_LIMIT};
use tss_esapi::{
    constants::response_code::Tss2ResponseCodeKind as Kind, handles::AuthHandle,
    interface_types::resource_handles::Hierarchy, structures::Auth,
};

const OWNER_PASSWORDS: [Option<&[u8]>; 2] = [None, Some(b"it-department")];

fn kind(e: &tss_esapi::Error) -> Option<Kind> {
    match e {
        tss_esapi::Error::Tss2Error(rc) => rc.kind(),
        _ => None,
    }
}

fn set_owner_password(f: &Fixture, pw: Option<&[u8]>) {
    if let Some(pw) = pw {
        let mut a = Attacker::connect(f.swtpm.tcti().as_str(), None);
        a.ctx
            .execute_with_nullauth_session(|c| {
                c.hierarchy_change_auth(AuthHandle::Owner, Auth::try_from(pw.to_vec())?)
            })
            .unwrap();
        let _ = Hierarchy::Owner;
    }
}

fn owner_auth(pw: Option<&[u8]>) -> Option<tpm_passkey_tpm::OwnerAuth> {
    pw.map(|p| tpm_passkey_tpm::OwnerAuth::new(p.to_vec()))
}

fn tpm(f: &Fixture, pw: Option<&[u8]>) -> Tpm {
    Tpm::open(
        &f.swtpm.tcti(),
        &tpm_passkey_tpm::RootSeed::from_bytes(f.seed),
        owner_auth(pw).as_ref(),
    )
    .unwrap()
}

#[test]
fn the_owner_cannot_rewrite_the_retry_counter() {
    for pw in OWNER_PASSWORDS {
        let f = Fixture::new();
        set_owner_password(&f, pw);
        let pin = PinHash::from_pin("4711");
        let handle = {
            let mut t = tpm(&f, pw);
            t.define_pin_index(None, &pin).unwrap().handle()
        };
        let mut a = Attacker::connect(f.swtpm.tcti().as_str(), pw);
        a.guess(handle, b"wrong").unwrap_err();
        assert_eq!(a.counter(handle), (1, PIN_LIMIT));
        // {pinCount 0, pinLimit 0xFFFFFFFF}: unlimited guesses, if the TPM took it.
        let e = a.owner_write_counter(handle, 0, u32::MAX).unwrap_err();
        assert_eq!(kind(&e), Some(Kind::NvAuthorization), "{e}");
        assert_eq!(
            a.counter(handle),
            (1, PIN_LIMIT),
            "the counter is untouched"
        );
    }
}

#[test]
fn control_a_legacy_index_counter_is_rewritten_by_the_owner() {
    let f = Fixture::new();
    let handle = tpm(&f, None)
        .define_legacy_pin_index(None, &PinHash::from_pin("4711"))
        .unwrap()
        .handle();
    let mut a = Attacker::connect(f.swtpm.tcti().as_str(), None);
    a.guess(handle, b"wrong").unwrap_err();
    a.owner_write_counter(handle, 0, u32::MAX).unwrap();
    assert_eq!(
        a.counter(handle),
        (0, u32::MAX),
        "the attack works on the old index"
    );
}

#[test]
fn nobody_can_rebuild_an_index_with_the_same_name() {
    for pw in OWNER_PASSWORDS {
        let f = Fixture::new();
        set_owner_password(&f, pw);
        let pin = PinHash::from_pin("4711");
        let (index, key) = {
            let mut t = tpm(&f, pw);
            let i = t.define_pin_index(None, &pin).unwrap();
            let k = t.create_key(Some(&i)).unwrap();
            (i, k)
        };
        let mut a = Attacker::connect(f.swtpm.tcti().as_str(), pw);
        let nv = a.nv(index.handle());
        let (_, name_before) = a.read_public(nv);
        let attacker_pin = PinHash::from_pin("0000");
        let rebuilt = a
            .rebuild(index.handle(), attacker_pin.expose_secret_bytes())
            .unwrap();
        let (public, name_after) = a.read_public(rebuilt);
        assert!(!public.attributes().written());
        assert_ne!(
            name_before, name_after,
            "an unwritten index has another Name"
        );
        // It cannot be written: not by the owner...
        let e = a
            .owner_write_counter(index.handle(), 0, PIN_LIMIT)
            .unwrap_err();
        assert_eq!(kind(&e), Some(Kind::NvAuthorization), "{e}");
        // ...and its authValue is not usable until it is written.
        let e = a
            .guess(index.handle(), attacker_pin.expose_secret_bytes())
            .unwrap_err();
        assert_eq!(kind(&e), Some(Kind::AuthUnavailable), "{e}");
        // tpm-passkey refuses it, and the old key does not sign with the attacker's PIN.
        let mut t = tpm(&f, pw);
        let e = t.open_pin_index(&index).unwrap_err();
        assert!(matches!(e, Error::PinIndexMismatch { .. }), "{e}");
        let digest = common::digest(b"forged assertion");
        let e = t
            .sign(&key.blob, &digest, KeyAuth::pin(&index, &attacker_pin))
            .unwrap_err();
        assert!(!matches!(e, Error::PinRequired), "refused by the TPM: {e}");
        assert!(t
            .sign(&key.blob, &digest, KeyAuth::pin(&index, &pin))
            .is_err());
    }
}

#[test]
fn control_a_legacy_index_is_rebuilt_with_the_same_name() {
    let f = Fixture::new();
    let pin = PinHash::from_pin("4711");
    let (index, key) = {
        let mut t = tpm(&f, None);
        let i = t.define_legacy_pin_index(None, &pin).unwrap();
        let k = t.create_key(Some(&i)).unwrap();
        (i, k)
    };
    let mut a = Attacker::connect(f.swtpm.tcti().as_str(), None);
    let attacker_pin = PinHash::from_pin("0000");
    a.rebuild(index.handle(), attacker_pin.expose_secret_bytes())
        .unwrap();
    a.owner_write_counter(index.handle(), 0, PIN_LIMIT).unwrap();
    let mut t = tpm(&f, None);
    assert_eq!(t.open_pin_index(&index).unwrap().name(), index.name());
    t.sign(
        &key.blob,
        &common::digest(b"forged"),
        KeyAuth::pin(&index, &attacker_pin),
    )
    .expect("the attack works on the old index: same Name, the attacker's PIN");
}

#[test]
fn at_most_eight_guesses_by_any_path() {
    for pw in OWNER_PASSWORDS {
        let f = Fixture::new();
        set_owner_password(&f, pw);
        let pin = PinHash::from_pin("4711");
        let index = tpm(&f, pw).define_pin_index(None, &pin).unwrap();
        let h = index.handle();
        let mut a = Attacker::connect(f.swtpm.tcti().as_str(), pw);
        let mut tried = 0;
        for n in 0..100u32 {
            let guess = PinHash::from_pin(&format!("{n:04}"));
            match a.guess(h, guess.expose_secret_bytes()) {
                Err(e) if kind(&e) == Some(Kind::AuthUnavailable) => break,
                Err(_) => tried += 1,
                Ok(()) => panic!("a wrong guess was accepted"),
            }
        }
        assert_eq!(tried, PIN_LIMIT, "the TPM took exactly pinLimit guesses");
        // The right PIN no longer works on any path: PolicySecret...
        let e = a.guess(h, pin.expose_secret_bytes()).unwrap_err();
        assert_eq!(kind(&e), Some(Kind::AuthUnavailable), "{e}");
        // ...nor NV_ChangeAuth through PolicyAuthValue (not a branch of this index)...
        a.change_auth_with_auth_value(h, pin.expose_secret_bytes(), b"mine")
            .unwrap_err();
        // ...nor tpm-passkey's own change path, whose approved policy needs PolicySecret.
        let mut t = tpm(&f, pw);
        let e = t
            .change_pin(&index, &pin, &PinHash::from_pin("9999"))
            .unwrap_err();
        assert!(matches!(e, Error::PinBlocked), "{e}");
        // And the owner cannot give the retries back.
        a.owner_write_counter(h, 0, PIN_LIMIT).unwrap_err();
        assert_eq!(t.pin_retries(&index).unwrap().remaining, 0);
    }
}

/// Why the index has no PolicyCommandCode(NV_ChangeAuth) ∧ PolicyAuthValue branch: the TPM
/// checks pinCount < pinLimit only for a non-policy authorization (libtpms
/// `IsAuthValueAvailable`); through a policy session the right PIN is accepted past the
/// limit and the counter goes back to 0. The legacy index has exactly that branch.
#[test]
fn control_an_auth_value_branch_is_an_unlimited_oracle() {
    let f = Fixture::new();
    let pin = PinHash::from_pin("4711");
    let index = tpm(&f, None).define_legacy_pin_index(None, &pin).unwrap();
    let h = index.handle();
    let mut a = Attacker::connect(f.swtpm.tcti().as_str(), None);
    for n in 0..(PIN_LIMIT + 5) {
        let guess = PinHash::from_pin(&format!("{n:04}"));
        a.change_auth_with_auth_value(h, guess.expose_secret_bytes(), b"x")
            .unwrap_err();
    }
    assert!(
        a.counter(h).0 > PIN_LIMIT,
        "failures counted past the limit"
    );
    a.change_auth_with_auth_value(h, pin.expose_secret_bytes(), b"attacker")
        .expect("the right PIN is still accepted past the limit");
    assert_eq!(a.counter(h).0, 0, "and the counter is reset");
}

#[test]
fn the_saved_change_approval_is_useless_without_the_pin() {
    let f = Fixture::new();
    let pin = PinHash::from_pin("4711");
    let mut t = tpm(&f, None);
    let index = t.define_pin_index(None, &pin).unwrap();
    // The approval is public and in the store; with a wrong PIN it gets nowhere, and the
    // attempt is counted.
    let e = t
        .change_pin(
            &index,
            &PinHash::from_pin("0000"),
            &PinHash::from_pin("1111"),
        )
        .unwrap_err();
    assert!(matches!(e, Error::WrongPin), "{e}");
    assert_eq!(t.pin_retries(&index).unwrap().remaining, PIN_LIMIT - 1);
    t.verify_pin(&index, &pin).unwrap();
}

struct NoPrompts;
impl Approver for NoPrompts {
    fn ask(&mut self, _: &Prompt) -> Result<Option<PinHash>, Refusal> {
        Err(Refusal::Denied)
    }
}

/// Everything an attacker can take from `store.sqlite` plus the TPM: the root comes back
/// from the seed, the blobs load — and a PIN-bound key still neither signs nor (for
/// hmac-secret) computes anything without the PIN.
#[test]
fn the_store_and_the_tpm_without_the_pin_yield_nothing_pin_bound() {
    for pw in OWNER_PASSWORDS {
        let f = Fixture::new();
        set_owner_password(&f, pw);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.sqlite");
        let pin = PinHash::from_pin("4711");
        {
            let mut ks = TpmKeyStore::open(&f.swtpm.tcti(), owner_auth(pw).as_ref(), None).unwrap();
            ks.set_pin(&pin).unwrap();
            let key = ks.create_key(true).unwrap();
            let mut engine = Engine::new(ks, NoPrompts, Store::open(&path).unwrap()).unwrap();
            engine
                .import_credentials(&[tpm_passkey_core::Credential {
                    id: vec![1; 32],
                    rp_id: "example.com".into(),
                    rp_name: None,
                    user_id: vec![1],
                    user_name: Some("alice".into()),
                    user_display_name: None,
                    key_blob: key.blob,
                    public_key: key.public,
                    pin_bound: true,
                    cred_protect: 1,
                    hmac_secret: true,
                    prf_in_key_store: true,
                    cred_blob: None,
                    large_blob_key: None,
                    created: 0,
                    last_used: None,
                    sign_count: 0,
                }])
                .unwrap();
        }
        let loot = Loot::from_store(&path);
        let handle = loot.pin_handle.expect("a PIN index is recorded");
        let mut a = Attacker::connect(f.swtpm.tcti().as_str(), pw);
        let root = a.root(&loot.seed);
        let key = a.load(root, &loot.blobs[0]);
        let e = a.sign_without_pin(key).unwrap_err();
        assert_eq!(kind(&e), Some(Kind::AuthUnavailable), "{e}");
        let e = a.sign_with_pin(key, handle, b"wrong").unwrap_err();
        // BAD_AUTH: a failure without DA side effects (the index is NO_DA), counted by it.
        assert_eq!(kind(&e), Some(Kind::BadAuth), "{e}");
        assert_eq!(a.counter(handle), (1, PIN_LIMIT));
        // With the right PIN the attacker would be the user: that is the boundary.
        a.sign_with_pin(key, handle, pin.expose_secret_bytes())
            .expect("control: the same calls work with the PIN");
        a.unload(key);
        // The with-UV hmac-secret key: the same refusal.
        let prf_uv = a.load(root, &loot.prf_uv);
        let e = a.hmac_without_pin(prf_uv).unwrap_err();
        assert_eq!(kind(&e), Some(Kind::AuthUnavailable), "{e}");
        a.unload(prf_uv);
        // The without-UV key computes (what a stolen security key allows for a credential
        // that never needed the PIN), and only inside this TPM.
        let prf = a.load(root, &loot.prf);
        assert_eq!(a.hmac_without_pin(prf).unwrap().len(), 32);
    }
}
