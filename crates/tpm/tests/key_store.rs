//! The engine's key store over a real swtpm: PIN-bound keys, PIN retries counted by the
//! TPM, state saved and reopened, reset as cryptographic erasure.
#![allow(clippy::unwrap_used)]

mod common;

use p256::ecdsa::{signature::hazmat::PrehashVerifier, Signature, VerifyingKey};
use tpm_passkey_core::{KeyError, KeyStore, PinProtection};
use tpm_passkey_tpm::{PinHash, TpmKeyStore};

fn verify(public: &tpm_passkey_core::wire::cose::P256Key, digest: &[u8; 32], der: &[u8]) {
    let vk = VerifyingKey::from_sec1_bytes(&public.to_sec1()).unwrap();
    vk.verify_prehash(digest, &Signature::from_der(der).unwrap())
        .expect("signature verifies");
}

#[test]
fn pin_bound_key_needs_the_pin_and_state_survives_reopen() {
    let fx = common::Fixture::new();
    let tcti = fx.swtpm.tcti();
    let (blob, public, state) = {
        let mut ks = TpmKeyStore::open(&tcti, None, None).unwrap();
        assert!(!ks.pin_is_set());
        assert_eq!(ks.create_key(true).err(), Some(KeyError::PinNotSet));
        ks.set_pin(&PinHash::from_pin("1234")).unwrap();
        let key = ks.create_key(true).unwrap();
        (key.blob, key.public, ks.state())
    };
    // "Daemon restarted": a new connection from the saved state only.
    let mut ks = TpmKeyStore::open(&tcti, None, Some(&state)).unwrap();
    assert!(ks.pin_is_set());
    let d = common::digest(b"authData||clientDataHash");
    assert_eq!(ks.sign(&blob, &d, None).err(), Some(KeyError::PinRequired));
    assert_eq!(ks.pin_retries().unwrap(), 8, "a missing PIN costs no retry");
    assert_eq!(
        ks.sign(&blob, &d, Some(&PinHash::from_pin("0000"))).err(),
        Some(KeyError::PinInvalid)
    );
    assert_eq!(ks.pin_retries().unwrap(), 7);
    let sig = ks
        .sign(&blob, &d, Some(&PinHash::from_pin("1234")))
        .unwrap();
    verify(&public, &d, &sig);
    assert_eq!(
        ks.pin_retries().unwrap(),
        8,
        "the right PIN restores the retries"
    );
    ks.change_pin(&PinHash::from_pin("1234"), &PinHash::from_pin("987654"))
        .unwrap();
    assert_eq!(
        ks.state().expose_secret_bytes(),
        state.expose_secret_bytes(),
        "same seed, same index"
    );
    let sig = ks
        .sign(&blob, &d, Some(&PinHash::from_pin("987654")))
        .unwrap();
    verify(&public, &d, &sig);
}

#[test]
fn up_only_keys_sign_without_a_pin_and_reset_erases() {
    let fx = common::Fixture::new();
    let mut ks = TpmKeyStore::open(&fx.swtpm.tcti(), None, None).unwrap();
    let key = ks.create_key(false).unwrap();
    let d = common::digest(b"m");
    verify(&key.public, &d, &ks.sign(&key.blob, &d, None).unwrap());
    ks.set_pin(&PinHash::from_pin("1234")).unwrap();
    let before = ks.state();
    ks.reset().unwrap();
    assert!(!ks.pin_is_set());
    assert_ne!(
        ks.state().expose_secret_bytes(),
        before.expose_secret_bytes(),
        "a new seed"
    );
    assert_eq!(
        ks.sign(&key.blob, &d, None).err(),
        Some(KeyError::BadBlob),
        "old blobs are dead"
    );
    // The PIN index is gone: a new one can be defined.
    ks.set_pin(&PinHash::from_pin("5555")).unwrap();
    assert_eq!(ks.sign(b"garbage", &d, None).err(), Some(KeyError::BadBlob));
}

#[test]
fn wrong_pins_block_at_the_tpm_limit() {
    let fx = common::Fixture::new();
    let mut ks = TpmKeyStore::open(&fx.swtpm.tcti(), None, None).unwrap();
    ks.set_pin(&PinHash::from_pin("1234")).unwrap();
    for left in (0..8).rev() {
        assert_eq!(
            ks.verify_pin(&PinHash::from_pin("0000")).err(),
            Some(KeyError::PinInvalid)
        );
        assert_eq!(ks.pin_retries().unwrap(), left);
    }
    assert_eq!(
        ks.verify_pin(&PinHash::from_pin("1234")).err(),
        Some(KeyError::PinBlocked)
    );
}

/// U2F key handles are at most 255 bytes; a U2F handle is the blob plus 17 bytes
/// (version and tag, see core's cred_id). An UP-only TPM blob must leave room for that.
#[test]
fn up_only_blobs_fit_a_u2f_key_handle() {
    let fx = common::Fixture::new();
    let mut ks = TpmKeyStore::open(&fx.swtpm.tcti(), None, None).unwrap();
    let up = ks.create_key(false).unwrap();
    assert!(
        1 + up.blob.len() + 16 <= 255,
        "UP-only blob is {} bytes",
        up.blob.len()
    );
}

