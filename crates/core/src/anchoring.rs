//! The engine's side of the protection statement (`protection`): checked at a start,
//! renewed with every change the PIN authorized, and when the PIN is typed for a sign-in
//! while the store is stricter than the statement says.

use std::collections::{BTreeMap, BTreeSet};

use tpm_passkey_ipc::SiteRule;
use tpm_passkey_wire::Status;

use crate::protection::{self, Protections, Statement, Verdict, PROTECTIONS};
use crate::settings::Settings;
use crate::store::SealedWrite;
use crate::{hex, Anchor, Approver, Clock, Engine, KeyError, KeyStore, PinHash, Store, StoreError};

/// The anchor as the running engine knows it.
#[derive(Debug, Clone)]
pub(crate) struct AnchorState {
    /// The key, and the epoch counter's value as last read or stepped.
    pub anchor: Anchor,
    /// The stored statement (None: none made yet).
    pub statement: Option<Statement>,
}

/// A key-store error at a start, as a store error: a counter the device says is gone is a
/// tampered install; the device away says nothing about the store.
fn at_start(e: KeyError) -> StoreError {
    match e {
        KeyError::Unreachable => StoreError::TpmUnreachable,
        KeyError::CounterGone => {
            StoreError::SealBroken("the TPM's PIN epoch counter is gone or not the enrolment's")
        }
        other => StoreError::SealKey(other.to_string()),
    }
}

impl<K: KeyStore, A: Approver, C: Clock> Engine<K, A, C> {
    /// At a start, before anything is written: the store against its statement (see
    /// `protection::check`); a step owed by a crash is taken.
    pub(crate) fn check_protections(&mut self) -> Result<(), StoreError> {
        let Some(mut anchor) = self.keys.anchor().map_err(at_start)? else {
            self.anchor = None;
            return Ok(());
        };
        let statement = protection::stored(&self.store)?;
        let revoked = statement
            .as_ref()
            .map(|s| s.protections.revoked.clone())
            .unwrap_or_default();
        let now = Protections::of(self.settings(), self.store.site_rules()?, revoked);
        let store = &self.store;
        let present = |id: &[u8]| -> Option<String> {
            let c = store.credential(id).ok()??;
            Some(format!(
                "{} ({})",
                c.rp_id,
                c.user_name.as_deref().unwrap_or("no name")
            ))
        };
        let statement = match protection::check(&anchor, statement, &now, &present)? {
            Verdict::NotYet => None,
            Verdict::Holds(s) => Some(s),
            Verdict::HoldsStepOwed(s) => {
                tracing::info!(
                    epoch = s.epoch,
                    "finishing the PIN epoch counter's last step"
                );
                anchor.epoch = self.keys.advance_epoch().map_err(at_start)?;
                Some(s)
            }
        };
        self.anchor = Some(AnchorState { anchor, statement });
        Ok(())
    }

    /// The protections the store has now, the passkeys `revoke` names added to the ones
    /// already deleted with the PIN.
    fn protections_with(
        &self,
        settings: &Settings,
        rules: BTreeMap<String, SiteRule>,
        revoke: &[Vec<u8>],
    ) -> Option<Protections> {
        let state = self.anchor.as_ref()?;
        let mut revoked: BTreeSet<String> = state
            .statement
            .as_ref()
            .map(|s| s.protections.revoked.clone())
            .unwrap_or_default();
        revoked.extend(revoke.iter().map(|id| hex::encode(id)));
        Some(Protections::of(
            settings,
            rules.into_iter().collect(),
            revoked,
        ))
    }

