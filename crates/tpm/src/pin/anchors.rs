//! What a PIN enrolment vouches for (issue 21; docs/DESIGN.md "Anchors"): the audit index,
//! the rollback counter, the PIN epoch counter and a PIN-bound anchor key, named in one
//! statement signed by the PIN index's *approver* — the one-time key whose Name is in the
//! index's policy (branch C) and which is dropped once it has signed. Nobody, the TPM's
//! owner included, can sign for that key again, and the index's Name (which nobody can
//! rebuild) commits to it; so the statement cannot be made for a look-alike index or key.
//!
//! An anchored index is told apart from one made before anchors by its policy, not by the
//! record: its branch C authorizes with [`CHANGE_REF_ANCHORED`] where the older one uses
//! `CHANGE_REF`, so a record edited to look older no longer matches the TPM's index.
//!
//! The anchor key is a credential-shaped P-256 key whose authPolicy is PolicySecret(PIN
//! index): the TPM signs with it only after the PIN. What it signs — the daemon's
//! protection statements — therefore proves the person typed the PIN, and is checked at a
//! start without it.

use sha2::{Digest as _, Sha256};
use tss_esapi::traits::Marshall;

use crate::{one_time_key::ExternalKey, Error, KeyBlob, Protection, Result};

/// branch C's policyRef for an anchored index.
pub(crate) const CHANGE_REF_ANCHORED: &[u8] = b"tpm-passkey PIN change, anchored";

const STATEMENT_LABEL: &[u8] = b"tpm-passkey PIN enrolment anchors v1";

/// What an enrolment anchors; all of it public, kept in the PIN index's record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Anchors {
    /// The audit index's Name at enrolment.
    pub audit_name: Vec<u8>,
    /// The rollback counter's Name at enrolment.
    pub counter_name: Vec<u8>,
    /// The PIN epoch counter (handle, first branch, Name), and its value when the
    /// enrolment made it: until it moves, no protection statement has been made yet.
    pub epoch: crate::EpochCounter,
    pub epoch_start: u64,
    /// The anchor key's blob (public area and wrapped private area).
    pub key: Vec<u8>,
    /// The approver's signature (r ‖ s) over [`Anchors::statement`].
    pub signature: [u8; 64],
}

/// The objects an enrolment anchors that exist before it (the key store's indexes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnchorTargets {
    pub audit_name: Vec<u8>,
    pub counter_name: Vec<u8>,
}

fn length_prefixed(h: &mut Sha256, part: &[u8]) {
    h.update((part.len() as u32).to_be_bytes());
    h.update(part);
}

impl Anchors {
    /// SHA-256(label ‖ each part length-prefixed: the PIN index's Name, the audit index's,
    /// the rollback counter's, the epoch counter's, the anchor key's public area).
    pub(crate) fn statement(&self, pin_name: &[u8]) -> Result<[u8; 32]> {
        let key = KeyBlob::from_bytes(&self.key)?;
        let public = key
            .public
            .marshall()
            .map_err(|e| Error::tss("anchor statement", e))?;
        let mut h = Sha256::new();
        h.update(STATEMENT_LABEL);
        h.update(self.epoch_start.to_be_bytes());
        for part in [
            pin_name,
            &self.audit_name,
            &self.counter_name,
            self.epoch.name(),
            &public,
        ] {
            length_prefixed(&mut h, part);
        }
        Ok(h.finalize().into())
    }

    /// The anchor key, checked to be bound to the index named `pin_name` (its authPolicy is
    /// PolicySecret(that index), so the TPM signs with it only after the PIN).
    pub fn key_blob(&self, pin_name: &[u8]) -> Result<KeyBlob> {
        let key = KeyBlob::from_bytes(&self.key)?;
        match key.protection() {
            Protection::Pin { policy } if policy == crate::policy_secret_digest(pin_name) => {
                Ok(key)
            }
            _ => Err(Error::BadBlob(
                "the anchor key is not bound to this PIN index",
            )),
        }
    }

    /// Whether the approver signed this statement for the index named `pin_name`.
    pub(crate) fn verify(&self, approver: &ExternalKey, pin_name: &[u8]) -> bool {
        self.key_blob(pin_name).is_ok()
            && self
                .statement(pin_name)
                .is_ok_and(|s| approver.verifies(&s, &self.signature))
    }

    /// The record's tail: each part length-prefixed (u16), then the signature.
    pub(crate) fn to_record(&self, out: &mut Vec<u8>) {
        let (handle, first_branch, epoch_name) = self.epoch.to_parts();
        for part in [
            &self.audit_name[..],
            &self.counter_name,
            &epoch_name,
            &self.key,
        ] {
            out.extend_from_slice(&(part.len().min(usize::from(u16::MAX)) as u16).to_be_bytes());
            out.extend_from_slice(part);
        }
        out.extend_from_slice(&handle.to_be_bytes());
        out.extend_from_slice(&first_branch);
        out.extend_from_slice(&self.epoch_start.to_be_bytes());
        out.extend_from_slice(&self.signature);
    }

    /// Parses [`Anchors::to_record`]; every malformed input is an error, never a guess.
    pub(crate) fn from_record(mut b: &[u8]) -> Result<Self> {
        let bad = || Error::BadBlob("the PIN index record's anchors are malformed");
        let mut part = || -> Result<Vec<u8>> {
            if b.len() < 2 {
                return Err(bad());
            }
            let len = usize::from(u16::from_be_bytes([b[0], b[1]]));
            let rest = &b[2..];
            if rest.len() < len {
                return Err(bad());
            }
            let (p, rest) = rest.split_at(len);
            b = rest;
            Ok(p.to_vec())
        };
        let audit_name = part()?;
        let counter_name = part()?;
        let epoch_name = part()?;
        let key = part()?;
        if b.len() != 4 + 32 + 8 + 64 {
            return Err(bad());
        }
        let handle = u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
        let mut first_branch = [0u8; 32];
        first_branch.copy_from_slice(&b[4..36]);
        let mut start = [0u8; 8];
        start.copy_from_slice(&b[36..44]);
        let mut signature = [0u8; 64];
        signature.copy_from_slice(&b[44..]);
        Ok(Anchors {
            audit_name,
            counter_name,
            epoch: crate::EpochCounter::from_parts(handle, first_branch, epoch_name),
            epoch_start: u64::from_be_bytes(start),
            key,
            signature,
        })
    }
}
