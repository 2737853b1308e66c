//! The key store's side of the PIN enrolment's anchors (issue 21; `pin::anchors`): the
//! anchor key signs protection statements only with the PIN, each one carrying the epoch
//! counter's value after a step, and what the enrolment names is compared with what the
//! state records.

use tpm_passkey_core::wire::cose::P256Key;
use tpm_passkey_core::{Anchor, Anchoring, IndexBinding, KeyError, PinHash};

use super::{ops::to_key_error, TpmKeyStore};
use crate::{Anchors, AuditIndex, KeyAuth, PinIndex};

impl TpmKeyStore {
    /// The enrolment's anchors, when the PIN index is anchored and this TPM is its own.
    fn anchors(&self) -> Option<(PinIndex, Anchors)> {
        if self.replaced || self.pin_lost {
            return None;
        }
        let index = self.pin.clone()?;
        let anchors = index.anchors()?.clone();
        Some((index, anchors))
    }

    /// Sets the first PIN as versions before anchors did (no anchors): an install made
    /// then, for the tests that show what anchors stop.
    #[doc(hidden)]
    pub fn set_pin_before_anchors(&mut self, pin: &PinHash) -> Result<(), KeyError> {
        self.enrol(pin, false)
    }

    /// Whether the enrolment vouches for `index`.
    pub(super) fn audit_binding(&self, index: &AuditIndex) -> IndexBinding {
        match self.pin.as_ref().and_then(PinIndex::anchors) {
            None => IndexBinding::Unanchored,
            Some(a) if a.audit_name == index.name() => IndexBinding::Anchored,
            Some(_) => IndexBinding::Substituted,
        }
    }

    /// False when the enrolment names another rollback counter than the recorded one (the
    /// record was pointed at a look-alike).
    pub(super) fn counter_matches_enrolment(&self) -> bool {
        match (self.pin.as_ref().and_then(PinIndex::anchors), &self.counter) {
            (Some(a), Some(c)) => a.counter_name == c.to_parts().2,
            _ => true,
        }
    }
}

impl Anchoring for TpmKeyStore {
    fn anchor(&mut self) -> Result<Option<Anchor>, KeyError> {
        let Some((index, anchors)) = self.anchors() else {
            return Ok(None);
        };
        let key = anchors
            .key_blob(index.name())
            .and_then(|k| k.verifying_key())
            .map_err(to_key_error)?;
        let key = P256Key::from_sec1(key.to_sec1_point(false).as_bytes())
            .map_err(|_| KeyError::Other("the anchor key's point is unusable".into()))?;
        // Only the TPM's word that the counter is not there, or not the enrolment's, is
        // "gone" (a tampered install); anything else says nothing about it.
        let epoch = self.run(|s| {
            let tpm = s.tpm()?;
            match tpm.open_epoch_counter(&anchors.epoch) {
                Ok(()) => tpm.read_epoch(&anchors.epoch).map(Some),
                Err(e) if e.is_absent_or_foreign() => {
                    tracing::error!(error = %e, "the PIN epoch counter is gone from this TPM or is not the enrolment's");
                    Ok(None)
                }
                Err(e) => Err(e),
            }
        })?;
        match epoch {
            Some(epoch) => Ok(Some(Anchor {
                key,
                epoch,
                epoch_start: anchors.epoch_start,
            })),
            None => Err(KeyError::CounterGone),
        }
    }

    fn anchor_sign(&mut self, pin: &PinHash, digest: &[u8; 32]) -> Result<Vec<u8>, KeyError> {
        let Some((index, anchors)) = self.anchors() else {
            return Err(KeyError::Other("no anchored PIN enrolment".into()));
        };
        let key = anchors.key_blob(index.name()).map_err(to_key_error)?;
        let out = self.run(|s| {
            let sig = s.tpm()?.sign(&key, digest, KeyAuth::pin(&index, pin))?;
            Ok(sig.to_der().as_bytes().to_vec())
        });
        self.learn_retries(&out);
        out
    }

    fn advance_epoch(&mut self) -> Result<u64, KeyError> {
        let Some((_, anchors)) = self.anchors() else {
            return Err(KeyError::Other("no anchored PIN enrolment".into()));
        };
        self.run(|s| s.tpm()?.increment_epoch(&anchors.epoch))
    }
}
