//! Credential IDs.
//!
//! * Discoverable credentials get 32 random bytes and live in the store; deleting the row
//!   revokes the credential.
//! * Non-discoverable credentials carry their key inside the ID (the key store's wrapped
//!   blob, itself encrypted by the TPM), authenticated with HMAC-SHA-256 under this
//!   install's secret over the rpIdHash, so an ID from another install, another relying
//!   party or with one bit changed is refused (ARCHITECTURE.md "Credential IDs").
//!
//! Layout: version (1) || flags (1) || credProtect (1) || nonce (16) || blob || tag (16).
//! Version 0x03 IDs compute hmac-secret in the key store (the TPM); version 0x01 IDs,
//! made before, keep deriving it from the install secret, so that a credential's PRF
//! output never changes under its user (docs/DESIGN.md "hmac-secret").

use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::secret::SecretBytes;

const VERSION_V1: u8 = 0x01;
const VERSION: u8 = 0x03;
const FLAG_PIN_BOUND: u8 = 0x01;
const FLAG_HMAC_SECRET: u8 = 0x02;
const HEADER: usize = 3 + 16;
const TAG: usize = 16;
const LABEL: &[u8] = b"tpm-passkey credential id v1";

/// What a non-discoverable credential ID carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wrapped {
    pub nonce: [u8; 16],
    pub pin_bound: bool,
    pub hmac_secret: bool,
    pub cred_protect: u8,
    pub blob: Vec<u8>,
    /// hmac-secret is computed in the key store (false only for IDs made before).
    pub prf_in_key_store: bool,
}

fn mac(secret: &SecretBytes, rp_id_hash: &[u8; 32], body: &[u8]) -> [u8; 32] {
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(secret.expose_secret_bytes())
        .expect("HMAC takes any key length");
    m.update(LABEL);
    m.update(rp_id_hash);
    m.update(body);
    m.finalize().into_bytes().into()
}

pub fn wrap(secret: &SecretBytes, rp_id_hash: &[u8; 32], w: &Wrapped) -> Vec<u8> {
    let mut flags = 0;
    if w.pin_bound {
        flags |= FLAG_PIN_BOUND;
    }
    if w.hmac_secret {
        flags |= FLAG_HMAC_SECRET;
    }
    let mut out = Vec::with_capacity(HEADER + w.blob.len() + TAG);
    let version = if w.prf_in_key_store {
        VERSION
    } else {
        VERSION_V1
    };
    out.extend_from_slice(&[version, flags, w.cred_protect]);
    out.extend_from_slice(&w.nonce);
    out.extend_from_slice(&w.blob);
    let tag = mac(secret, rp_id_hash, &out);
    out.extend_from_slice(&tag[..TAG]);
    out
}

/// The credential inside `id`, if `id` is one of ours for this relying party.
pub fn unwrap(secret: &SecretBytes, rp_id_hash: &[u8; 32], id: &[u8]) -> Option<Wrapped> {
    if id.len() <= HEADER + TAG || (id[0] != VERSION && id[0] != VERSION_V1) {
        return None;
    }
    let (body, tag) = id.split_at(id.len() - TAG);
    let want = mac(secret, rp_id_hash, body);
    if !bool::from(want[..TAG].ct_eq(tag)) {
        return None;
    }
    let mut nonce = [0u8; 16];
    nonce.copy_from_slice(&body[3..HEADER]);
    Some(Wrapped {
        nonce,
        pin_bound: body[1] & FLAG_PIN_BOUND != 0,
        hmac_secret: body[1] & FLAG_HMAC_SECRET != 0,
        cred_protect: body[2],
        blob: body[HEADER..].to_vec(),
        prf_in_key_store: body[0] == VERSION,
    })
}

/// U2F key handles are limited to 255 bytes (U2F raw message formats §4.3), too short for
/// the layout above with a TPM blob. U2F credentials need no nonce (no hmac-secret) and
/// no flags (always user-presence only): version 0x02 || blob || tag (16).
const VERSION_U2F: u8 = 0x02;

pub fn wrap_u2f(secret: &SecretBytes, application: &[u8; 32], blob: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(1 + blob.len() + TAG);
    out.push(VERSION_U2F);
    out.extend_from_slice(blob);
    let tag = mac(secret, application, &out);
    out.extend_from_slice(&tag[..TAG]);
    out
}

/// The key blob inside a U2F key handle, if the handle is ours for this application.
pub fn unwrap_u2f(secret: &SecretBytes, application: &[u8; 32], handle: &[u8]) -> Option<Vec<u8>> {
    if handle.len() <= 1 + TAG || handle[0] != VERSION_U2F {
        return None;
    }
    let (body, tag) = handle.split_at(handle.len() - TAG);
    let want = mac(secret, application, body);
    bool::from(want[..TAG].ct_eq(tag)).then(|| body[1..].to_vec())
}

/// CredRandomWithUV / CredRandomWithoutUV of hmac-secret (§12.5) for credentials made
/// before hmac-secret moved into the key store: HMAC(install secret, label || uv ||
/// credential material). Anyone holding the store can compute it; docs/THREAT-MODEL.md
/// says so, and re-registering such a credential moves it to the key store.
pub fn cred_random(secret: &SecretBytes, material: &[u8], uv: bool) -> SecretBytes {
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(secret.expose_secret_bytes())
        .expect("HMAC takes any key length");
    m.update(b"tpm-passkey hmac-secret v1");
    m.update(&[u8::from(uv)]);
    m.update(material);
    SecretBytes::new(m.finalize().into_bytes().to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_bound_to_rp_and_install() {
        let secret = SecretBytes::new(vec![1; 32]);
        let w = Wrapped {
            nonce: [2; 16],
            pin_bound: true,
            hmac_secret: false,
            cred_protect: 2,
            blob: vec![3; 100],
            prf_in_key_store: true,
        };
        let id = wrap(&secret, &[4; 32], &w);
        assert_eq!(unwrap(&secret, &[4; 32], &id), Some(w.clone()));
        assert_eq!(unwrap(&secret, &[5; 32], &id), None, "other relying party");
        assert_eq!(
            unwrap(&SecretBytes::new(vec![9; 32]), &[4; 32], &id),
            None,
            "other install"
        );
        for i in 0..id.len() {
            let mut t = id.clone();
            t[i] ^= 0x01;
            assert_eq!(unwrap(&secret, &[4; 32], &t), None, "bit flipped at {i}");
        }
        assert_eq!(unwrap(&secret, &[4; 32], &id[..20]), None);
        // An ID made before hmac-secret moved into the key store still opens, and says so.
        let old = Wrapped {
            prf_in_key_store: false,
            ..w.clone()
        };
        let old_id = wrap(&secret, &[4; 32], &old);
        assert_eq!(old_id[0], VERSION_V1);
        assert_eq!(unwrap(&secret, &[4; 32], &old_id), Some(old));
    }

    #[test]
    fn u2f_handles_are_bound_and_short() {
        let secret = SecretBytes::new(vec![1; 32]);
        let h = wrap_u2f(&secret, &[4; 32], &[3; 222]);
        assert!(h.len() <= 255);
        assert_eq!(unwrap_u2f(&secret, &[4; 32], &h), Some(vec![3; 222]));
        assert_eq!(unwrap_u2f(&secret, &[5; 32], &h), None);
        let mut t = h.clone();
        t[100] ^= 1;
        assert_eq!(unwrap_u2f(&secret, &[4; 32], &t), None);
        // A CTAP2 id is not a U2F handle and the other way round.
        assert_eq!(unwrap(&secret, &[4; 32], &h), None);
    }
}
