//! A software key store with the TPM's semantics, for fast engine tests: PIN-bound keys
//! refuse to sign without the right PIN, wrong PINs count up to a limit of 8 and the right
//! one resets the count, hmac-secret's with-UV value needs the PIN, and reset makes every
//! older blob useless. Never in the product: its blobs hold raw private scalars.

use hmac::{Hmac, Mac};
use p256::ecdsa::{signature::hazmat::PrehashSigner, Signature, SigningKey};
use p256::elliptic_curve::sec1::ToSec1Point;
use sha2::Sha256;
use tpm_passkey_core::wire::cose::P256Key;
use tpm_passkey_core::{KeyError, KeyStore, NewKey, PinHash, PinProtection, SecretBytes};

/// The soft audit index's Name (its last byte: how often it was made anew).
fn soft_audit_name(generation: u8) -> [u8; 4] {
    [0, 11, 0xa0, generation]
}

/// The soft attestation key (fixed: these keys are not a product's).
pub fn soft_attestation_key() -> SigningKey {
    soft_attestation_key_of(0)
}

/// The attestation key of the soft TPM after `replaced` replacements.
fn soft_attestation_key_of(replaced: u8) -> SigningKey {
    SigningKey::from_slice(&[0x42 + replaced; 32]).expect("a valid scalar")
}

/// A TPM2B: big-endian u16 size, then the bytes.
fn sized(out: &mut Vec<u8>, b: &[u8]) {
    out.extend_from_slice(&(b.len() as u16).to_be_bytes());
    out.extend_from_slice(b);
}

/// The TPM PIN index's pinLimit.
pub const PIN_LIMIT: u8 = 8;

/// See the module documentation. `Clone`, so that a test can keep the device as it was
/// when an engine that took it refuses to start.
#[derive(Debug, Default, Clone)]
pub struct SoftKeys {
    generation: u32,
    pin: Option<PinHash>,
    failures: u8,
    /// Counts signatures, so tests can see that a refused request signed nothing.
    pub signatures: u32,
    /// The anti-rollback counter, when the test wants one ([`SoftKeys::with_counter`]);
    /// public so that a test can play someone who advances it.
    pub counter: Option<u64>,
    /// The next counter step fails (a crash or an unreachable device between a change's
    /// commit and its step).
    pub fail_next_advance: bool,
    /// The next seal MAC fails (a crash before the change's commit).
    pub fail_next_mac: bool,
    /// The audit index's value, when the test wants one ([`SoftKeys::with_audit`]); public
    /// so that a test can play someone who extends it.
    pub audit: Option<[u8; 32]>,
    /// The next checkpoint extends the index and then fails (a crash before its statement
    /// is stored).
    pub fail_after_next_extend: bool,
    /// Statements about the audit index fail (the TPM away, or its index gone).
    pub audit_unreachable: bool,
    /// How often the audit index was made anew ([`SoftKeys::renew_audit_index`]).
    audit_generation: u8,
    /// How often the soft TPM was replaced ([`SoftKeys::replace_tpm`]): another attestation
    /// key.
    tpm_generation: u8,
    /// The PIN epoch counter, when the test wants an anchored enrolment
    /// ([`SoftKeys::with_anchor`]); public so that a test can play someone who advances it.
    pub epoch: Option<u64>,
    /// The audit index generation the PIN enrolment named, and the epoch then (set with the
    /// PIN).
    anchored_audit: Option<(u8, u64)>,
    /// The next epoch step fails (a crash between a statement's commit and its step).
    pub fail_next_epoch: bool,
}

impl SoftKeys {
    pub fn new() -> Self {
        Self::default()
    }

    /// With an anti-rollback counter (starting, like a fresh TPM counter, above zero).
    pub fn with_counter() -> Self {
        SoftKeys {
            counter: Some(41),
            ..Self::default()
        }
    }

    /// With an anti-rollback counter and an audit index (initialised as the TPM's is).
    pub fn with_audit() -> Self {
        use tpm_passkey_core::audit_proof::{extend, genesis};
        SoftKeys {
            audit: Some(extend(&[0; 32], &genesis())),
            ..Self::with_counter()
        }
    }

    /// With a counter, an audit index and an anchored PIN enrolment (issue 21): setting the
    /// PIN names the audit index, and a soft anchor key signs only with the PIN.
    pub fn with_anchor() -> Self {
        SoftKeys {
            epoch: Some(7),
            ..Self::with_audit()
        }
    }

