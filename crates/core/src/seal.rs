//! The anti-rollback seal, engine side (docs/DESIGN.md "Rollback seal"). Every change to
//! what the seal covers runs through [`Engine::sealed_change`]:
//!
//! 1. in one store transaction: the change, then the seal row {value = counter + 1, MAC
//!    over that value and the new content digest} — the MAC computed in the key store;
//! 2. after the commit: the key store's counter is advanced to that value.
//!
//! A crash before (1) commits leaves the old content, the old seal and the old counter. A
//! crash between (1) and (2) leaves the seal one ahead of the counter: the next start
//! finishes step (2). So at a start the seal is either equal to the counter or one ahead;
//! behind it means the file was restored or rolled back, and a MAC that does not verify
//! means it was edited or belongs to another install. Both are refused until the person
//! decides ([`Engine::accept_store`]).

use tpm_passkey_wire::Status;

use crate::store::{seal_message, SealWith, SealedWrite};
use crate::{Approver, Clock, Engine, KeyError, KeyStore, Store, StoreError};

/// Settings left out of the seal: the global sign counter moves on every sign-in.
pub(crate) const UNSEALED_SETTINGS: [&str; 1] = [crate::engine::GLOBAL_COUNTER];

/// The seal as the running engine knows it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SealState {
    /// The value the store's seal carries.
    pub value: u64,
    /// The counter has not been advanced to `value` yet (the device was away).
    pub pending_advance: bool,
    /// No seal in the store yet (a new store, or one made before the seal existed).
    pub unsealed: bool,
}

fn key_err(e: KeyError) -> StoreError {
    match e {
        KeyError::Unreachable => StoreError::TpmUnreachable,
        other => StoreError::SealKey(other.to_string()),
    }
}

