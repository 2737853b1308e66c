//! The engine's key store over a real swtpm: PIN-bound keys, PIN retries counted by the
//! TPM, state saved and reopened, reset as cryptographic erasure.
#![allow(clippy::unwrap_used)]

mod common;

use p256::ecdsa::{signature::hazmat::PrehashVerifier, Signature, VerifyingKey};
use tpm_passkey_core::{KeyError, KeyStore};
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
