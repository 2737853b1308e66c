use crate::harness::*;
use p256::ecdsa::{signature::Verifier, Signature, VerifyingKey};
use tpm_passkey_core::Refusal;

fn apdu(ins: u8, p1: u8, data: &[u8]) -> Vec<u8> {
    let mut a = vec![0, ins, p1, 0, 0];
    a.extend_from_slice(&(data.len() as u16).to_be_bytes());
    a.extend_from_slice(data);
    a.extend_from_slice(&[0, 0]);
    a
}

fn sw(resp: &[u8]) -> u16 {
    u16::from_be_bytes([resp[resp.len() - 2], resp[resp.len() - 1]])
}

#[test]
fn u2f_is_refused_under_always_uv() {
    let mut e = engine();
    assert!(!e.u2f_enabled());
    assert_eq!(sw(&e.process_u2f(&apdu(3, 0, &[]))), 0x6d00);
}

#[test]
fn u2f_register_authenticate_and_errors() {
    let mut e = engine();
    call(&mut e, 0x0d, Some(cbor!({ 1 => 2 }).unwrap())).unwrap(); // alwaysUv off (no PIN yet)
    assert!(e.u2f_enabled());
    assert_eq!(e.process_u2f(&apdu(3, 0, &[])), b"U2F_V2\x90\x00");
    let (challenge, app) = ([1u8; 32], [2u8; 32]);
    let r = e.process_u2f(&apdu(1, 0, &[challenge, app].concat()));
    assert_eq!(sw(&r), 0x9000);
    assert_eq!(r[0], 0x05);
    let public = &r[1..66];
    let kh_len = r[66] as usize;
    let kh = r[67..67 + kh_len].to_vec();
    // The certificate is a DER SEQUENCE with a two-byte length; the signature follows it.
    let cert_start = 67 + kh_len;
    assert_eq!(r[cert_start], 0x30);
    let cert_len = 4 + u16::from_be_bytes([r[cert_start + 2], r[cert_start + 3]]) as usize;
    let cert = &r[cert_start..cert_start + cert_len];
    assert!(
        cert.windows(65).any(|w| w == public),
        "the certificate carries the credential key"
    );
    let sig = &r[cert_start + cert_len..r.len() - 2];
    let vk = VerifyingKey::from_sec1_bytes(public).unwrap();
    let signed = [&[0u8][..], &app, &challenge, &kh, public].concat();
    vk.verify(&signed, &Signature::from_der(sig).unwrap())
        .unwrap();

    // Authenticate (enforce user presence), with a growing counter.
    let auth = |e: &mut TestEngine, p1: u8, app: &[u8; 32]| {
        let mut d = [challenge, *app].concat();
        d.push(kh.len() as u8);
        d.extend_from_slice(&kh);
        e.process_u2f(&apdu(2, p1, &d))
    };
    let a = auth(&mut e, 3, &app);
    assert_eq!(sw(&a), 0x9000);
    assert_eq!(a[0], 1, "user present");
    let counter = &a[1..5];
    let signed = [&app[..], &[1], counter, &challenge].concat();
    vk.verify(&signed, &Signature::from_der(&a[5..a.len() - 2]).unwrap())
        .unwrap();
    let b = auth(&mut e, 3, &app);
    assert!(b[1..5] > a[1..5], "counter grows");
    // Check-only on a good handle, any mode on a foreign application, a denied prompt.
    assert_eq!(auth(&mut e, 7, &app), vec![0x69, 0x85]);
    assert_eq!(auth(&mut e, 3, &[9; 32]), vec![0x6a, 0x80]);
    e.approver_mut().answers.push_back(Err(Refusal::Denied));
    assert_eq!(auth(&mut e, 3, &app), vec![0x69, 0x85]);
    // Malformed APDUs.
    assert_eq!(sw(&e.process_u2f(&[0, 1])), 0x6700);
    assert_eq!(sw(&e.process_u2f(&apdu(9, 0, &[]))), 0x6d00);
}