    fn anchor_key(&self) -> SigningKey {
        use sha2::Digest as _;
        let seed = sha2::Sha256::digest(
            [b"soft anchor".as_slice(), &self.generation.to_be_bytes()].concat(),
        );
        SigningKey::from_slice(&seed).expect("a SHA-256 digest is a valid P-256 scalar")
    }

    /// The audit index made anew (another Name, back to its genesis): what accepting a store
    /// whose index was gone does.
    pub fn renew_audit_index(&mut self) {
        use tpm_passkey_core::audit_proof::{extend, genesis};
        self.audit_generation = self.audit_generation.wrapping_add(1);
        self.audit = Some(extend(&[0; 32], &genesis()));
        self.audit_unreachable = false;
    }

    /// Another TPM, accepted: another attestation key, and an audit index of its own.
    pub fn replace_tpm(&mut self) {
        self.tpm_generation = self.tpm_generation.wrapping_add(1);
        self.renew_audit_index();
    }

    fn attestation_key(&self) -> SigningKey {
        soft_attestation_key_of(self.tpm_generation)
    }

    /// Extends the soft audit index (what any program with the TPM can do).
    pub fn extend_audit(&mut self, data: &[u8; 32]) {
        if let Some(v) = &mut self.audit {
            *v = tpm_passkey_core::audit_proof::extend(v, data);
        }
    }

    /// A TPMS_ATTEST (Part 2 §10.12.12) of type `kind` with `extra` as extraData and
    /// `attested` as its TPMU_ATTEST, signed (DER) by this soft TPM's attestation key: the
    /// TPM's format, so the engine's checks run unchanged.
    fn signed_attest(&self, kind: u16, extra: &[u8], attested: &[u8]) -> (Vec<u8>, Vec<u8>) {
        let mut a = Vec::new();
        a.extend_from_slice(&0xff54_4347u32.to_be_bytes());
        a.extend_from_slice(&kind.to_be_bytes());
        sized(&mut a, &[0, 11]); // qualifiedSigner
        sized(&mut a, extra);
        a.extend_from_slice(&[0; 8 + 4 + 4 + 1 + 8]); // clockInfo, firmwareVersion
        a.extend_from_slice(attested);
        let sig: Signature = p256::ecdsa::signature::Signer::sign(&self.attestation_key(), &a);
        (a, sig.to_der().as_bytes().to_vec())
    }

    /// A TPMS_ATTEST of type TPM_ST_ATTEST_NV over the soft index.
    fn certify_audit(
        &self,
        extra: &[u8; 32],
    ) -> Result<tpm_passkey_core::AuditStatement, KeyError> {
        let value = self
            .audit
            .ok_or_else(|| KeyError::Other("no audit index".into()))?;
        let mut attested = Vec::new();
        sized(&mut attested, &soft_audit_name(self.audit_generation));
        attested.extend_from_slice(&0u16.to_be_bytes()); // offset
        sized(&mut attested, &value);
        let (a, signature) = self.signed_attest(0x8014, extra, &attested);
        Ok(tpm_passkey_core::AuditStatement {
            attest: a,
            signature,
        })
    }

    fn check(&mut self, pin: &PinHash) -> Result<(), KeyError> {
        let Some(set) = &self.pin else {
            return Err(KeyError::PinNotSet);
        };
        if self.failures >= PIN_LIMIT {
            return Err(KeyError::PinBlocked);
        }
        if set.expose_secret_bytes() == pin.expose_secret_bytes() {
            self.failures = 0;
            Ok(())
        } else {
            self.failures += 1;
            Err(KeyError::PinInvalid)
        }
    }
}

impl KeyStore for SoftKeys {
    fn create_key(&mut self, pin_bound: bool) -> Result<NewKey, KeyError> {
        if pin_bound && self.pin.is_none() {
            return Err(KeyError::PinNotSet);
        }
        let mut scalar = [0u8; 32];
        let key = loop {
            getrandom::fill(&mut scalar).map_err(|_| KeyError::Other("no randomness".into()))?;
            if let Ok(k) = SigningKey::from_slice(&scalar) {
                break k;
            }
        };
        let point = key.verifying_key().as_affine().to_sec1_point(false);
        let public =
            P256Key::from_sec1(point.as_bytes()).map_err(|_| KeyError::Other("point".into()))?;
        let mut blob = self.generation.to_be_bytes().to_vec();
        blob.push(u8::from(pin_bound));
        blob.extend_from_slice(&scalar);
        Ok(NewKey { blob, public })
    }

