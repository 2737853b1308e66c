//! What the PIN protects, anchored where only the PIN can sign (issue 21; docs/DESIGN.md
//! "Anchors").
//!
//! The store's seal stops whoever has the file but not the TPM. Whoever has the TPM too — a
//! program running as the user, a thief who boots another OS — can reseal an edited or an
//! older store. So every change that loosens a protection, or deletes a passkey, with the
//! PIN is also recorded in a *protection statement*: the protections as they are after it,
//! the passkeys deleted with the PIN, and the PIN epoch counter's next value, signed by the
//! enrolment's anchor key — a TPM key that signs only after the PIN. At every start the
//! statement must verify, carry the counter's value (one ahead: a crash before the step,
//! which is finished), and the store must be at least as strict as it says, with none of
//! its deleted passkeys back. An edit and a reseal without the PIN (F4), or an older store
//! put back and resealed (F2), is refused, naming what changed.
//!
//! Commit protocol (as the seal's): sign for `epoch + 1`, commit the change and the
//! statement in one transaction, then step the counter. A crash before the commit leaves
//! the old statement and counter; after it, the statement is one ahead and the next start
//! steps. Tightening needs no PIN and writes no statement: until the PIN is next typed
//! (when the statement is renewed), someone with the TPM can undo a tightening on disk —
//! never go below what the last statement says.

use std::collections::{BTreeMap, BTreeSet};

use p256::ecdsa::{signature::hazmat::PrehashVerifier, Signature, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use tpm_passkey_ipc::{SiteRule, StepUp};

use crate::fatigue::{Fatigue, FatigueLimits};
use crate::settings::Settings;
use crate::{hex, Anchor, Store, StoreError};

/// The store setting that holds the statement.
pub(crate) const PROTECTIONS: &str = "protections";

const LABEL: &[u8] = b"tpm-passkey protection statement v1";

/// The protections a statement vouches for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Protections {
    pub always_uv: bool,
    pub min_pin_length: u8,
    pub site_rules: BTreeMap<String, SiteRule>,
    pub fatigue: FatigueLimits,
    pub step_up: StepUp,
    pub tpm_attestation: bool,
    /// Passkeys deleted with the PIN (hex credential ids): they must never come back.
    pub revoked: BTreeSet<String>,
}

/// A signed statement, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Statement {
    pub epoch: u64,
    pub protections: Protections,
    /// DER ECDSA signature by the anchor key over [`digest`], hex.
    pub signature: String,
}

/// What the anchor key signs: SHA-256(label ‖ epoch ‖ the protections as JSON). The JSON
/// is this code's own (maps and sets in key order), so the bytes are the same whenever the
/// value is.
pub(crate) fn digest(epoch: u64, p: &Protections) -> Result<[u8; 32], StoreError> {
    let json = serde_json::to_vec(p).map_err(|_| StoreError::Malformed("protections"))?;
    let mut h = Sha256::new();
    h.update(LABEL);
    h.update(epoch.to_be_bytes());
    h.update(json);
    Ok(h.finalize().into())
}

impl Protections {
    /// The protections `settings` and `rules` give, with `revoked` carried over.
    pub(crate) fn of(
        settings: &Settings,
        rules: Vec<(String, SiteRule)>,
        revoked: BTreeSet<String>,
    ) -> Self {
        Protections {
            always_uv: settings.always_uv,
            min_pin_length: settings.min_pin_length,
            site_rules: rules.into_iter().collect(),
            fatigue: settings.fatigue,
            step_up: settings.step_up,
            tpm_attestation: settings.tpm_attestation,
            revoked,
        }
    }

