//! Another program on a TPM it can reach directly (swtpm on a socket: what every test
//! uses, and `--tcti swtpm:`), between two of our commands — issue 20's E1, E2 and E3,
//! played with raw TPM commands over its own connection (docs/THREAT-MODEL.md "TPM
//! paths"). A policy session needs no HMAC, so naming a satisfied one is all it would
//! take; the protections are that no satisfied session waits on such a TPM, and that every
//! proof of the PIN is bound to the one command it is for (PolicySecret's cpHashA). Each
//! test has a control: the same raw attack through a session satisfied *without* the
//! binding works, so a refusal here is the binding's doing.
//!
//! The same attacks on the kernel's resource manager run in the TPM guest
//! (`crates/daemon/tests/kernel_tpm.rs`); E1b (a session kept past its life) is the TPM's
//! expiration, tested where sessions are kept (`pin_session` unit tests).
#![allow(clippy::unwrap_used)]
mod common;

use std::sync::{Arc, Mutex};

use common::attacker::{
    change_auth_params, hmac_params, rc_text, sign_params, Attacker, CC_HMAC, CC_NV_CHANGE_AUTH,
    CC_SIGN,
};
use common::pause::{first_session, Pause};
use common::Fixture;
use p256::ecdsa::signature::hazmat::PrehashVerifier;
use tpm_passkey_tpm::{KeyAuth, PinHash, Tpm};

const PIN: &str = "4711";

/// TPM_RC_POLICY_FAIL for the first session (Part 2 §6.6.3: RC_FMT1 + 0x01D, + TPM_RC_S +
/// TPM_RC_1): how the TPM refuses a command whose cpHash is not the one the policy
/// session was bound to.
const POLICY_FAIL_S0: u32 = 0x99D;

/// Our side: a Tpm on `pause`'s TCTI with a PIN index, a PIN-bound key and the with-UV
/// hmac-secret key.
struct Victim {
    tpm: Tpm,
    index: tpm_passkey_tpm::PinIndex,
    pin: PinHash,
    key: tpm_passkey_tpm::CreatedKey,
    prf_uv: tpm_passkey_tpm::PrfKey,
}

fn victim(f: &Fixture, pause: &Pause) -> Victim {
    let mut tpm = Tpm::open(
        &pause.tcti(),
        &tpm_passkey_tpm::RootSeed::from_bytes(f.seed),
        None,
    )
    .unwrap();
    let pin = PinHash::from_pin(PIN);
    let index = tpm.define_pin_index(None, &pin).unwrap();
    let key = tpm.create_key(Some(&index)).unwrap();
    let prf_uv = tpm.create_prf_key(Some(&index)).unwrap();
    Victim {
        tpm,
        index,
        pin,
        key,
        prf_uv,
    }
}

/// The other program, on its own connection to the same swtpm, with the user's store (the
/// seed and blobs) but not the PIN; `blob` is loaded under the root it re-derives, or
/// under ours where its own does not fit (three transient slots).
fn attacker_with(f: &Fixture, blob: &[u8]) -> (Attacker, tss_esapi::handles::KeyHandle, u32) {
    let mut a = Attacker::connect(f.swtpm.tcti().as_str(), None);
    let k = a.load_under_someone_s_root(blob);
    let kh = a.tpm_handle(k);
    (a, k, kh)
}

fn prf_blob(k: &tpm_passkey_tpm::PrfKey) -> Vec<u8> {
    // The same layout as a credential key blob: magic, public, private.
    k.to_bytes().unwrap()
}

