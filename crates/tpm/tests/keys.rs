//! Credential keys on a real swtpm: made in the TPM, verified with p256, refused when the
//! blob is damaged or belongs to another root.
#![allow(clippy::unwrap_used)]
mod common;

use common::{digest, Fixture};
use p256::ecdsa::signature::hazmat::PrehashVerifier;
use tpm_passkey_tpm::{Error, KeyAuth, KeyBlob, PinHash, Protection, RootSeed, Tpm};

#[test]
fn user_presence_key_signs_and_p256_verifies() {
    let f = Fixture::new();
    let mut tpm = f.tpm();
    let key = tpm.create_key(None).unwrap();
    assert_eq!(key.blob.protection(), Protection::UserPresence);
    let d = digest(b"authenticatorData || clientDataHash");
    let sig = tpm.sign(&key.blob, &d, KeyAuth::None).unwrap();
    key.public
        .verify_prehash(&d, &sig)
        .expect("signature verifies");
    // and does not verify for another message: the check can fail
    assert!(key.public.verify_prehash(&digest(b"other"), &sig).is_err());
    // DER form, as WebAuthn carries it, parses back to the same signature
    let der = sig.to_der();
    assert_eq!(
        p256::ecdsa::Signature::from_der(der.as_bytes()).unwrap(),
        sig
    );
}

#[test]
fn blob_survives_serialisation_and_a_new_connection() {
    let f = Fixture::new();
    let bytes = {
        let mut tpm = f.tpm();
        tpm.create_key(None).unwrap().blob.to_bytes().unwrap()
    };
    let blob = KeyBlob::from_bytes(&bytes).unwrap();
    let mut tpm = f.tpm();
    let d = digest(b"later");
    let sig = tpm.sign(&blob, &d, KeyAuth::None).unwrap();
    blob.verifying_key()
        .unwrap()
        .verify_prehash(&d, &sig)
        .unwrap();
}

#[test]
fn a_root_from_another_seed_cannot_load_the_blob() {
    let f = Fixture::new();
    let blob = f.tpm().create_key(None).unwrap().blob;
    let mut other = Tpm::open(&f.swtpm.tcti(), &RootSeed::generate().unwrap(), None).unwrap();
    let err = other.sign(&blob, &digest(b"x"), KeyAuth::None).unwrap_err();
    assert!(matches!(err, Error::BadBlob(_)), "{err}");
}

#[test]
fn another_tpm_cannot_load_the_blob() {
    let (a, b) = (Fixture::new(), Fixture::new());
    let blob = a.tpm().create_key(None).unwrap().blob;
    let mut tb = Tpm::open(&b.swtpm.tcti(), &RootSeed::from_bytes(a.seed), None).unwrap();
    let err = tb.sign(&blob, &digest(b"x"), KeyAuth::None).unwrap_err();
    assert!(matches!(err, Error::BadBlob(_)), "{err}");
}

#[test]
fn truncated_or_bit_flipped_blobs_are_refused_without_panic() {
    let f = Fixture::new();
    let mut tpm = f.tpm();
    let pin = PinHash::from_pin("123456");
    let index = tpm.define_pin_index(None, &pin).unwrap();
    let blob = tpm.create_key(Some(&index)).unwrap().blob;
    let bytes = blob.to_bytes().unwrap();
    let d = digest(b"m");
    for cut in [1, 7, bytes.len() / 2, bytes.len() - 1] {
        assert!(
            matches!(KeyBlob::from_bytes(&bytes[..cut]), Err(Error::BadBlob(_))),
            "cut {cut}"
        );
    }
    // Flip bits across the private area (the part only the TPM can check) and in the
    // public point: the parser may accept the layout, the TPM must refuse the key.
    let public_len = usize::from(u16::from_be_bytes([bytes[4], bytes[5]]));
    let private_start = 6 + public_len + 2;
    let mut refused = 0;
    for i in (private_start..bytes.len())
        .step_by(9)
        .chain([40, 60, public_len])
    {
        let mut m = bytes.clone();
        m[i] ^= 0x10;
        match KeyBlob::from_bytes(&m) {
            Err(Error::BadBlob(_)) => refused += 1,
            Ok(b) => match tpm.sign(&b, &d, KeyAuth::pin(&index, &pin)) {
                Err(Error::BadBlob(_)) => refused += 1,
                other => panic!("flip at {i} was not refused: {other:?}"),
            },
            Err(e) => panic!("flip at {i}: unexpected error {e}"),
        }
    }
    assert!(refused > 10);
    // The genuine blob still works: nothing was damaged by the attempts.
    let sig = tpm.sign(&blob, &d, KeyAuth::pin(&index, &pin)).unwrap();
    blob.verifying_key()
        .unwrap()
        .verify_prehash(&d, &sig)
        .unwrap();
}

#[test]
fn many_keys_do_not_exhaust_transient_slots() {
    // swtpm has three transient slots; the root holds one. Every sign must flush.
    let f = Fixture::new();
    let mut tpm = f.tpm();
    let keys: Vec<_> = (0..5).map(|_| tpm.create_key(None).unwrap()).collect();
    for _ in 0..2 {
        for k in &keys {
            let d = digest(b"slot");
            let sig = tpm.sign(&k.blob, &d, KeyAuth::None).unwrap();
            k.public.verify_prehash(&d, &sig).unwrap();
        }
    }
}
