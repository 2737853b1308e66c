//! Blob parsing without a TPM: every malformed input is an error, never a panic.
use super::*;
use tss_esapi::structures::Private;

fn sample(policy: Option<[u8; 32]>) -> KeyBlob {
    let mut public = templates::credential_key(policy).expect("template");
    // A real point (the P-256 generator) so verifying_key() succeeds.
    let gx = hex32("6B17D1F2E12C4247F8BCE6E563A440F277037D812DEB33A0F4A13945D898C296");
    let gy = hex32("4FE342E2FE1A7F9B8EE7EB4A7C0F9E162BCE33576B315ECECBB6406837BF51F5");
    if let Public::Ecc { unique, .. } = &mut public {
        *unique = tss_esapi::structures::EccPoint::new(
            gx.to_vec().try_into().unwrap(),
            gy.to_vec().try_into().unwrap(),
        );
    }
    KeyBlob::new(public, Private::try_from(vec![7u8; 126]).unwrap()).expect("valid")
}

fn hex32(s: &str) -> [u8; 32] {
    let mut out = [0u8; 32];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap();
    }
    out
}

#[test]
fn round_trip_keeps_protection_and_key() {
    for policy in [None, Some([9u8; 32])] {
        let b = sample(policy);
        let bytes = b.to_bytes().unwrap();
        let back = KeyBlob::from_bytes(&bytes).unwrap();
        assert_eq!(back, b);
        assert_eq!(
            back.protection(),
            policy.map_or(Protection::UserPresence, |policy| Protection::Pin {
                policy
            })
        );
        assert_eq!(back.verifying_key().unwrap(), b.verifying_key().unwrap());
    }
}

#[test]
fn every_truncation_is_refused() {
    let bytes = sample(Some([1; 32])).to_bytes().unwrap();
    for n in 0..bytes.len() {
        assert!(
            matches!(KeyBlob::from_bytes(&bytes[..n]), Err(Error::BadBlob(_))),
            "prefix {n} accepted"
        );
    }
}

#[test]
fn trailing_bytes_and_bad_magic_are_refused() {
    let mut bytes = sample(None).to_bytes().unwrap();
    bytes.push(0);
    assert!(matches!(
        KeyBlob::from_bytes(&bytes),
        Err(Error::BadBlob("trailing bytes"))
    ));
    let mut bytes = sample(None).to_bytes().unwrap();
    bytes[3] = 2;
    assert!(matches!(
        KeyBlob::from_bytes(&bytes),
        Err(Error::BadBlob(_))
    ));
}

#[test]
fn bit_flips_in_the_public_area_never_panic_and_never_change_the_kind_silently() {
    let b = sample(Some([3; 32]));
    let bytes = b.to_bytes().unwrap();
    let public_end = 6 + usize::from(u16::from_be_bytes([bytes[4], bytes[5]]));
    for i in 4..public_end {
        for bit in 0..8 {
            let mut m = bytes.clone();
            m[i] ^= 1 << bit;
            // Either refused, or still a credential key of the exact template (a flip in
            // the point or the policy digest); the TPM's integrity check refuses those.
            if let Ok(k) = KeyBlob::from_bytes(&m) {
                assert_ne!(k, b, "byte {i} bit {bit}: a change went unnoticed");
            }
        }
    }
}

#[test]
fn other_templates_are_refused() {
    // A decryption key is not a credential key, even with a valid layout.
    let mut public = templates::credential_key(None).unwrap();
    if let Public::Ecc {
        object_attributes, ..
    } = &mut public
    {
        *object_attributes = tss_esapi::attributes::ObjectAttributes::new_fixed_parent_key();
    }
    let err = KeyBlob::new(public, Private::try_from(vec![1u8; 10]).unwrap()).unwrap_err();
    assert!(matches!(err, Error::BadBlob(_)), "{err}");
}

#[test]
fn debug_hides_key_material() {
    let s = format!("{:?}", sample(None));
    assert!(!s.contains("private") && !s.contains('7'), "{s}");
}

#[test]
fn keys_made_before_the_null_scheme_are_still_accepted() {
    for policy in [None, Some([3u8; 32])] {
        let mut public = templates::credential_key_v1(policy).unwrap();
        if let Public::Ecc { unique, .. } = &mut public {
            *unique = sample(None).public_unique();
        }
        let blob = KeyBlob::new(public, Private::try_from(vec![7u8; 126]).unwrap()).unwrap();
        let want = match policy {
            None => Protection::UserPresence,
            Some(policy) => Protection::Pin { policy },
        };
        assert_eq!(blob.protection(), want);
    }
}

impl KeyBlob {
    fn public_unique(&self) -> tss_esapi::structures::EccPoint {
        match &self.public {
            Public::Ecc { unique, .. } => unique.clone(),
            _ => unreachable!("credential keys are ECC"),
        }
    }
}
