//! One-time signing keys for the policies of the PIN index and the rollback counter
//! (docs/DESIGN.md "PIN index", "Rollback counter and store seal").
//!
//! They are made in this process, used for at most two signatures while the index is
//! created, and dropped (p256's `SigningKey` zeroizes on drop). The TPM only ever sees their
//! public halves, loaded with TPM2_LoadExternal; their Names are part of the index's
//! authPolicy and so of its Name. Because the private halves no longer exist anywhere,
//! nobody can produce another signature — which is what makes the index impossible to
//! initialise again (PolicySigned) and confines PIN changes to the one approved policy
//! (PolicyAuthorize).

use p256::ecdsa::{signature::hazmat::PrehashSigner, Signature, SigningKey, VerifyingKey};
use p256::elliptic_curve::sec1::ToSec1Point;
use sha2::{Digest as _, Sha256};
use tss_esapi::{
    attributes::ObjectAttributesBuilder,
    interface_types::{
        algorithm::{HashingAlgorithm, PublicAlgorithm},
        ecc::EccCurve,
    },
    structures::{
        EccParameter, EccPoint, EccScheme, EccSignature, HashScheme, Public, PublicBuilder,
        PublicEccParametersBuilder,
    },
    traits::Marshall,
};

use crate::{Error, Result};

/// The public half of a one-time key: a P-256 point.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ExternalKey {
    pub x: [u8; 32],
    pub y: [u8; 32],
}

/// A P-256 signing key that lives only in this process, only briefly.
pub(crate) struct OneTimeKey {
    key: SigningKey,
}

impl std::fmt::Debug for OneTimeKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OneTimeKey(<redacted>)")
    }
}

fn no_randomness() -> Error {
    Error::Tpm {
        op: "one-time key",
        code: "no OS randomness".into(),
    }
}

impl OneTimeKey {
    pub fn generate() -> Result<Self> {
        loop {
            let mut b = [0u8; 32];
            getrandom::fill(&mut b).map_err(|_| no_randomness())?;
            let made = SigningKey::from_slice(&b);
            zeroize::Zeroize::zeroize(&mut b);
            // Out-of-range scalars (probability ~2^-32) are drawn again.
            if let Ok(key) = made {
                return Ok(OneTimeKey { key });
            }
        }
    }

    pub fn public(&self) -> ExternalKey {
        external_of(self.key.verifying_key())
    }

    /// ECDSA over a SHA-256 digest the caller computed (the TPM's aHash).
    pub fn sign(&self, digest: &[u8; 32]) -> Result<[u8; 64]> {
        let sig: Signature = self.key.sign_prehash(digest).map_err(|_| Error::Tpm {
            op: "one-time key",
            code: "signing failed".into(),
        })?;
        let mut out = [0u8; 64];
        out.copy_from_slice(&sig.to_bytes());
        Ok(out)
    }
}

fn external_of(v: &VerifyingKey) -> ExternalKey {
    let point = v.as_affine().to_sec1_point(false);
    let b = point.as_bytes();
    let (mut x, mut y) = ([0u8; 32], [0u8; 32]);
    // An uncompressed P-256 point is 0x04 ‖ x(32) ‖ y(32).
    if b.len() == 65 {
        x.copy_from_slice(&b[1..33]);
        y.copy_from_slice(&b[33..]);
    }
    ExternalKey { x, y }
}

impl ExternalKey {
    /// The public area loaded with TPM2_LoadExternal: an unrestricted ECDSA-SHA256 signing
    /// key with no fixedTPM/fixedParent (external objects may not claim them).
    pub fn public_area(&self) -> Result<Public> {
        let err = |e| Error::tss("one-time key template", e);
        let attrs = ObjectAttributesBuilder::new()
            .with_user_with_auth(true)
            .with_sign_encrypt(true)
            .build()
            .map_err(err)?;
        let params = PublicEccParametersBuilder::new_unrestricted_signing_key(
            EccScheme::EcDsa(HashScheme::new(HashingAlgorithm::Sha256)),
            EccCurve::NistP256,
        )
        .build()
        .map_err(err)?;
        PublicBuilder::new()
            .with_public_algorithm(PublicAlgorithm::Ecc)
            .with_name_hashing_algorithm(HashingAlgorithm::Sha256)
            .with_object_attributes(attrs)
            .with_ecc_parameters(params)
            .with_ecc_unique_identifier(EccPoint::new(
                EccParameter::try_from(self.x.to_vec()).map_err(err)?,
                EccParameter::try_from(self.y.to_vec()).map_err(err)?,
            ))
            .build()
            .map_err(err)
    }

