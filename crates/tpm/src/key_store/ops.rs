//! The [`KeyStore`] operations, each one [`TpmKeyStore::run`] on the TPM.

use tpm_passkey_core::wire::cose::P256Key;
use tpm_passkey_core::{
    Attesting, AuditAnchoring, KeyError, KeyStore, NewKey, PinProtection, Sealing, SecretBytes,
    TpmHealth,
};

use super::{state, TpmKeyStore};
use crate::{Error, KeyAuth, KeyBlob, PinHash, Protection, RootSeed};

/// What the hmac-secret keys MAC before the credential's material.
const PRF_LABEL: &[u8] = b"tpm-passkey hmac-secret v2";
/// What the same key MACs before a store seal's message.
const SEAL_LABEL: &[u8] = b"tpm-passkey store seal v1";

/// TPM errors as the engine sees them: PIN outcomes distinct, the rest opaque (detail in
/// the message, which never carries a secret). Only the PIN index's own authorization
/// failure is a wrong PIN; an owner-password failure is not the user's PIN.
pub(crate) fn to_key_error(e: Error) -> KeyError {
    match e {
        Error::WrongPin => KeyError::PinInvalid,
        Error::PinBlocked => KeyError::PinBlocked,
        Error::PinRequired => KeyError::PinRequired,
        Error::BadBlob(_) => KeyError::BadBlob,
        Error::Unreachable { .. } | Error::Connect { .. } | Error::StateLost { .. } => {
            KeyError::Unreachable
        }
        other => KeyError::Other(other.to_string()),
    }
}

impl KeyStore for TpmKeyStore {
    fn create_key(&mut self, pin_bound: bool) -> Result<NewKey, KeyError> {
        let index = if pin_bound { Some(self.index()?) } else { None };
        let made = self.run(|s| s.tpm()?.create_key(index.as_ref()))?;
        let public = P256Key::from_sec1(made.public.to_sec1_point(false).as_bytes())
            .map_err(|_| KeyError::Other("TPM returned an unusable public key".into()))?;
        Ok(NewKey {
            blob: made.blob.to_bytes().map_err(to_key_error)?,
            public,
        })
    }

    fn sign(
        &mut self,
        blob: &[u8],
        digest: &[u8; 32],
        pin: Option<&PinHash>,
    ) -> Result<Vec<u8>, KeyError> {
        let blob = KeyBlob::from_bytes(blob).map_err(|_| KeyError::BadBlob)?;
        let index = self.pin.clone();
        let sig = self.run(|s| {
            let auth = match (pin, index.as_ref()) {
                (Some(p), Some(i)) => KeyAuth::pin(i, p),
                _ => KeyAuth::None,
            };
            s.tpm()?.sign(&blob, digest, auth)
        });
        if pin.is_some() {
            self.learn_retries(&sig);
        }
        Ok(sig?.to_der().as_bytes().to_vec())
    }

    fn pin_is_set(&self) -> bool {
        self.pin.is_some()
    }

    fn pin_retries(&mut self) -> Result<u8, KeyError> {
        let index = self.index()?;
        let r = self.run(|s| s.tpm()?.pin_retries(&index))?;
        let left = u8::try_from(r.remaining).unwrap_or(u8::MAX);
        self.known_retries = Some(left);
        Ok(left)
    }

    fn pin_retries_for_prompt(&mut self) -> Result<u8, KeyError> {
        match self.known_retries {
            Some(n) if self.pin.is_some() => Ok(n),
            _ => self.pin_retries(),
        }
    }

    fn set_pin(&mut self, pin: &PinHash) -> Result<(), KeyError> {
        self.enrol(pin, true)
    }

    fn verify_pin(&mut self, pin: &PinHash) -> Result<(), KeyError> {
        let index = self.index()?;
        let out = self.run(|s| s.tpm()?.verify_pin(&index, pin));
        self.learn_retries(&out);
        out
    }

    fn change_pin(&mut self, old: &PinHash, new: &PinHash) -> Result<(), KeyError> {
        let index = self.index()?;
        let out = self.run(|s| s.tpm()?.change_pin(&index, old, new));
        self.learn_retries(&out);
        out
    }