    fn sign(
        &mut self,
        blob: &[u8],
        digest: &[u8; 32],
        pin: Option<&PinHash>,
    ) -> Result<Vec<u8>, KeyError> {
        if blob.len() != 37 || blob[..4] != self.generation.to_be_bytes() {
            return Err(KeyError::BadBlob);
        }
        if blob[4] == 1 {
            self.check(pin.ok_or(KeyError::PinRequired)?)?;
        }
        let key = SigningKey::from_slice(&blob[5..]).map_err(|_| KeyError::BadBlob)?;
        let sig: Signature = key
            .sign_prehash(digest)
            .map_err(|_| KeyError::Other("sign".into()))?;
        self.signatures += 1;
        Ok(sig.to_der().as_bytes().to_vec())
    }

    fn pin_is_set(&self) -> bool {
        self.pin.is_some()
    }

    fn pin_retries(&mut self) -> Result<u8, KeyError> {
        if self.pin.is_none() {
            return Err(KeyError::PinNotSet);
        }
        Ok(PIN_LIMIT - self.failures)
    }

    fn set_pin(&mut self, pin: &PinHash) -> Result<(), KeyError> {
        self.pin = Some(pin.clone());
        self.failures = 0;
        if let Some(e) = self.epoch {
            self.anchored_audit = Some((self.audit_generation, e));
        }
        Ok(())
    }

    fn verify_pin(&mut self, pin: &PinHash) -> Result<(), KeyError> {
        self.check(pin)
    }

    fn change_pin(&mut self, old: &PinHash, new: &PinHash) -> Result<(), KeyError> {
        self.check(old)?;
        self.pin = Some(new.clone());
        Ok(())
    }

    fn cred_random(
        &mut self,
        material: &[u8],
        pin: Option<&PinHash>,
    ) -> Result<SecretBytes, KeyError> {
        if let Some(p) = pin {
            self.check(p)?;
        }
        // A per-generation key stands in for the TPM's hmac-secret keys: reset changes it.
        let mut m = <Hmac<Sha256> as Mac>::new_from_slice(&self.generation.to_be_bytes())
            .map_err(|_| KeyError::Other("hmac".into()))?;
        m.update(&[u8::from(pin.is_some())]);
        m.update(material);
        Ok(SecretBytes::new(m.finalize().into_bytes().to_vec()))
    }

    fn pin_protection(&self) -> PinProtection {
        if self.pin.is_some() && self.anchored_audit.is_some() {
            PinProtection::Anchored
        } else if self.pin.is_some() {
            PinProtection::Sealed
        } else {
            PinProtection::NotSet
        }
    }

    fn reset(&mut self) -> Result<(), KeyError> {
        self.generation += 1;
        self.pin = None;
        self.failures = 0;
        self.anchored_audit = None;
        Ok(())
    }

    fn state(&self) -> SecretBytes {
        SecretBytes::new(self.generation.to_be_bytes().to_vec())
    }
}

impl tpm_passkey_core::Sealing for SoftKeys {
    fn seal_counter(&mut self) -> Result<Option<u64>, KeyError> {
        Ok(self.counter)
    }

    fn advance_seal_counter(&mut self) -> Result<u64, KeyError> {
        if std::mem::take(&mut self.fail_next_advance) {
            return Err(KeyError::Unreachable);
        }
        let c = self
            .counter
            .as_mut()
            .ok_or_else(|| KeyError::Other("no counter".into()))?;
        *c += 1;
        Ok(*c)
    }

    fn seal_mac(&mut self, message: &[u8; 32]) -> Result<[u8; 32], KeyError> {
        if std::mem::take(&mut self.fail_next_mac) {
            return Err(KeyError::Unreachable);
        }
        // A fixed key stands for one that never leaves the device (these keys are not a
        // product's: see the module documentation).
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(b"soft keys seal key")
            .map_err(|_| KeyError::Other("hmac".into()))?;
        mac.update(message);
        Ok(mac.finalize().into_bytes().into())
    }
}

