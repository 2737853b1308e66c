//! The engine's [`KeyStore`] over the TPM: keys under the root, the PIN in its PIN Fail
//! index, hmac-secret under two keyed-hash keys, reset by forgetting the seed.
//!
//! It also owns the link to the TPM. Every operation runs under the [`Watchdog`]'s
//! deadline; a broken or hung connection ([`Error::Unreachable`]) is dropped, requests then
//! fail at once with [`KeyError::Unreachable`], and the link is re-made (root re-derived,
//! PIN index reopened) on the next request or [`TpmKeyStore::reconnect`], without a
//! restart. At open and at every reconnect the root's Name is compared with the one
//! recorded: another Name means the TPM was cleared or replaced ([`TpmHealth::Replaced`]).
//! The saved state's layout is in [`state`].

mod anchor;
mod attestation;
mod audit;
mod ops;
mod state;

use std::time::{Duration, Instant};

use tpm_passkey_core::{KeyError, SecretBytes, TpmHealth};

use crate::{
    AuditIndex, Error, OwnerAuth, PinIndex, PrfKey, Result, RollbackCounter, RootSeed, TctiChoice,
    Tpm, Watchdog, DEFAULT_DEADLINE,
};

/// Reconnection attempts are at least this far apart, doubling after each failure up to
/// [`MAX_RETRY_GAP`]: while the TPM is away, requests fail at once instead of each waiting
/// on a connect, and a TPM that comes back is used within the gap.
const RETRY_GAP: Duration = Duration::from_millis(250);
const MAX_RETRY_GAP: Duration = Duration::from_secs(4);

/// Called before a reconnection attempt: may bring the TPM back (restart the embedded
/// simulator) and name the interface to use now.
pub type Reviver = Box<dyn FnMut() -> Option<TctiChoice>>;

/// How to reach the TPM again.
struct Link {
    tcti: TctiChoice,
    owner_auth: Option<OwnerAuth>,
    watchdog: Watchdog,
    last_attempt: Option<Instant>,
    gap: Duration,
    reviver: Option<Reviver>,
}

impl std::fmt::Debug for Link {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Link")
            .field("tcti", &self.tcti)
            .field("watchdog", &self.watchdog)
            .finish_non_exhaustive()
    }
}

/// See the module documentation.
#[derive(Debug)]
pub struct TpmKeyStore {
    tpm: Option<Tpm>,
    link: Link,
    seed: RootSeed,
    pin: Option<PinIndex>,
    /// A PIN index was recorded but the TPM no longer has it.
    pin_lost: bool,
    prf: Option<PrfKey>,
    prf_uv: Option<PrfKey>,
    /// The root Name the keys were made under (saved).
    root_name: Option<Vec<u8>>,
    /// The TPM answers with another root Name: cleared or replaced.
    replaced: bool,
    /// A PIN index a reset replaced, undefined once the new state is saved.
    retired: Option<PinIndex>,
    /// The PIN's retries as this process last learnt them (after its own PIN checks), for
    /// prompts; None when unknown (start, after a wrong PIN or an error).
    pub(super) known_retries: Option<u8>,
    /// The anti-rollback counter (docs/DESIGN.md "Rollback seal").
    pub(super) counter: Option<RollbackCounter>,
    /// A counter was recorded but this TPM's index at its handle is gone or not ours.
    pub(super) counter_lost: bool,
    /// The audit index (docs/DESIGN.md "Audit checkpoints"), and whether it is lost as
    /// the counter can be.
    pub(super) audit: Option<AuditIndex>,
    pub(super) audit_lost: bool,
    /// The attestation key's public part (SEC1), once derived.
    pub(super) ak_public: Option<Vec<u8>>,
}

impl TpmKeyStore {
    /// Opens the TPM and re-derives the root from the saved state; with no state (first
    /// start), makes a fresh seed. Missing hmac-secret keys are made (state changes: the
    /// engine saves it once it is open). Operations get [`DEFAULT_DEADLINE`].
    pub fn open(
        tcti: &TctiChoice,
        owner_auth: Option<&OwnerAuth>,
        state: Option<&SecretBytes>,
    ) -> Result<Self> {
        Self::open_with_deadline(tcti, owner_auth, state, DEFAULT_DEADLINE)
    }