/// Checks the store as found against the key store's counter, before anything is written.
pub(crate) fn check<K: KeyStore>(
    keys: &mut K,
    store: &Store,
) -> Result<Option<SealState>, StoreError> {
    let Some(counter) = keys.seal_counter().map_err(|e| match e {
        KeyError::CounterGone => {
            StoreError::SealBroken("the TPM's rollback counter is gone or not this store's")
        }
        // Anything else (the TPM unreachable, or failing) says nothing about the store.
        other => key_err(other),
    })?
    else {
        return Ok(None);
    };
    let Some((value, mac)) = store.seal()? else {
        // No seal row. Legitimate only while this counter is not yet recorded in the store:
        // a new store, or one from before the seal (its saved key-store state then differs
        // from the one that holds the counter). The first seal is written in the same
        // transaction as the state that records the counter, so a store that records it and
        // has no seal had its seal row deleted — with a rollback or an edit it would hide.
        let recorded = store.secret(crate::engine::KEY_STORE_STATE)?;
        if recorded.is_some_and(|r| r.expose_secret_bytes() == keys.state().expose_secret_bytes()) {
            return Err(StoreError::SealBroken(
                "its seal is missing, though it records this TPM's rollback counter",
            ));
        }
        return Ok(Some(SealState {
            value: counter,
            pending_advance: false,
            unsealed: true,
        }));
    };
    let digest = store.sealed_content_digest(&UNSEALED_SETTINGS)?;
    let expected = keys
        .seal_mac(&seal_message(value, &digest))
        .map_err(key_err)?;
    if !constant_time_eq(&expected, &mac) {
        return Err(StoreError::SealBroken("its MAC does not match its content"));
    }
    if value < counter {
        return Err(StoreError::RolledBack {
            store: value,
            tpm: counter,
        });
    }
    if value > counter.saturating_add(1) {
        return Err(StoreError::SealBroken("it is ahead of the TPM's counter"));
    }
    let mut state = SealState {
        value,
        pending_advance: value == counter + 1,
        unsealed: false,
    };
    if state.pending_advance {
        // A crash came between a change's commit and its counter step: finish the step.
        tracing::info!(value, "finishing the rollback counter's last step");
        if keys.advance_seal_counter().map_err(key_err)? == value {
            state.pending_advance = false;
        }
    }
    Ok(Some(state))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl<K: KeyStore, A: Approver, C: Clock> Engine<K, A, C> {
    /// Runs `f` (a change to sealed content), seals the result in the same transaction, then
    /// advances the counter (see the module documentation). Without a counter, `f` just runs
    /// in a transaction.
    pub(crate) fn sealed_change<T>(
        &mut self,
        f: impl FnOnce(&SealedWrite<'_>) -> Result<T, StoreError>,
    ) -> Result<T, Status> {
        let out = self.sealed_addition(f)?;
        // A failed step is logged and owed: taken before the next change or at the next
        // start; the change itself is committed and sealed.
        let _ = self.finish_counter_step();
        Ok(out)
    }

    /// [`Engine::sealed_change`] for a change whose rollback could only lose what it added —
    /// a new passkey — so that its counter step may wait: it is owed from then on and taken
    /// once the engine is idle ([`Engine::do_idle_work`], after the answer) or before the
    /// next change, whichever comes first. Until then a copy of the store from just before
    /// the change still matches the counter: put back, it would lose the new passkey, which
    /// no attacker gains by. A deletion, a setting or a rule is never one of these: rolled
    /// back it would bring back what the person removed, so it steps at once. What a
    /// registration's client waits for is the MAC alone (issue 22: the step is six TPM
    /// commands, tens of milliseconds each on a chip).
    pub(crate) fn sealed_addition<T>(
        &mut self,
        f: impl FnOnce(&SealedWrite<'_>) -> Result<T, StoreError>,
    ) -> Result<T, Status> {
        if self.seal.is_none() {
            return Ok(self.store.write_sealed(SealWith::Nothing, f)?);
        }
        // The last change's step is still owed; without it, no new change.
        self.finish_counter_step()?;
        let Some(mut seal) = self.seal else {
            return Err(Status::Other);
        };
        // The counter is at `seal.value` (the step just finished, or the start checked it).
        let next = seal.value + 1;
        let keys = &mut self.keys;
        let mut mac = |m: &[u8; 32]| keys.seal_mac(m).map_err(key_err);
        let out = self.store.write_sealed(
            SealWith::Counter {
                next,
                mac: &mut mac,
            },
            f,
        )?;
        seal.value = next;
        seal.unsealed = false;
        seal.pending_advance = true;
        self.seal = Some(seal);
        Ok(out)
    }

    /// Whether a sealed change's counter step is still owed.
    pub fn counter_step_owed(&self) -> bool {
        self.seal.is_some_and(|s| s.pending_advance)
    }

    /// Takes the counter step the last sealed change owes, if any: the counter is advanced
    /// and read back. Read back higher than the seal, another program advanced it too (anyone
    /// with the TPM may; a denial of service the seal would report as a rollback at the next
    /// start): the store is sealed again at the counter's value, so that seal and counter
    /// agree, and that is logged.
    pub fn finish_counter_step(&mut self) -> Result<(), Status> {
        let Some(mut seal) = self.seal else {
            return Ok(());
        };
        if !seal.pending_advance {
            return Ok(());
        }
        let now = match self.keys.advance_seal_counter() {
            Ok(v) => v,
            Err(e) => {
                tracing::warn!(error = %e, "the rollback counter could not be advanced; done before the next change or at the next start");
                return Err(e.into());
            }
        };
        seal.pending_advance = now < seal.value;
        if now > seal.value {
            tracing::warn!(
                store = seal.value,
                tpm = now,
                "the rollback counter moved without us (another program advanced it); sealing at its value"
            );
            let keys = &mut self.keys;
            let mut mac = |m: &[u8; 32]| keys.seal_mac(m).map_err(key_err);
            self.store.write_sealed(
                SealWith::Counter {
                    next: now,
                    mac: &mut mac,
                },
                |_| Ok(()),
            )?;
            seal.value = now;
        }
        self.seal = Some(seal);
        Ok(())
    }

    /// Seals the store under the key store's counter as it is now (after the person accepted
    /// a replaced TPM, which brings a counter of its own).
    pub(crate) fn seal_anew(&mut self) -> Result<(), Status> {
        let Some(counter) = self.keys.seal_counter()? else {
            return Ok(());
        };
        self.seal = Some(SealState {
            value: counter,
            pending_advance: false,
            unsealed: true,
        });
        self.sealed_change(|_| Ok(()))
    }

    /// Seals the store as it is now, whatever its seal said: what the person chooses after
    /// being told that the store was restored, rolled back or edited (the daemon's
    /// `--accept-restored-store`). Runs before the engine opens it.
    pub fn accept_store(keys: &mut K, store: &mut Store) -> Result<(), StoreError> {
        let Some(counter) = keys.seal_counter().map_err(key_err)? else {
            return Ok(());
        };
        let next = counter + 1;
        let state = keys.state();
        let mut mac = |m: &[u8; 32]| keys.seal_mac(m).map_err(key_err);
        // The key store's state may have changed (a counter made anew).
        store.write_sealed(
            SealWith::Counter {
                next,
                mac: &mut mac,
            },
            |w| w.set_secret(crate::engine::KEY_STORE_STATE, &state),
        )?;
        keys.advance_seal_counter().map_err(key_err)?;
        Ok(())
    }
}
