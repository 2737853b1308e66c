//! `tpm` attestation in the engine (docs/DESIGN.md "TPM attestation"), with the software
//! attestation key: packed until a certificate is installed and the person turns it on
//! (with the PIN), then a `tpm` statement whose certInfo binds authData ‖ clientDataHash and
//! whose signature is the attestation key's. The real TPM, CA and relying party are in
//! crates/daemon/tests/attestation.rs.

use crate::harness::{platform::*, *};
use ciborium::value::Value;
use p256::ecdsa::{signature::Verifier, Signature};
use sha2::{Digest, Sha256};
use tpm_passkey_core::audit_proof::{parse_attest, Attested, ST_ATTEST_CERTIFY};
use tpm_passkey_core::ipc::Pin;
use tpm_passkey_core::{Engine, ManageError, Store};

fn with_attestation_key() -> TestEngine {
    let approver = Script {
        pin: Some("1234".into()),
        ..Script::default()
    };
    Engine::with_clock(
        SoftKeys::with_audit(),
        approver,
        Store::open_in_memory().unwrap(),
        ManualClock::new(),
    )
    .unwrap()
}

fn register(e: &mut TestEngine, user: u8) -> Value {
    call(e, 0x01, Some(mc("rp.example", user, true, vec![]))).unwrap()
}

#[test]
fn packed_until_installed_and_turned_on_then_tpm() {
    let mut e = with_attestation_key();
    set_pin(&mut e, 2, "1234").unwrap();
    check_attestation(&register(&mut e, 1));
    assert!(matches!(
        e.set_tpm_attestation(true, None),
        Err(ManageError::NoAttestationCertificate)
    ));
    let chain = vec![b"AK certificate".to_vec(), b"intermediate".to_vec()];
    e.install_attestation(&chain, "CN=Test CA").unwrap();
    assert!(!e.attestation_view().on);
    // Installed but off: still packed.
    check_attestation(&register(&mut e, 2));
    // Turning it on lets sites tell this TPM: the PIN is needed.
    assert!(matches!(
        e.set_tpm_attestation(true, None),
        Err(ManageError::PinRequired)
    ));
    e.set_tpm_attestation(true, Some(&Pin::new("1234".into())))
        .unwrap();
    assert!(e.attestation_view().on);

    let r = register(&mut e, 3);
    assert_eq!(get(&r, 1), Some(Value::Text("tpm".into())));
    let auth_data = as_bytes(get(&r, 2));
    let st = get(&r, 3).unwrap();
    assert_eq!(get_text(&st, "ver"), Some(Value::Text("2.0".into())));
    assert_eq!(as_int(get_text(&st, "alg")), -7);
    let Some(Value::Array(x5c)) = get_text(&st, "x5c") else {
        panic!("no x5c");
    };
    let x5c: Vec<Vec<u8>> = x5c.into_iter().map(|c| as_bytes(Some(c))).collect();
    assert_eq!(x5c, chain);
    let cert_info = as_bytes(get_text(&st, "certInfo"));
    let pub_area = as_bytes(get_text(&st, "pubArea"));
    // certInfo binds authData ‖ clientDataHash and names the key by its public area.
    let (kind, attest) = parse_attest(&cert_info).unwrap();
    assert_eq!(kind, ST_ATTEST_CERTIFY);
    let expected: [u8; 32] = Sha256::digest([auth_data.as_slice(), &[0xcd; 32]].concat()).into();
    assert_eq!(attest.extra_data, expected);
    let Attested::Certify { name, .. } = attest.attested else {
        panic!("not a certify statement");
    };
    assert_eq!(name[2..], Sha256::digest(&pub_area)[..]);
    let ak = tpm_passkey_testkit::soft_attestation_key();
    let sig = Signature::from_der(&as_bytes(get_text(&st, "sig"))).unwrap();
    ak.verifying_key().verify(&cert_info, &sig).unwrap();

    e.set_tpm_attestation(false, None).unwrap();
    check_attestation(&register(&mut e, 4));
}

#[test]
fn a_key_store_that_cannot_certify_falls_back_to_packed() {
    let mut e = with_attestation_key();
    set_pin(&mut e, 2, "1234").unwrap();
    e.install_attestation(&[b"AK certificate".to_vec()], "CN=Test CA")
        .unwrap();
    e.set_tpm_attestation(true, Some(&Pin::new("1234".into())))
        .unwrap();
    e.keys_mut().audit = None; // the soft attestation key is gone
    check_attestation(&register(&mut e, 1));
}