#[test]
fn e1_after_a_pin_check_no_session_is_left_that_another_program_can_sign_with() {
    let f = Fixture::new();
    let pause = Pause::new(f.swtpm.port());
    let mut v = victim(&f, &pause);
    // getPinUvAuthTokenUsingUv's check, as a browser's sign-in starts.
    v.tpm.verify_pin(&v.index, &v.pin).unwrap();
    let (mut a, k, kh) = attacker_with(&f, &v.key.blob.to_bytes().unwrap());
    let sessions = a.sessions();
    for s in &sessions {
        let rc = a.raw_with_session(CC_SIGN, &[kh], *s, &sign_params(&[9; 32]));
        assert_ne!(rc, 0, "session {s:#x} signed for another program");
    }
    a.unload(k);
    // E2, in the same moment: the with-UV hmac-secret key through any session there is.
    let (mut a2, k2, prf) = attacker_with(&f, &prf_blob(&v.prf_uv));
    for s in a2.sessions() {
        let rc = a2.raw_with_session(CC_HMAC, &[prf], s, &hmac_params(b"any credential"));
        assert_ne!(
            rc, 0,
            "session {s:#x} computed a with-UV secret for another program"
        );
    }
    a2.unload(k2);
    drop(a2);
    let (mut a, _, kh) = attacker_with(&f, &v.key.blob.to_bytes().unwrap());
    // Control: a session satisfied with the PIN (the attacker knows it here) signs through
    // the very same raw command — what a left-behind satisfied session would have allowed.
    let own = a
        .policy_secret(v.index.handle(), v.pin.expose_secret_bytes())
        .unwrap();
    let own = a.tpm_handle(tss_esapi::handles::SessionHandle::from(own));
    let rc = a.raw_with_session(CC_SIGN, &[kh], own, &sign_params(&[9; 32]));
    assert_eq!(rc, 0, "control: {}", rc_text(rc));
    // And the user's sign-in still works, proving the PIN for its own signature.
    let digest = common::digest(b"client data");
    let sig = v
        .tpm
        .sign(&v.key.blob, &digest, KeyAuth::pin(&v.index, &v.pin))
        .unwrap();
    v.key.public.verify_prehash(&digest, &sig).unwrap();
}

#[test]
fn e1_a_signature_s_proof_of_the_pin_signs_nothing_else_even_mid_flight() {
    let f = Fixture::new();
    let pause = Pause::new(f.swtpm.port());
    let mut v = victim(&f, &pause);
    let blob = v.key.blob.to_bytes().unwrap();
    let seen = Arc::new(Mutex::new(None));
    {
        let (seen, tcti) = (seen.clone(), f.swtpm.tcti());
        // Between our PolicySecret and our Sign, another program uses the session it sees
        // named in the held Sign, for its own digest.
        pause.before(CC_SIGN, move |cmd| {
            let session = first_session(cmd, 1);
            let mut a = Attacker::connect(tcti.as_str(), None);
            let k = a.load_under_someone_s_root(&blob);
            let kh = a.tpm_handle(k);
            let rc = a.raw_with_session(CC_SIGN, &[kh], session, &sign_params(&[6; 32]));
            *seen.lock().unwrap() = Some(rc);
        });
    }
    let digest = common::digest(b"what the user signs");
    let sig = v
        .tpm
        .sign(&v.key.blob, &digest, KeyAuth::pin(&v.index, &v.pin))
        .unwrap();
    assert!(pause.fired());
    let rc = seen.lock().unwrap().expect("the attacker ran");
    assert_eq!(rc, POLICY_FAIL_S0, "{}", rc_text(rc));
    // The session was not used up by the refusal: the user's signature went through.
    v.key.public.verify_prehash(&digest, &sig).unwrap();
}