    /// The key's Name, Part 1 §16: nameAlg (TPM_ALG_SHA256 = 0x000B) ‖ SHA-256(TPMT_PUBLIC).
    pub fn name(&self) -> Result<Vec<u8>> {
        let public = self
            .public_area()?
            .marshall()
            .map_err(|e| Error::tss("one-time key name", e))?;
        let mut name = vec![0x00, 0x0B];
        name.extend_from_slice(&Sha256::digest(public));
        Ok(name)
    }
}

impl ExternalKey {
    /// Whether `rs` is this key's ECDSA signature over `digest` (checked in software).
    pub fn verifies(&self, digest: &[u8; 32], rs: &[u8; 64]) -> bool {
        use p256::ecdsa::signature::hazmat::PrehashVerifier;
        let mut sec1 = [0u8; 65];
        sec1[0] = 0x04;
        sec1[1..33].copy_from_slice(&self.x);
        sec1[33..].copy_from_slice(&self.y);
        let (Ok(key), Ok(sig)) = (
            VerifyingKey::from_sec1_bytes(&sec1),
            Signature::from_slice(rs),
        ) else {
            return false;
        };
        key.verify_prehash(digest, &sig).is_ok()
    }
}

/// A raw r ‖ s signature as the TPM's ECDSA-SHA256 signature structure.
pub(crate) fn tpm_signature(rs: &[u8; 64]) -> Result<tss_esapi::structures::Signature> {
    let err = |e| Error::tss("one-time signature", e);
    let sig = EccSignature::create(
        HashingAlgorithm::Sha256,
        EccParameter::try_from(rs[..32].to_vec()).map_err(err)?,
        EccParameter::try_from(rs[32..].to_vec()).map_err(err)?,
    )
    .map_err(err)?;
    Ok(tss_esapi::structures::Signature::EcDsa(sig))
}

impl crate::Tpm {
    /// TPM2_PolicySigned (Part 3 §23.3) in `policy` by `key`, over the session's `nonce`
    /// with no expiration and no cpHash, under `policy_ref`: the one use of a one-time key
    /// that initialises an index. PolicySigned authorizes no handle, yet tss-esapi insists
    /// on a session: a salted HMAC session that only encrypts the (public) nonce is
    /// accepted by the TPM for a command without authorizations (Part 1 §18.6).
    pub(crate) fn policy_signed_once(
        &mut self,
        policy: tss_esapi::interface_types::session_handles::PolicySession,
        nonce: tss_esapi::structures::Nonce,
        key: &OneTimeKey,
        policy_ref: &[u8],
        op: &'static str,
    ) -> Result<()> {
        use crate::policy::signed_message;
        use crate::session::{flush_session, start_salted_hmac, ParamEncryption};
        let signature = key.sign(&signed_message(nonce.value(), 0, &[], policy_ref))?;
        let tpm_sig = tpm_signature(&signature)?;
        let loaded = self
            .ctx
            .load_external_public(
                key.public().public_area()?,
                tss_esapi::interface_types::resource_handles::Hierarchy::Null,
            )
            .map_err(|e| Error::tss(op, e))?;
        let encrypt_only = ParamEncryption {
            decrypt: true,
            encrypt: false,
        };
        let signed = start_salted_hmac(&mut self.ctx, self.root, encrypt_only, op).and_then(|s| {
            let r = self.ctx.execute_with_session(Some(s), |c| {
                c.policy_signed(
                    policy,
                    loaded.into(),
                    nonce,
                    tss_esapi::structures::Digest::default(),
                    tss_esapi::structures::Nonce::try_from(policy_ref.to_vec())?,
                    None,
                    tpm_sig,
                )
            });
            flush_session(&mut self.ctx, s);
            r.map_err(|e| Error::tss(op, e))
        });
        self.flush_object(loaded.into());
        signed.map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use p256::ecdsa::signature::hazmat::PrehashVerifier;

    #[test]
    fn keys_are_fresh_and_their_signatures_verify() {
        let a = OneTimeKey::generate().expect("key");
        let b = OneTimeKey::generate().expect("key");
        assert_ne!(a.public(), b.public());
        assert_ne!(
            a.public().name().expect("name"),
            b.public().name().expect("name")
        );
        let d = [7u8; 32];
        let rs = a.sign(&d).expect("sign");
        let sig = Signature::from_slice(&rs).expect("sig");
        a.key
            .verifying_key()
            .verify_prehash(&d, &sig)
            .expect("verifies");
        assert!(!format!("{a:?}").contains(&format!("{:?}", a.key.to_bytes())));
    }
}
