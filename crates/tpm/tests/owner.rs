//! An owner-hierarchy password set by IT: kept in a keyring, used through salted sessions.
#![allow(clippy::unwrap_used)]
mod common;

use std::sync::Arc;

use common::Fixture;
use tpm_passkey_tpm::{Error, OwnerAuth, OwnerAuthStore, PinHash, RootSeed, Tpm};
use tss_esapi::{
    handles::AuthHandle, interface_types::resource_handles::Hierarchy, structures::Auth, Context,
};

fn set_owner_password(f: &Fixture, pw: &[u8]) {
    let mut ctx = Context::new(f.swtpm.tcti().as_str().parse().unwrap()).unwrap();
    ctx.execute_with_nullauth_session(|c| {
        c.hierarchy_change_auth(AuthHandle::Owner, Auth::try_from(pw.to_vec())?)
    })
    .unwrap();
    let _ = Hierarchy::Owner;
}

#[test]
fn owner_password_from_the_keyring_opens_the_tpm() {
    let f = Fixture::new();
    set_owner_password(&f, b"it-department-secret");
    let store = OwnerAuthStore::with_store(keyring_core::mock::Store::new().unwrap() as Arc<_>);
    assert!(store.load().unwrap().is_none());
    store
        .save(&OwnerAuth::new(b"it-department-secret".to_vec()))
        .unwrap();

    let seed = RootSeed::from_bytes(f.seed);
    // Without the password the TPM refuses to make the root under the owner hierarchy.
    let err = Tpm::open(&f.swtpm.tcti(), &seed, None).unwrap_err();
    assert!(matches!(err, Error::AuthFailed { .. }), "{err}");
    let msg = err.to_string();
    assert!(!msg.contains("it-department"), "{msg}");

    let auth = store.load().unwrap().expect("stored");
    let mut tpm = Tpm::open(&f.swtpm.tcti(), &seed, Some(&auth)).unwrap();
    // Owner-authorized NV operations work with it too.
    let pin = PinHash::from_pin("8642");
    let index = tpm.define_pin_index(None, &pin).unwrap();
    assert_eq!(tpm.pin_retries(&index).unwrap().remaining, 8);

    store.clear().unwrap();
    assert!(store.load().unwrap().is_none());
    store.clear().unwrap();
}

/// Regression: a wrong owner-hierarchy password used to reach the client as a wrong PIN
/// (`AuthFailed` → `KeyError::PinInvalid`). It is the TPM owner's password, not the user's
/// PIN: the key store reports it as a TPM failure, and the PIN's retries are untouched.
#[test]
fn a_wrong_owner_password_is_not_a_wrong_pin() {
    use tpm_passkey_core::{KeyError, KeyStore};
    use tpm_passkey_tpm::TpmKeyStore;
    let f = Fixture::new();
    set_owner_password(&f, b"first");
    let owner = OwnerAuth::new(b"first".to_vec());
    let mut ks = TpmKeyStore::open(&f.swtpm.tcti(), Some(&owner), None).unwrap();
    ks.set_pin(&PinHash::from_pin("2468")).unwrap();
    assert_eq!(ks.pin_retries().unwrap(), 8);
    // IT changes the owner password; this key store still holds the old one.
    let mut ctx = Context::new(f.swtpm.tcti().as_str().parse().unwrap()).unwrap();
    ctx.tr_set_auth(
        Hierarchy::Owner.into(),
        Auth::try_from(b"first".to_vec()).unwrap(),
    )
    .unwrap();
    ctx.execute_with_session(
        Some(tss_esapi::interface_types::session_handles::AuthSession::Password),
        |c| c.hierarchy_change_auth(AuthHandle::Owner, Auth::try_from(b"second".to_vec())?),
    )
    .unwrap();
    drop(ctx);
    let e = ks.pin_retries().unwrap_err();
    assert!(matches!(e, KeyError::Other(_)), "{e:?}");
    assert!(!format!("{e}").contains("first"), "{e}");
    // The PIN itself still works and its retries never moved.
    ks.verify_pin(&PinHash::from_pin("2468")).unwrap();
}