    /// [`TpmKeyStore::open`] with another deadline per operation.
    pub fn open_with_deadline(
        tcti: &TctiChoice,
        owner_auth: Option<&OwnerAuth>,
        state: Option<&SecretBytes>,
        deadline: Duration,
    ) -> Result<Self> {
        let saved = match state {
            Some(s) => state::parse(s.expose_secret_bytes())?,
            None => state::Saved::default(),
        };
        let seed = match saved.seed {
            Some(s) => s,
            None => RootSeed::generate()?,
        };
        let mut store = TpmKeyStore {
            tpm: None,
            link: Link {
                tcti: tcti.clone(),
                owner_auth: owner_auth.cloned(),
                watchdog: Watchdog::new(deadline),
                last_attempt: None,
                gap: RETRY_GAP,
                reviver: None,
            },
            seed,
            pin: saved.pin,
            pin_lost: false,
            prf: saved.prf,
            prf_uv: saved.prf_uv,
            root_name: saved.root_name,
            replaced: false,
            retired: saved.retired,
            known_retries: None,
            counter: saved.counter,
            counter_lost: false,
            audit: saved.audit,
            audit_lost: false,
            ak_public: None,
        };
        store.connect()?;
        if store.pin_lost {
            store.prf_uv = None;
        }
        store.run(Self::ensure_prf_keys_on).map_err(|e| match e {
            KeyError::Unreachable => Error::Unreachable { op: "open" },
            other => Error::Tpm {
                op: "open",
                code: other.to_string(),
            },
        })?;
        Ok(store)
    }

    /// Sets what to call before each reconnection attempt (the daemon restarts its embedded
    /// simulator there).
    pub fn set_reviver(&mut self, reviver: Reviver) {
        self.link.reviver = Some(reviver);
    }

    /// Connects: opens the TPM under the watchdog, checks the root's Name against the
    /// recorded one, reopens the PIN index. On failure the link stays down.
    fn connect(&mut self) -> Result<()> {
        self.link.last_attempt = Some(Instant::now());
        if let Some(tcti) = self.link.reviver.as_mut().and_then(|r| r()) {
            self.link.tcti = tcti;
        }
        let mut tpm = Tpm::open_watched(
            &self.link.tcti,
            &self.seed,
            self.link.owner_auth.as_ref(),
            Some(&self.link.watchdog),
        )?;
        let armed = self.link.watchdog.arm();
        let checked = (|| -> Result<Option<PinIndex>> {
            let name = tpm.root_name()?;
            match &self.root_name {
                Some(recorded) if *recorded != name => {
                    if !self.replaced {
                        tracing::error!(
                            "this TPM is not the one the passkeys were made on (it was cleared or replaced): they cannot work here"
                        );
                    }
                    self.replaced = true;
                }
                Some(_) => {}
                None => self.root_name = Some(name),
            }
            match &self.pin {
                Some(expected) => match tpm.open_pin_index(expected) {
                    Ok(i) => Ok(Some(i)),
                    Err(Error::NoPinIndex(h)) => {
                        tracing::error!(
                            handle = h,
                            "the PIN index is gone from the TPM (deleted by its owner, or the TPM was cleared): PIN-bound passkeys cannot work again"
                        );
                        Ok(None)
                    }
                    Err(e) => Err(e),
                },
                None => Ok(None),
            }
        })();
        // The counter and audit checks run under the same deadline (a hang there used to take
        // a start 30 s), and a lost connection there is the TPM unreachable — never the
        // counter "gone", which the seal would report as a tampered store (issue 23).
        let checked = checked.and_then(|index| {
            self.check_counter(&mut tpm)?;
            self.check_audit(&mut tpm)?;
            Ok(index)
        });
        drop(armed);
        match checked {
            Ok(index) => {
                if self.pin.is_some() && index.is_none() {
                    self.pin_lost = true;
                    self.pin = None;
                    self.prf_uv = None;
                }
                if index.is_some() {
                    self.pin = index;
                }
                self.tpm = Some(tpm);
                Ok(())
            }
            Err(e) => {
                self.link.watchdog.forget();
                if e.is_unreachable() {
                    tpm.abandon();
                }
                Err(e)
            }
        }
    }