    fn cred_random(
        &mut self,
        material: &[u8],
        pin: Option<&PinHash>,
    ) -> Result<SecretBytes, KeyError> {
        let input = [PRF_LABEL, material].concat();
        let (key, index) = match pin {
            Some(_) => (
                self.prf_uv.clone().ok_or(KeyError::PinNotSet)?,
                Some(self.index()?),
            ),
            None => (
                self.prf
                    .clone()
                    .ok_or_else(|| KeyError::Other("no hmac-secret key".into()))?,
                None,
            ),
        };
        let bytes = self.run(|s| {
            let auth = match (pin, index.as_ref()) {
                (Some(p), Some(i)) => KeyAuth::pin(i, p),
                _ => KeyAuth::None,
            };
            s.tpm()?.prf(&key, &input, auth)
        });
        if pin.is_some() {
            self.learn_retries(&bytes);
        }
        let mut bytes = bytes?;
        let secret = SecretBytes::new(bytes.to_vec());
        zeroize::Zeroize::zeroize(&mut bytes);
        Ok(secret)
    }

    fn pin_protection(&self) -> PinProtection {
        match &self.pin {
            Some(i) if i.is_legacy() => PinProtection::Legacy,
            Some(i) if i.anchors().is_some() => PinProtection::Anchored,
            Some(_) => PinProtection::Sealed,
            None if self.pin_lost => PinProtection::Lost,
            None => PinProtection::NotSet,
        }
    }

    fn reset(&mut self) -> Result<(), KeyError> {
        let seed = RootSeed::generate().map_err(to_key_error)?;
        let (prf, name) = self.run(|s| {
            let tpm = s.tpm()?;
            tpm.replace_root(&seed)?;
            let name = tpm.root_name()?;
            let prf = tpm.create_prf_key(None)?;
            Ok((prf, name))
        })?;
        // The old index is undefined by `collect_garbage`, after the engine has saved the
        // state that no longer names it: a crash before that save keeps the old PIN.
        if let Some(old) = self.pin.take() {
            self.retired = Some(old);
        }
        self.seed = seed;
        self.pin_lost = false;
        self.known_retries = None;
        self.prf_uv = None;
        self.prf = Some(prf);
        // A reset makes this TPM the one everything belongs to.
        self.root_name = Some(name);
        self.replaced = false;
        Ok(())
    }

    fn collect_garbage(&mut self) -> Result<bool, KeyError> {
        let Some(old) = self.retired.clone() else {
            return Ok(false);
        };
        // The enrolment's epoch counter goes with its PIN index (best effort: one that is
        // already gone is not retried).
        if let Some(a) = old.anchors().cloned() {
            let _ = self.run(|s| s.tpm()?.undefine_epoch_counter(&a.epoch));
        }
        match self.run(|s| s.tpm()?.undefine_pin_index(old.clone())) {
            Ok(()) | Err(KeyError::Other(_)) | Err(KeyError::BadBlob) => {
                // Gone already, or not ours to delete any more: nothing to retry.
                self.retired = None;
                Ok(true)
            }
            Err(e) => Err(e),
        }
    }

    fn state(&self) -> SecretBytes {
        SecretBytes::new(state::encode(
            &self.seed,
            self.pin.as_ref(),
            [self.prf.as_ref(), self.prf_uv.as_ref()],
            self.root_name.as_deref(),
            self.retired.as_ref(),
            self.counter.as_ref(),
            self.audit.as_ref(),
        ))
    }

    fn ensure_ready(&mut self) -> Result<(), KeyError> {
        self.ready()
    }

    fn health(&self) -> TpmHealth {
        self.health_now()
    }

    fn probe(&mut self) -> TpmHealth {
        TpmKeyStore::probe(self)
    }

    fn key_usable(&mut self, blob: &[u8]) -> Result<bool, KeyError> {
        let Ok(blob) = KeyBlob::from_bytes(blob) else {
            return Ok(false);
        };
        if let Protection::Pin { policy } = blob.protection() {
            // Bound to a PIN index: it must be this one (PolicySecret names it).
            match &self.pin {
                Some(i) if i.key_policy() == policy => {}
                _ => return Ok(false),
            }
        }
        self.run(|s| s.tpm()?.key_loads(&blob))
    }

    fn accept_device(&mut self) {
        if !self.replaced {
            return;
        }
        if let Ok(name) = self.run(|s| s.tpm()?.root_name()) {
            self.root_name = Some(name);
            self.replaced = false;
            // Keys and a counter of its own on this TPM: the hmac-secret keys and the
            // counter of the other one cannot work here (their passkeys were just removed).
            self.counter = None;
            self.audit = None;
            self.prf = None;
            self.prf_uv = None;
            if let Err(e) = self.run(Self::ensure_prf_keys_on) {
                tracing::warn!(error = %e, "could not make this TPM's hmac-secret keys and rollback counter");
            }
        }
    }
}