    /// Commits `f` with a statement of `next` signed with `pin`, in one transaction, then
    /// steps the epoch counter (a step that fails is owed: taken before the next statement,
    /// or at the next start). Without an anchor, `f` is an ordinary sealed change.
    fn commit_anchored<T>(
        &mut self,
        pin: &PinHash,
        next: Option<Protections>,
        f: impl FnOnce(&SealedWrite<'_>) -> Result<T, StoreError>,
    ) -> Result<T, Status> {
        let (Some(next), Some(state)) = (next, self.anchor.clone()) else {
            return self.sealed_change(f);
        };
        let mut live = state.anchor.epoch;
        if state.statement.as_ref().is_some_and(|s| s.epoch > live) {
            live = self.keys.advance_epoch()?;
        }
        let epoch = live + 1;
        let digest = protection::digest(epoch, &next)?;
        let signature = hex::encode(&self.keys.anchor_sign(pin, &digest)?);
        let statement = Statement {
            epoch,
            protections: next,
            signature,
        };
        let json = serde_json::to_string(&statement).map_err(|_| Status::Other)?;
        let out = self.sealed_change(|s| {
            let out = f(s)?;
            s.set_setting(PROTECTIONS, &json)?;
            Ok(out)
        })?;
        let stepped = match self.keys.advance_epoch() {
            Ok(v) => v,
            Err(e) => {
                tracing::warn!(error = %e, "the PIN epoch counter could not be stepped; done before the next statement or at the next start");
                live
            }
        };
        if let Some(a) = &mut self.anchor {
            a.anchor.epoch = stepped;
            a.statement = Some(statement);
        }
        Ok(out)
    }

    /// A change the PIN authorized that leaves the settings as they are: `rules` edits the
    /// site rules the statement will hold, `revoke` adds passkeys deleted with the PIN.
    pub(crate) fn anchored_change<T>(
        &mut self,
        pin: Option<&PinHash>,
        rules: impl FnOnce(&mut BTreeMap<String, SiteRule>),
        revoke: &[Vec<u8>],
        f: impl FnOnce(&SealedWrite<'_>) -> Result<T, StoreError>,
    ) -> Result<T, Status> {
        let Some(pin) = pin else {
            return self.sealed_change(f);
        };
        let mut map: BTreeMap<String, SiteRule> = self.store.site_rules()?.into_iter().collect();
        rules(&mut map);
        let next = self.protections_with(&self.settings().clone(), map, revoke);
        self.commit_anchored(pin, next, f)
    }

    /// The statement for `next` settings (the site rules as they are), for
    /// `update_settings_anchored`.
    pub(crate) fn protections_for_settings(
        &self,
        next: &Settings,
    ) -> Result<Option<Protections>, Status> {
        let rules = self.store.site_rules()?.into_iter().collect();
        Ok(self.protections_with(next, rules, &[]))
    }

    /// [`Engine::commit_anchored`] for `update_settings_anchored`.
    pub(crate) fn commit_settings_anchored(
        &mut self,
        pin: &PinHash,
        next: Option<Protections>,
        f: impl FnOnce(&SealedWrite<'_>) -> Result<(), StoreError>,
    ) -> Result<(), Status> {
        self.commit_anchored(pin, next, f)
    }

    /// A PIN was just set: the enrolment's anchor (if the key store made one) is taken up,
    /// and the first statement made with that PIN. A failure is logged: until a statement
    /// exists the epoch counter has not moved, which a start accepts, and the next PIN
    /// makes it.
    pub(crate) fn anchor_enrolment(&mut self, pin: &PinHash) {
        self.anchor = match self.keys.anchor() {
            Ok(Some(anchor)) => Some(AnchorState {
                anchor,
                statement: None,
            }),
            Ok(None) => None,
            Err(e) => {
                tracing::warn!(error = %e, "could not read the PIN enrolment's anchor");
                None
            }
        };
        self.renew_statement_if_drifted(pin);
    }

    /// The PIN was just proven for a sign-in or a token: when the store is stricter than
    /// the statement (a tightening, which needs no PIN), or no statement was made yet (the
    /// enrolment), a new one is made now, so that what was tightened is anchored too. A
    /// failure is logged: the sign-in goes on.
    pub(crate) fn renew_statement_if_drifted(&mut self, pin: &PinHash) {
        let Some(state) = &self.anchor else {
            return;
        };
        let rules = match self.store.site_rules() {
            Ok(r) => r.into_iter().collect(),
            Err(_) => return,
        };
        let Some(now) = self.protections_with(&self.settings().clone(), rules, &[]) else {
            return;
        };
        if state
            .statement
            .as_ref()
            .is_some_and(|s| s.protections == now)
        {
            return;
        }
        if let Err(e) = self.commit_anchored(pin, Some(now), |_| Ok(())) {
            tracing::warn!(status = ?e, "could not renew the protection statement; tried again at the next PIN");
        }
    }

    /// Accepts the store as it is, with the PIN (the person's answer to a refused start,
    /// `--accept-restored-store --pin-file`): a statement is made anew over what the store
    /// holds — passkeys deleted with the PIN that are back are no longer treated as deleted.
    /// Runs before the engine opens; the caller seals the store afterwards
    /// ([`Engine::accept_store`]).
    pub fn accept_protections(
        keys: &mut K,
        store: &mut Store,
        pin: &PinHash,
    ) -> Result<(), StoreError> {
        keys.verify_pin(pin).map_err(|e| match e {
            KeyError::PinInvalid | KeyError::PinBlocked => StoreError::SealKey(
                "the PIN was not accepted, so the store was not accepted either".into(),
            ),
            other => at_start(other),
        })?;
        let Some(mut anchor) = keys.anchor().map_err(at_start)? else {
            return Ok(());
        };
        let previous = protection::stored(store).ok().flatten();
        if previous.as_ref().is_some_and(|s| s.epoch > anchor.epoch) {
            anchor.epoch = keys.advance_epoch().map_err(at_start)?;
        }
        let mut revoked = previous
            .filter(|s| protection::verifies(&anchor, s))
            .map(|s| s.protections.revoked)
            .unwrap_or_default();
        revoked.retain(|id| {
            hex::decode(id)
                .and_then(|id| store.credential(&id).ok().flatten())
                .is_none()
        });
        let settings: Settings = match store.setting(crate::engine::SETTINGS)? {
            Some(json) => {
                serde_json::from_str(&json).map_err(|_| StoreError::Malformed("settings"))?
            }
            None => Settings::default(),
        };
        let now = Protections::of(&settings, store.site_rules()?, revoked);
        let epoch = anchor.epoch + 1;
        let digest = protection::digest(epoch, &now)?;
        let signature = hex::encode(&keys.anchor_sign(pin, &digest).map_err(at_start)?);
        let json = serde_json::to_string(&Statement {
            epoch,
            protections: now,
            signature,
        })
        .map_err(|_| StoreError::Malformed("protections"))?;
        store.write_sealed(crate::store::SealWith::Nothing, |w| {
            w.set_setting(PROTECTIONS, &json)
        })?;
        keys.advance_epoch().map_err(at_start)?;
        Ok(())
    }
}