    /// Drops a broken connection: nothing more is sent on it.
    fn lose(&mut self, e: &Error) {
        self.link.watchdog.forget();
        self.link.last_attempt = Some(Instant::now());
        self.link.gap = RETRY_GAP;
        if let Some(mut tpm) = self.tpm.take() {
            tracing::error!(error = %e, "lost the TPM; requests fail until it is back");
            tpm.abandon();
        }
    }

    /// Re-makes the link if it is down and an attempt is due (the daemon calls this while
    /// the TPM is away, so that it is back before the next request). True when connected.
    pub fn reconnect(&mut self) -> bool {
        if self.tpm.is_some() {
            return true;
        }
        let due = self
            .link
            .last_attempt
            .is_none_or(|t| t.elapsed() >= self.link.gap);
        if !due {
            return false;
        }
        match self.connect() {
            Ok(()) => {
                tracing::info!(tcti = self.link.tcti.as_str(), "the TPM is back");
                self.link.gap = RETRY_GAP;
                true
            }
            Err(e) => {
                tracing::debug!(error = %e, "the TPM is still unreachable");
                self.link.gap = (self.link.gap * 2).min(MAX_RETRY_GAP);
                false
            }
        }
    }

    /// Whether the link to the TPM is up (as last seen).
    pub fn connected(&self) -> bool {
        self.tpm.is_some()
    }

    /// How many times a TPM operation outlived its deadline.
    pub fn deadlines_missed(&self) -> u64 {
        self.link.watchdog.fired()
    }

    /// Runs `f` on the TPM under the deadline: reconnects first if due, drops the link
    /// if it broke. For health and identity queries too.
    ///
    /// When the TPM answers but no longer holds what this connection made in it
    /// ([`Error::StateLost`]: it was reset or cleared while we were idle, or another program
    /// flushed our sessions), the connection is made again at once — root re-derived and
    /// checked, so a cleared TPM shows as replaced — and `f` runs once more: the request
    /// that found it out is served, not failed (issue 23). The TPM refused `f`'s first
    /// command that named our state, so nothing of it took effect.
    pub fn run<T>(
        &mut self,
        mut f: impl FnMut(&mut Self) -> Result<T>,
    ) -> std::result::Result<T, KeyError> {
        self.ready()?;
        if let Some(tpm) = self.tpm.as_mut() {
            tpm.expire_ready_policy();
        }
        let armed = self.link.watchdog.arm();
        let mut out = f(self);
        drop(armed);
        if let Err(e @ Error::StateLost { .. }) = &out {
            tracing::warn!(error = %e, "the TPM lost this connection's state; connecting again");
            self.lose(e);
            self.link.last_attempt = None;
            if self.reconnect() {
                let armed = self.link.watchdog.arm();
                out = f(self);
                drop(armed);
            }
        }
        match out {
            Err(e) if e.is_unreachable() => {
                self.lose(&e);
                Err(KeyError::Unreachable)
            }
            other => other.map_err(ops::to_key_error),
        }
    }

    /// The connected TPM (inside [`TpmKeyStore::run`]).
    pub fn tpm(&mut self) -> Result<&mut Tpm> {
        self.tpm
            .as_mut()
            .ok_or(Error::Unreachable { op: "connect" })
    }

    /// Connected now, or an attempt due and successful; else `Unreachable` at once.
    fn ready(&mut self) -> std::result::Result<(), KeyError> {
        if self.tpm.is_some() && self.peer_gone() {
            self.lose(&Error::Unreachable { op: "idle" });
        }
        if self.reconnect() {
            return Ok(());
        }
        Err(KeyError::Unreachable)
    }

    /// Whether the TPM's end has gone away while we were idle, seen without sending a
    /// command: a resource manager's socket (tabrmd) hung up. swtpm's TCTI connects for
    /// each command and keeps no socket to look at; a kernel device does not go away.
    fn peer_gone(&self) -> bool {
        self.link
            .watchdog
            .held_sockets()
            .into_iter()
            .any(crate::hangup::peer_gone)
    }

    /// Asks the TPM for one random byte (under the deadline) to learn how it is now;
    /// reconnects first if the link is down and an attempt is due. For `status`, not for
    /// every request: it costs a TPM command.
    pub fn probe(&mut self) -> TpmHealth {
        let _ = self.run(|s| s.tpm()?.ping());
        self.health_now()
    }