impl Sealing for TpmKeyStore {
    fn seal_counter(&mut self) -> Result<Option<u64>, KeyError> {
        if self.replaced {
            return Ok(None);
        }
        if self.counter_lost {
            return Err(KeyError::CounterGone);
        }
        let Some(c) = self.counter.clone() else {
            return Ok(None);
        };
        self.run(|s| s.tpm()?.read_counter(&c)).map(Some)
    }

    fn advance_seal_counter(&mut self) -> Result<u64, KeyError> {
        let c = self
            .counter
            .clone()
            .ok_or_else(|| KeyError::Other("no rollback counter".into()))?;
        self.run(|s| s.tpm()?.increment_counter(&c))
    }

    fn seal_mac(&mut self, message: &[u8; 32]) -> Result<[u8; 32], KeyError> {
        // The without-UV hmac-secret key, under its own label: no hmac-secret input starts
        // with it (those start with PRF_LABEL).
        let key = self
            .prf
            .clone()
            .ok_or_else(|| KeyError::Other("no sealing key".into()))?;
        let input = [SEAL_LABEL, &message[..]].concat();
        self.run(|s| s.tpm()?.mac_in_clear(&key, &input))
    }
}

impl Attesting for TpmKeyStore {
    fn certify_key(
        &mut self,
        blob: &[u8],
        extra: &[u8; 32],
    ) -> Result<tpm_passkey_core::KeyCertification, KeyError> {
        self.certify(blob, extra)
    }
}

impl AuditAnchoring for TpmKeyStore {
    fn audit_anchor(&mut self) -> Result<Option<tpm_passkey_core::AuditAnchor>, KeyError> {
        self.anchor()
    }

    fn audit_checkpoint(
        &mut self,
        message: &[u8; 32],
    ) -> Result<tpm_passkey_core::AuditStatement, KeyError> {
        self.checkpoint(message)
    }

    fn audit_statement(
        &mut self,
        nonce: &[u8; 32],
    ) -> Result<tpm_passkey_core::AuditStatement, KeyError> {
        self.audit_now(nonce)
    }
}

/// All retries: what a successful PIN check leaves (CTAP 2.1 §6.5.2.1).
fn full_retries() -> u8 {
    u8::try_from(crate::PIN_LIMIT).unwrap_or(u8::MAX)
}

impl TpmKeyStore {
    /// Sets the first PIN; `anchored`: with the enrolment's anchors (issue 21) when this
    /// state has an audit index and a rollback counter to anchor.
    pub(super) fn enrol(&mut self, pin: &PinHash, anchored: bool) -> Result<(), KeyError> {
        if self.pin.is_some() {
            return Err(KeyError::Other("a PIN index already exists".into()));
        }
        // The enrolment anchors the audit index and the rollback counter this state has
        // (issue 21): from now on a look-alike of either is told apart from the TPM alone.
        let targets = match (&self.audit, &self.counter) {
            (Some(a), Some(c))
                if anchored && !self.audit_lost && !self.counter_lost && !self.replaced =>
            {
                Some(crate::AnchorTargets {
                    audit_name: a.name().to_vec(),
                    counter_name: c.to_parts().2,
                })
            }
            _ => None,
        };
        let (index, prf_uv) = self.run(|s| {
            let tpm = s.tpm()?;
            let index = tpm.define_pin_index_anchoring(None, pin, targets.as_ref())?;
            let prf_uv = tpm.create_prf_key(Some(&index))?;
            Ok((index, prf_uv))
        })?;
        self.pin = Some(index);
        self.prf_uv = Some(prf_uv);
        self.pin_lost = false;
        self.known_retries = Some(full_retries());
        Ok(())
    }

    /// What the outcome of an operation that proved a PIN says of the retries left: all of
    /// them after a success (the TPM reset pinCount), none when blocked, unknown after
    /// anything else (read afresh when next needed).
    pub(super) fn learn_retries<T>(&mut self, outcome: &Result<T, KeyError>) {
        self.known_retries = match outcome {
            Ok(_) => Some(full_retries()),
            Err(KeyError::PinBlocked) => Some(0),
            Err(_) => None,
        };
    }
}