#[test]
fn e2_a_with_uv_hmac_secret_s_proof_computes_no_other_credential_s_secret() {
    let f = Fixture::new();
    let pause = Pause::new(f.swtpm.port());
    let mut v = victim(&f, &pause);
    let blob = prf_blob(&v.prf_uv);
    let seen = Arc::new(Mutex::new(None));
    {
        let (seen, tcti) = (seen.clone(), f.swtpm.tcti());
        pause.before(CC_HMAC, move |cmd| {
            let session = first_session(cmd, 1);
            let mut a = Attacker::connect(tcti.as_str(), None);
            let k = a.load_under_someone_s_root(&blob);
            let kh = a.tpm_handle(k);
            let rc = a.raw_with_session(CC_HMAC, &[kh], session, &hmac_params(b"another one"));
            *seen.lock().unwrap() = Some(rc);
        });
    }
    let ours = v
        .tpm
        .prf(
            &v.prf_uv,
            b"this credential",
            KeyAuth::pin(&v.index, &v.pin),
        )
        .unwrap();
    assert!(pause.fired());
    let rc = seen.lock().unwrap().expect("the attacker ran");
    // TPM_RC_POLICY_FAIL: the cpHash check (before the HMAC check that this session,
    // salted for the response's encryption, would fail too — Part 1 §19.6.5).
    assert_eq!(rc, POLICY_FAIL_S0, "{}", rc_text(rc));
    // The user's output is the key's HMAC of its input, as before.
    let again = v
        .tpm
        .prf(
            &v.prf_uv,
            b"this credential",
            KeyAuth::pin(&v.index, &v.pin),
        )
        .unwrap();
    assert_eq!(ours, again);
    // Control: an unbound satisfied session does compute it for the attacker.
    let (mut a, _, prf) = attacker_with(&f, &prf_blob(&v.prf_uv));
    let own = a
        .policy_secret(v.index.handle(), v.pin.expose_secret_bytes())
        .unwrap();
    let own = a.tpm_handle(tss_esapi::handles::SessionHandle::from(own));
    let rc = a.raw_with_session(CC_HMAC, &[prf], own, &hmac_params(b"another one"));
    assert_eq!(rc, 0, "control: {}", rc_text(rc));
}

#[test]
fn e3_a_pin_change_cannot_be_finished_by_another_program_with_a_pin_of_its_own() {
    let f = Fixture::new();
    let pause = Pause::new(f.swtpm.port());
    let mut v = victim(&f, &pause);
    let attacker_pin = PinHash::from_pin("6666");
    let seen = Arc::new(Mutex::new(None));
    {
        let (seen, tcti) = (seen.clone(), f.swtpm.tcti());
        let (nv, theirs) = (v.index.handle(), *attacker_pin.expose_secret_bytes());
        // Our NV_ChangeAuth is held: the policy session it names is complete. The other
        // program sends its own NV_ChangeAuth through it.
        pause.before(CC_NV_CHANGE_AUTH, move |cmd| {
            let session = first_session(cmd, 1);
            let mut a = Attacker::connect(tcti.as_str(), None);
            let rc = a.raw_with_session(
                CC_NV_CHANGE_AUTH,
                &[nv],
                session,
                &change_auth_params(&theirs),
            );
            *seen.lock().unwrap() = Some(rc);
        });
    }
    let new = PinHash::from_pin("2468");
    v.tpm.change_pin(&v.index, &v.pin, &new).unwrap();
    assert!(pause.fired());
    let rc = seen.lock().unwrap().expect("the attacker ran");
    assert_eq!(rc, POLICY_FAIL_S0, "{}", rc_text(rc));
    // The user's new PIN is the PIN; the attacker's is wrong.
    v.tpm.verify_pin(&v.index, &new).unwrap();
    let mut check = f.tpm();
    assert!(check.verify_pin(&v.index, &attacker_pin).is_err());

    // Control: through a change session satisfied without the binding (as it was built
    // before), the same raw NV_ChangeAuth sets the attacker's PIN.
    let mut a = Attacker::connect(f.swtpm.tcti().as_str(), None);
    let session = a.change_session(&v.index.to_record(), new.expose_secret_bytes());
    let rc = a.raw_with_session(
        CC_NV_CHANGE_AUTH,
        &[v.index.handle()],
        session,
        &change_auth_params(attacker_pin.expose_secret_bytes()),
    );
    assert_eq!(rc, 0, "control: {}", rc_text(rc));
    f.tpm().verify_pin(&v.index, &attacker_pin).unwrap();
}
