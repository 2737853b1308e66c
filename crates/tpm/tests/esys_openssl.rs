//! ESYS keeps one OpenSSL library context in a binary that exports the two functions of
//! `esys_openssl` (this crate's build script exports them for its tests): without the
//! export, or with a fresh context made per call again, `made` counts one per digest,
//! HMAC and nonce (docs/PERFORMANCE.md "ESYS's OpenSSL contexts").
#![allow(clippy::unwrap_used)]
mod common;

use common::{digest, Fixture};
use p256::ecdsa::signature::hazmat::PrehashVerifier;
use tpm_passkey_tpm::{esys_openssl, KeyAuth, PinHash};

#[test]
fn esys_makes_one_openssl_context_for_every_signature() {
    let f = Fixture::new();
    let mut tpm = f.tpm();
    let pin = PinHash::from_pin("1234");
    let index = tpm.define_pin_index(None, &pin).unwrap();
    let up = tpm.create_key(None).unwrap();
    let bound = tpm.create_key(Some(&index)).unwrap();
    let (asked_before, _) = esys_openssl::counts();
    // Each signature: the load's name digest, and for the PIN-bound key the salted
    // session's HMACs, the policy session's nonce and the PolicySecret.
    for i in 0..5u8 {
        let d = digest(&[i]);
        let sig = tpm.sign(&up.blob, &d, KeyAuth::None).unwrap();
        up.public.verify_prehash(&d, &sig).unwrap();
        let sig = tpm
            .sign(&bound.blob, &d, KeyAuth::pin(&index, &pin))
            .unwrap();
        bound.public.verify_prehash(&d, &sig).unwrap();
    }
    // The wrong PIN is still refused: the kept context computes the same session HMACs.
    let wrong = PinHash::from_pin("9999");
    assert!(tpm
        .sign(&bound.blob, &digest(b"x"), KeyAuth::pin(&index, &wrong))
        .is_err());
    let (asked, made) = esys_openssl::counts();
    assert!(
        asked - asked_before >= 20,
        "ESYS asked for {} contexts: the functions are not exported, ESYS runs as shipped",
        asked - asked_before
    );
    assert_eq!(made, 1, "OpenSSL made {made} contexts for {asked} asks");
}
