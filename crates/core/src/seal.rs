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
    /// Runs `f` (a change to sealed content) and seals the result in the same transaction,
    /// then advances the counter (see the module documentation). Without a counter, `f`
    /// just runs in a transaction.
    pub(crate) fn sealed_change<T>(
        &mut self,
        f: impl FnOnce(&SealedWrite<'_>) -> Result<T, StoreError>,
    ) -> Result<T, Status> {
        let Some(mut seal) = self.seal else {
            return Ok(self.store.write_sealed(SealWith::Nothing, f)?);
        };
        if seal.pending_advance {
            // The last change's step is still owed; without it, no new change.
            let now = self.keys.advance_seal_counter()?;
            seal.pending_advance = now < seal.value;
        }
        let counter = self.keys.seal_counter()?.unwrap_or(seal.value);
        if counter != seal.value && !seal.unsealed {
            tracing::warn!(
                store = seal.value,
                tpm = counter,
                "the rollback counter moved without us (another program advanced it)"
            );
        }
        let next = counter.max(seal.value) + 1;
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
        seal.pending_advance = match self.keys.advance_seal_counter() {
            Ok(v) => v < next,
            Err(e) => {
                tracing::warn!(error = %e, "the rollback counter could not be advanced; done before the next change or at the next start");
                true
            }
        };
        self.seal = Some(seal);
        Ok(out)
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