    fn health_now(&self) -> TpmHealth {
        if self.tpm.is_none() {
            TpmHealth::Unreachable
        } else if self.replaced {
            TpmHealth::Replaced
        } else {
            TpmHealth::Ready
        }
    }

    /// Makes the hmac-secret keys this state lacks: the without-UV one always, the
    /// PIN-bound one once a PIN index exists.
    fn ensure_prf_keys_on(&mut self) -> Result<()> {
        if self.prf.is_none() {
            let key = self.tpm()?.create_prf_key(None)?;
            self.prf = Some(key);
        }
        if self.prf_uv.is_none() {
            if let Some(index) = self.pin.clone() {
                let key = self.tpm()?.create_prf_key(Some(&index))?;
                self.prf_uv = Some(key);
            }
        }
        self.ensure_counter_on()?;
        if let Err(e) = self.ensure_audit_on() {
            // Checkpoints are extra evidence: without them the log still works (its hash
            // chain), so a TPM that cannot make the index does not stop the daemon.
            if e.is_unreachable() {
                return Err(e);
            }
            tracing::warn!(error = %e, "no audit index on this TPM: the audit log gets no TPM checkpoints");
        }
        Ok(())
    }

    /// Checks the recorded rollback counter against this TPM. On another TPM (replaced or
    /// cleared) there is nothing to check against, and the passkeys are dead anyway: the
    /// seal is off until the person accepts the TPM. On this TPM, a counter that is gone or
    /// not ours makes the seal refuse the store.
    fn check_counter(&mut self, tpm: &mut Tpm) -> Result<()> {
        let Some(c) = &self.counter else {
            return Ok(());
        };
        match tpm.open_counter(c) {
            // The record may name a look-alike the TPM does hold: the PIN enrolment names
            // the counter it was made with (issue 21).
            Ok(_) if !self.counter_matches_enrolment() => {
                tracing::error!("the rollback counter is not the one the PIN enrolment names");
                self.counter_lost = true;
            }
            Ok(_) => self.counter_lost = false,
            Err(_) if self.replaced => {}
            // Only the TPM's word that the index is not there, or not ours, makes it lost;
            // a lost connection or any other error says nothing about it (issue 23: a
            // glitch at start used to read as a tampered store).
            Err(e) if e.is_absent_or_foreign() => {
                tracing::error!(error = %e, "the rollback counter is gone from this TPM or is not ours");
                self.counter_lost = true;
            }
            Err(e) => return Err(e),
        }
        Ok(())
    }

    /// Makes the rollback counter when this state has none (a new install, or one made
    /// before the seal), at a free handle of the owner range.
    fn ensure_counter_on(&mut self) -> Result<()> {
        if self.counter.is_some() || self.replaced || self.counter_lost {
            return Ok(());
        }
        let counter = self
            .tpm()?
            .define_at_free_handle(|tpm, h| tpm.define_counter(h))?;
        self.counter = Some(counter);
        Ok(())
    }

    /// A new rollback counter and audit index in place of ones that are gone or not ours:
    /// what the person chooses with the daemon's --accept-restored-store (the store is then
    /// sealed anew; the log's earlier checkpoints stay, and no longer verify).
    pub fn renew_lost_indexes(&mut self) -> std::result::Result<(), KeyError> {
        if self.audit_lost {
            self.audit = None;
            self.audit_lost = false;
            self.run(Self::ensure_audit_on)?;
        }
        if !self.counter_lost {
            return Ok(());
        }
        self.counter = None;
        self.counter_lost = false;
        self.run(Self::ensure_counter_on)
    }

    /// The rollback counter's TPM handle, if there is one.
    pub fn counter_handle(&self) -> Option<u32> {
        self.counter.as_ref().map(RollbackCounter::handle)
    }

    /// The PIN index in use, if any.
    pub fn pin_index(&self) -> Option<&PinIndex> {
        self.pin.as_ref()
    }

    fn index(&self) -> std::result::Result<PinIndex, KeyError> {
        self.pin.clone().ok_or(KeyError::PinNotSet)
    }
}