impl tpm_passkey_core::Attesting for SoftKeys {
    /// A TPMS_ATTEST of type TPM_ST_ATTEST_CERTIFY over a stand-in public area, signed by
    /// the soft attestation key: the engine's `tpm` statement path, without a TPM.
    fn certify_key(
        &mut self,
        blob: &[u8],
        extra: &[u8; 32],
    ) -> Result<tpm_passkey_core::KeyCertification, KeyError> {
        use sha2::Digest as _;
        if self.audit.is_none() {
            return Err(KeyError::Other("no attestation key".into()));
        }
        let pub_area = [b"soft pubArea ".as_slice(), blob].concat();
        let name = [&[0u8, 11][..], &sha2::Sha256::digest(&pub_area)].concat();
        let mut attested = Vec::new();
        sized(&mut attested, &name); // name
        sized(&mut attested, &name); // qualifiedName
        let (a, signature) = self.signed_attest(0x8017, extra, &attested);
        Ok(tpm_passkey_core::KeyCertification {
            cert_info: a,
            signature,
            pub_area,
        })
    }
}

impl tpm_passkey_core::AuditAnchoring for SoftKeys {
    fn audit_anchor(&mut self) -> Result<Option<tpm_passkey_core::AuditAnchor>, KeyError> {
        Ok(self.audit.map(|_| tpm_passkey_core::AuditAnchor {
            key: self
                .attestation_key()
                .verifying_key()
                .to_sec1_point(false)
                .as_bytes()
                .to_vec(),
            index_name: soft_audit_name(self.audit_generation).to_vec(),
            binding: match self.anchored_audit {
                None => tpm_passkey_core::IndexBinding::Unanchored,
                Some((g, _)) if g == self.audit_generation => {
                    tpm_passkey_core::IndexBinding::Anchored
                }
                Some(_) => tpm_passkey_core::IndexBinding::Substituted,
            },
        }))
    }

    fn audit_checkpoint(
        &mut self,
        message: &[u8; 32],
    ) -> Result<tpm_passkey_core::AuditStatement, KeyError> {
        if self.audit.is_none() {
            return Err(KeyError::Other("no audit index".into()));
        }
        if self.audit_unreachable {
            return Err(KeyError::Unreachable);
        }
        self.extend_audit(message);
        if std::mem::take(&mut self.fail_after_next_extend) {
            return Err(KeyError::Unreachable);
        }
        self.certify_audit(message)
    }

    fn audit_statement(
        &mut self,
        nonce: &[u8; 32],
    ) -> Result<tpm_passkey_core::AuditStatement, KeyError> {
        if self.audit_unreachable {
            return Err(KeyError::Unreachable);
        }
        self.certify_audit(nonce)
    }
}

impl tpm_passkey_core::Anchoring for SoftKeys {
    fn anchor(&mut self) -> Result<Option<tpm_passkey_core::Anchor>, KeyError> {
        let (Some(epoch), Some(_), Some((_, start))) = (self.epoch, &self.pin, self.anchored_audit)
        else {
            return Ok(None);
        };
        let point = self.anchor_key().verifying_key().to_sec1_point(false);
        let key = tpm_passkey_core::wire::cose::P256Key::from_sec1(point.as_bytes())
            .map_err(|_| KeyError::Other("soft anchor key".into()))?;
        Ok(Some(tpm_passkey_core::Anchor {
            key,
            epoch,
            epoch_start: start,
        }))
    }

    fn anchor_sign(&mut self, pin: &PinHash, digest: &[u8; 32]) -> Result<Vec<u8>, KeyError> {
        if self.anchored_audit.is_none() {
            return Err(KeyError::Other("no anchored PIN enrolment".into()));
        }
        self.check(pin)?;
        let sig: Signature =
            p256::ecdsa::signature::hazmat::PrehashSigner::sign_prehash(&self.anchor_key(), digest)
                .map_err(|_| KeyError::Other("soft anchor signature".into()))?;
        Ok(sig.to_der().as_bytes().to_vec())
    }

    fn advance_epoch(&mut self) -> Result<u64, KeyError> {
        if std::mem::take(&mut self.fail_next_epoch) {
            return Err(KeyError::Unreachable);
        }
        let e = self
            .epoch
            .ok_or(KeyError::Other("no epoch counter".into()))?
            + 1;
        self.epoch = Some(e);
        Ok(e)
    }
}