/// hmac-secret inside the TPM: the same credential material always gives the same
/// CredRandom (across a reconnection and a PIN change), UV and non-UV differ, the UV one
/// needs the PIN (a wrong one counts), and reset changes both.
#[test]
fn cred_random_is_stable_pin_bound_and_erased_by_reset() {
    let fx = common::Fixture::new();
    let tcti = fx.swtpm.tcti();
    let pin = PinHash::from_pin("1234");
    let mut ks = TpmKeyStore::open(&tcti, None, None).unwrap();
    let plain = ks.cred_random(b"cred-1", None).unwrap();
    assert_eq!(
        ks.cred_random(b"cred-1", Some(&pin)).err(),
        Some(KeyError::PinNotSet)
    );
    ks.set_pin(&pin).unwrap();
    let with_uv = ks.cred_random(b"cred-1", Some(&pin)).unwrap();
    assert_ne!(plain.expose_secret_bytes(), with_uv.expose_secret_bytes());
    assert_ne!(
        plain.expose_secret_bytes(),
        ks.cred_random(b"cred-2", None)
            .unwrap()
            .expose_secret_bytes()
    );
    assert_eq!(
        ks.cred_random(b"cred-1", Some(&PinHash::from_pin("0000")))
            .err(),
        Some(KeyError::PinInvalid)
    );
    assert_eq!(ks.pin_retries().unwrap(), 7, "a wrong PIN here counts too");
    let state = ks.state();
    drop(ks);
    let mut ks = TpmKeyStore::open(&tcti, None, Some(&state)).unwrap();
    assert_eq!(
        ks.state().expose_secret_bytes(),
        state.expose_secret_bytes()
    );
    assert_eq!(
        ks.cred_random(b"cred-1", None)
            .unwrap()
            .expose_secret_bytes(),
        plain.expose_secret_bytes()
    );
    let new_pin = PinHash::from_pin("5678");
    ks.change_pin(&pin, &new_pin).unwrap();
    assert_eq!(
        ks.cred_random(b"cred-1", Some(&new_pin))
            .unwrap()
            .expose_secret_bytes(),
        with_uv.expose_secret_bytes(),
        "a PIN change keeps every PRF output"
    );
    ks.reset().unwrap();
    assert_ne!(
        ks.cred_random(b"cred-1", None)
            .unwrap()
            .expose_secret_bytes(),
        plain.expose_secret_bytes()
    );
}

/// A store made before the rebuild-proof index (key-store state version 1) still opens:
/// its index is reported as legacy, its keys keep working, and the state is written back
/// as version 2 with hmac-secret keys added.
#[test]
fn a_version_1_state_opens_as_legacy() {
    use tpm_passkey_core::{PinProtection, SecretBytes};
    let fx = common::Fixture::new();
    let pin = PinHash::from_pin("2468");
    let (index, key) = {
        let mut t = fx.tpm();
        let i = t.define_legacy_pin_index(None, &pin).unwrap();
        let k = t.create_key(Some(&i)).unwrap();
        (i, k)
    };
    let mut v1 = vec![1u8];
    v1.extend_from_slice(&fx.seed);
    v1.extend_from_slice(&index.handle().to_be_bytes());
    let mut ks = TpmKeyStore::open(&fx.swtpm.tcti(), None, Some(&SecretBytes::new(v1))).unwrap();
    assert_eq!(ks.pin_protection(), PinProtection::Legacy);
    let d = common::digest(b"still works");
    ks.sign(&key.blob.to_bytes().unwrap(), &d, Some(&pin))
        .unwrap();
    assert_eq!(ks.state().expose_secret_bytes()[0], 5);
    let reopened = TpmKeyStore::open(&fx.swtpm.tcti(), None, Some(&ks.state())).unwrap();
    assert_eq!(reopened.pin_protection(), PinProtection::Legacy);
}

/// A reset interrupted before the engine saved its new state (SIGKILL between the TPM work
/// and the store commit) must leave the old state whole: the old PIN index is destroyed only
/// by `collect_garbage`, after that save.
#[test]
fn a_reset_destroys_the_old_pin_index_only_once_the_new_state_is_saved() {
    let fx = common::Fixture::new();
    let tcti = fx.swtpm.tcti();
    let pin = PinHash::from_pin("1234");
    let mut ks = TpmKeyStore::open(&tcti, None, None).unwrap();
    ks.set_pin(&pin).unwrap();
    let key = ks.create_key(true).unwrap();
    let before = ks.state();

    ks.reset().unwrap();
    assert!(!ks.pin_is_set());
    let after = ks.state();
    drop(ks);
    // "Crashed" before the store commit: the old state still works in full.
    {
        let mut old = TpmKeyStore::open(&tcti, None, Some(&before)).unwrap();
        assert_eq!(old.pin_protection(), PinProtection::Anchored);
        let d = common::digest(b"old state");
        old.sign(&key.blob, &d, Some(&pin))
            .expect("the old PIN still signs");
    }
    // The commit happened: the new state's garbage is collected, the old index is gone.
    let mut new = TpmKeyStore::open(&tcti, None, Some(&after)).unwrap();
    assert!(new.collect_garbage().unwrap(), "state changed");
    assert!(!new.collect_garbage().unwrap(), "nothing left");
    let old = TpmKeyStore::open(&tcti, None, Some(&before)).unwrap();
    assert_eq!(old.pin_protection(), PinProtection::Lost);
}