    /// What in `self` (the store now) is looser than `anchored` (the statement), in words.
    pub(crate) fn loosened_from(&self, anchored: &Protections) -> Vec<String> {
        let mut out = Vec::new();
        if anchored.always_uv && !self.always_uv {
            out.push("alwaysUv was turned off".to_owned());
        }
        if self.min_pin_length < anchored.min_pin_length {
            out.push(format!(
                "the minimum PIN length was lowered from {} to {}",
                anchored.min_pin_length, self.min_pin_length
            ));
        }
        for (site, rule) in &anchored.site_rules {
            match (rule, self.site_rules.get(site)) {
                (_, None) => out.push(format!("the {} rule for {site} was lifted", rule.as_str())),
                (SiteRule::Block, Some(SiteRule::RequirePin)) => {
                    out.push(format!("the block on {site} became require-PIN"))
                }
                _ => {}
            }
        }
        if !Fatigue::stricter_or_equal(&self.fatigue, &anchored.fatigue) {
            out.push("the prompt limits were loosened".to_owned());
        }
        if !step_up_stricter_or_equal(&self.step_up, &anchored.step_up) {
            out.push("step-up by risk was loosened".to_owned());
        }
        if self.tpm_attestation && !anchored.tpm_attestation {
            out.push("tpm attestation was turned on".to_owned());
        }
        out
    }
}

/// Whether `new` step-up settings are at least as strict as `old` (off, a longer age, new
/// sites not asked: each looser).
pub(crate) fn step_up_stricter_or_equal(new: &StepUp, old: &StepUp) -> bool {
    (new.enabled || !old.enabled)
        && new.uv_max_age_secs <= old.uv_max_age_secs
        && (new.new_sites || !old.new_sites)
}

/// The stored statement, if any.
pub(crate) fn stored(store: &Store) -> Result<Option<Statement>, StoreError> {
    store
        .setting(PROTECTIONS)?
        .map(|json| serde_json::from_str(&json).map_err(|_| StoreError::Malformed("protections")))
        .transpose()
}

/// Whether `s` is the anchor key's signature for its epoch and protections.
pub(crate) fn verifies(anchor: &Anchor, s: &Statement) -> bool {
    let (Ok(d), Some(sig)) = (digest(s.epoch, &s.protections), hex::decode(&s.signature)) else {
        return false;
    };
    let (Ok(key), Ok(sig)) = (
        VerifyingKey::from_sec1_bytes(&anchor.key.to_sec1()),
        Signature::from_der(&sig),
    ) else {
        return false;
    };
    key.verify_prehash(&d, &sig).is_ok()
}

/// How the store stands against the statement, at a start.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// No statement yet, and none ever made (the epoch counter never moved).
    NotYet,
    /// It verifies, matches the counter, and nothing is looser.
    Holds(Statement),
    /// As `Holds`, but one ahead of the counter: a crash came before the step.
    HoldsStepOwed(Statement),
}

/// Checks the store (`now`, with its `present` passkeys' ids) against its statement.
pub(crate) fn check(
    anchor: &Anchor,
    statement: Option<Statement>,
    now: &Protections,
    present: &dyn Fn(&[u8]) -> Option<String>,
) -> Result<Verdict, StoreError> {
    let Some(s) = statement else {
        if anchor.epoch == anchor.epoch_start {
            return Ok(Verdict::NotYet);
        }
        return Err(StoreError::SealBroken(
            "the statement of what the PIN protects is missing",
        ));
    };
    if !verifies(anchor, &s) {
        return Err(StoreError::SealBroken(
            "the statement of what the PIN protects does not verify",
        ));
    }
    let step_owed = match s.epoch {
        e if e == anchor.epoch => false,
        e if e == anchor.epoch.saturating_add(1) => true,
        e => {
            return Err(StoreError::PinChangesRolledBack {
                store: e,
                tpm: anchor.epoch,
            })
        }
    };
    let mut changes = now.loosened_from(&s.protections);
    for id in &s.protections.revoked {
        if let Some(which) = hex::decode(id).and_then(|id| present(&id)) {
            changes.push(format!(
                "the passkey for {which}, deleted with the PIN, is back"
            ));
        }
    }
    if !changes.is_empty() {
        return Err(StoreError::Loosened(changes.join("; ")));
    }
    Ok(if step_owed {
        Verdict::HoldsStepOwed(s)
    } else {
        Verdict::Holds(s)
    })
}
