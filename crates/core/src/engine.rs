//! The engine: the state that outlives one request, each piece with one owner, and the
//! entry points (CTAP2 messages here, U2F APDUs in `u2f`, the user's own management in
//! `local`). Each CTAP command's handler lives in `ctap/<command>.rs`.
//!
//! | state | owner |
//! |---|---|
//! | keys, PIN retries | the [`KeyStore`] (the TPM) |
//! | key agreement, token, wrong PINs since start | [`PinState`] (`pin/`) |
//! | the multi-step command in progress | [`Session`] (`session.rs`) |
//! | credentials, settings, audit | the [`Store`] |

use std::time::Duration;

use tpm_passkey_ipc::Prompt;
use tpm_passkey_wire::ctap2::{Authenticator, Request};
use tpm_passkey_wire::Status;

use crate::audit::{AuditEvent, AuditKind, Outcome};
use crate::pin::PinState;
use crate::secret::{random, SecretBytes};
use crate::session::Session;
use crate::store::{Store, StoreError};
use crate::{Approver, Clock, KeyStore, PinHash, Settings, SystemClock};

/// This product's AAGUID (WebAuthn §6.5.1): a fixed random value identifying the model.
pub const AAGUID: [u8; 16] = [
    0x7d, 0x1f, 0x5c, 0x2e, 0x93, 0x4a, 0x4b, 0x6e, 0xa1, 0x0c, 0x3f, 0x62, 0x58, 0xe4, 0x91, 0x27,
];
/// How many discoverable credentials the store accepts. The keys live on disk (wrapped by
/// the TPM), so the limit is not storage: it is where sign-in and management were measured
/// to stay flat (docs/PERFORMANCE.md), and what getInfo's remainingDiscoverableCredentials
/// counts down from.
pub const MAX_DISCOVERABLE: u64 = 10_000;
/// The longest credBlob kept (§12.2: maxCredBlobLength, at least 32).
pub const MAX_CRED_BLOB: usize = 64;
/// The longest PIN in bytes (§6.5.5.5: at most 63 bytes).
pub const MAX_PIN_BYTES: usize = 63;

pub(crate) const KEY_STORE_STATE: &str = "key_store_state";
const INSTALL_SECRET: &str = "install_secret";
pub(crate) const SETTINGS: &str = "settings";
pub(crate) const GLOBAL_COUNTER: &str = "global_sign_count";
/// Control-socket reads by the same client within this time are audited once.
const READ_AUDIT_COALESCE: Duration = Duration::from_secs(60);

/// The authenticator. `C` is its clock (the system's in production).
pub struct Engine<K: KeyStore, A: Approver, C: Clock = SystemClock> {
    pub(crate) keys: K,
    pub(crate) approver: A,
    pub(crate) clock: C,
    pub(crate) store: Store,
    /// Written only by [`Engine::update_settings`] and a reset (private to this module:
    /// handlers read [`Engine::settings`]).
    settings: Settings,
    pub(crate) install_secret: SecretBytes,
    pub(crate) pin: PinState,
    pub(crate) session: Session,
    last_read: Option<(AuditKind, Option<String>, Duration)>,
    pub(crate) fatigue: crate::fatigue::Fatigue,
    /// The anti-rollback seal (None without a counter in the key store).
    pub(crate) seal: Option<crate::seal::SealState>,
    /// When the PIN was last proven (engine clock), for step-up by risk; None since start.
    pub(crate) last_uv: Option<Duration>,
    /// Audit entries since the last checkpoint (`checkpoint`).
    pub(crate) audit_pending: std::cell::Cell<u32>,
    /// The PIN enrolment's anchor and the store's protection statement (`anchoring`);
    /// None without an anchored enrolment.
    pub(crate) anchor: Option<crate::anchoring::AnchorState>,
}

impl<K: KeyStore, A: Approver, C: Clock> std::fmt::Debug for Engine<K, A, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

fn fresh_secret() -> Result<SecretBytes, Status> {
    let mut b = vec![0u8; 32];
    random(&mut b)?;
    Ok(SecretBytes::new(b))
}

impl<K: KeyStore, A: Approver> Engine<K, A, SystemClock> {
    /// Opens the engine over a key store, an approver and a store, on the system clock.
    pub fn new(keys: K, approver: A, store: Store) -> Result<Self, StoreError> {
        Self::with_clock(keys, approver, store, SystemClock::default())
    }
}

impl<K: KeyStore, A: Approver, C: Clock> Engine<K, A, C> {
    /// Opens the engine on `clock`. The key store's state is saved at once, so that a key
    /// store that just made its state (first start) is persisted before any key is made
    /// under it.
    pub fn with_clock(
        mut keys: K,
        approver: A,
        store: Store,
        clock: C,
    ) -> Result<Self, StoreError> {
        // The store as found is checked against the key store's rollback counter before
        // anything is written to it.
        let seal = crate::seal::check(&mut keys, &store)?;
        let saved_install_secret = store.secret(INSTALL_SECRET)?;
        let install_secret = match &saved_install_secret {
            Some(s) => s.clone(),
            None => fresh_secret().map_err(|_| StoreError::Malformed("no OS randomness"))?,
        };
        let settings = match store.setting(SETTINGS)? {
            Some(json) => {
                serde_json::from_str(&json).map_err(|_| StoreError::Malformed("settings"))?
            }
            None => Settings::default(),
        };
        let pin = PinState::new().map_err(|_| StoreError::Malformed("no OS randomness"))?;
        let audit_pending = std::cell::Cell::new(store.entries_since_checkpoint()?);
        let mut engine = Engine {
            keys,
            approver,
            clock,
            store,
            settings,
            install_secret,
            pin,
            session: Session::None,
            last_read: None,
            fatigue: crate::fatigue::Fatigue::default(),
            last_uv: None,
            seal,
            audit_pending,
            anchor: None,
        };
        // Then what the PIN protects (issue 21), also before anything is written.
        engine.check_protections()?;
        // The key store's state (made at a first start, or grown: new hmac-secret keys, a
        // rollback counter) and a new install secret are saved — sealed — before any key is
        // made under them; an unsealed store gets its first seal here.
        let state = engine.keys.state();
        let state_changed = engine
            .store
            .secret(KEY_STORE_STATE)?
            .is_none_or(|old| old.expose_secret_bytes() != state.expose_secret_bytes());
        let unsealed = engine.seal.is_some_and(|s| s.unsealed);
        if state_changed || saved_install_secret.is_none() || unsealed {
            let secret = engine.install_secret.clone();
            engine
                .sealed_change(|s| {
                    s.set_secret(KEY_STORE_STATE, &state)?;
                    s.set_secret(INSTALL_SECRET, &secret)
                })
                .map_err(|e| {
                    StoreError::SealKey(format!("could not save the key store's state ({e:?})"))
                })?;
        }
        // A reset interrupted after its store commit left the old PIN index behind.
        engine.collect_key_garbage();
        engine.resolve_pending_checkpoint();
        Ok(engine)
    }

    /// Lets the key store destroy what a reset retired, and saves its state if that changed.
    /// A failure is logged and retried at the next start.
    pub(crate) fn collect_key_garbage(&mut self) {
        match self.keys.collect_garbage() {
            Ok(true) => {
                if let Err(e) = self.save_key_state() {
                    tracing::error!(%e, "could not save the key store's state");
                }
            }
            Ok(false) => {}
            Err(e) => {
                tracing::warn!(%e, "could not clean up after a reset; retried at the next start")
            }
        }
    }

    /// Takes the engine apart (tests restart it on the same parts, as the daemon would).
    pub fn into_parts(self) -> (K, A, Store, C) {
        (self.keys, self.approver, self.store, self.clock)
    }

    /// The key-store state saved by a previous run, for the daemon to reopen its key store.
    pub fn saved_key_store_state(store: &Store) -> Result<Option<SecretBytes>, StoreError> {
        store.secret(KEY_STORE_STATE)
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn keys_mut(&mut self) -> &mut K {
        &mut self.keys
    }

    pub fn approver_mut(&mut self) -> &mut A {
        &mut self.approver
    }

    pub fn clock(&self) -> &C {
        &self.clock
    }

    pub(crate) fn now(&self) -> Duration {
        self.clock.now()
    }

    /// The one way settings change: `change` is applied to a copy, the copy is saved (a
    /// sealed change), and only then does it become the settings in force — a save that
    /// fails leaves the daemon with the settings the store has (issue 23: it used to keep
    /// the new ones in memory until a restart).
    pub(crate) fn update_settings(
        &mut self,
        change: impl FnOnce(&mut Settings),
    ) -> Result<(), Status> {
        let mut next = self.settings.clone();
        change(&mut next);
        let json = serde_json::to_string(&next).map_err(|_| Status::Other)?;
        self.sealed_change(|s| s.set_setting(SETTINGS, &json))?;
        self.settings = next;
        Ok(())
    }

    /// [`Engine::update_settings`] for a change the PIN authorized: saved with a protection
    /// statement signed with `pin` (issue 21; `anchoring`), in one transaction.
    pub(crate) fn update_settings_anchored(
        &mut self,
        pin: Option<&PinHash>,
        change: impl FnOnce(&mut Settings),
    ) -> Result<(), Status> {
        let Some(pin) = pin else {
            return self.update_settings(change);
        };
        let mut next = self.settings.clone();
        change(&mut next);
        let json = serde_json::to_string(&next).map_err(|_| Status::Other)?;
        let statement = self.protections_for_settings(&next)?;
        self.commit_settings_anchored(pin, statement, |s| s.set_setting(SETTINGS, &json))?;
        self.settings = next;
        Ok(())
    }

    pub(crate) fn save_key_state(&mut self) -> Result<(), Status> {
        let state = self.keys.state();
        self.sealed_change(|s| s.set_secret(KEY_STORE_STATE, &state))
    }

    /// The counter shared by non-discoverable and U2F credentials, advanced by one.
    pub(crate) fn next_global_counter(&self) -> Result<u32, Status> {
        let n: u32 = self
            .store
            .setting(GLOBAL_COUNTER)?
            .and_then(|s| s.parse::<u32>().ok())
            .unwrap_or(0)
            .wrapping_add(1);
        self.store
            .set_unsealed_setting(GLOBAL_COUNTER, &n.to_string())?;
        Ok(n)
    }

    /// Runs `f` with its store writes gathered into one commit, made before its answer is
    /// returned: what `f` wrote is durable when the client sees the answer, as with one
    /// commit per write, for one fsync instead of several. A failed commit (nothing written)
    /// turns the answer into CTAP2_ERR_OTHER: a signature must not leave whose sign count
    /// could be lost. Only for writes of no seal's concern (sign counts, the audit log, known
    /// sites): a sealed change commits at once, before its counter step (DESIGN.md
    /// "Rollback counter and store seal").
    pub(crate) fn in_one_commit<T>(
        &mut self,
        f: impl FnOnce(&mut Self) -> Result<T, Status>,
    ) -> Result<T, Status> {
        let began = self.store.gather_writes()?;
        let out = f(self);
        if began {
            self.store.commit_gathered()?;
        }
        out
    }

    /// Appends to the audit log; the requesting application comes from the approver when
    /// the event does not name one.
    pub fn audit(&self, mut e: AuditEvent) {
        if e.client.is_none() {
            e.client = self.approver.requester();
        }
        match self.store.append_audit(self.clock.unix_secs(), &e) {
            Ok(()) => self
                .audit_pending
                .set(self.audit_pending.get().saturating_add(1)),
            Err(err) => tracing::error!(error = %err, "audit log write failed"),
        }
    }

    /// Audits a read of accounts or of the log over the control socket, once per client
    /// and kind of read within a minute (an app refreshing its view is one read).
    pub(crate) fn audit_read(&mut self, kind: AuditKind, client: Option<String>) {
        let now = self.now();
        if let Some((k, c, at)) = &self.last_read {
            if *k == kind && *c == client && now.saturating_sub(*at) < READ_AUDIT_COALESCE {
                return;
            }
        }
        self.last_read = Some((kind, client.clone(), now));
        self.audit(AuditEvent::new(kind, None, Outcome::Ok).client(client));
    }

    /// Every prompt goes through here. The fatigue defence comes first: a prompt for a site
    /// in a cool-down is refused unseen ([`Refusal::Throttled`]). How the prompt ended is
    /// recorded; when that starts a cool-down, the log says why and the person is told.
    pub(crate) fn ask_user(&mut self, prompt: &Prompt) -> Result<crate::Approval, crate::Refusal> {
        use crate::fatigue::Answered;
        let limits = self.settings.fatigue;
        let site = prompt.rp_id.clone();
        if self
            .fatigue
            .refusing(site.as_deref(), self.clock.now().as_secs(), &limits)
            .is_some()
        {
            return Err(crate::Refusal::Throttled);
        }
        let out = self.approver.ask_choosing(prompt);
        let answered = match &out {
            Ok(_) => Answered::Approved,
            Err(crate::Refusal::Denied) => Answered::Denied,
            Err(_) => Answered::Unanswered,
        };
        let now = self.clock.now().as_secs();
        if let Some(c) = self.fatigue.record(site.as_deref(), answered, now, &limits) {
            let whom = c.site.as_deref().map_or("every site".to_owned(), |s| {
                if s.is_empty() {
                    "prompts without a site".to_owned()
                } else {
                    s.to_owned()
                }
            });
            self.audit(
                AuditEvent::new(
                    AuditKind::PromptFlood,
                    c.site.as_deref(),
                    Outcome::Throttled,
                )
                .detail(c.reason.clone()),
            );
            self.approver.notify(&format!(
                "Too many sign-in prompts ({whom}): {}. If you did not ask for them, a program may be trying to wear you down; you can lift this in Settings.",
                c.reason
            ));
        }
        out
    }

    /// Audits a prompt that was refused — but not each refusal by the fatigue defence: it
    /// logged its cool-down once when it started, and a flood must not flood the log.
    pub(crate) fn audit_refusal(&self, kind: AuditKind, rp_id: Option<&str>, r: crate::Refusal) {
        if r != crate::Refusal::Throttled {
            self.audit(AuditEvent::new(kind, rp_id, r.into()));
        }
    }

    /// [`Engine::ask_user`] for a prompt whose account choice does not matter.
    pub(crate) fn ask_user_pin(
        &mut self,
        prompt: &Prompt,
    ) -> Result<Option<crate::PinHash>, crate::Refusal> {
        self.ask_user(prompt).map(|a| a.pin)
    }

    /// Asks the user for presence; a refusal is audited as `kind` and mapped to its status.
    pub(crate) fn ask_presence(&mut self, prompt: &Prompt, kind: AuditKind) -> Result<(), Status> {
        self.ask_presence_choosing(prompt, kind).map(|_| ())
    }

    /// [`Engine::ask_presence`], returning the account chosen when the prompt listed
    /// several (an index into [`Prompt::accounts`], checked).
    pub(crate) fn ask_presence_choosing(
        &mut self,
        prompt: &Prompt,
        kind: AuditKind,
    ) -> Result<Option<usize>, Status> {
        match self.ask_user(prompt) {
            Ok(a) => Ok(a.choice.filter(|&c| c < prompt.accounts.len())),
            Err(r) => {
                self.audit_refusal(kind, prompt.rp_id.as_deref(), r);
                Err(r.into())
            }
        }
    }

    /// Ends the multi-step command in progress unless `next` continues it (§6.3, §6.8.3,
    /// §6.8.5); `None` (a reset, or any other change made outside CTAP) ends it always.
    /// The only place the session is cleared.
    pub(crate) fn end_session_unless_continued_by(&mut self, next: Option<&Request>) {
        use tpm_passkey_wire::ctap2::CredMgmtSubCommand as Sub;
        let continues = matches!(
            (&self.session, next),
            (Session::NextAssertion(_), Some(Request::GetNextAssertion))
        ) || matches!(
            (&self.session, next),
            (Session::LargeBlobWrite(_), Some(Request::LargeBlobs(_)))
        ) || matches!(
            (&self.session, next),
            (Session::Rps(_), Some(Request::CredentialManagement(r)))
                if r.sub_command == Sub::EnumerateRpsGetNextRp
        ) || matches!(
            (&self.session, next),
            (Session::Credentials(_), Some(Request::CredentialManagement(r)))
                if r.sub_command == Sub::EnumerateCredentialsGetNextCredential
        );
        if !continues {
            self.session = Session::None;
        }
    }

    /// Processes one CTAPHID_CBOR message; the answer is the status byte followed by the
    /// CBOR body (§8 "Responses").
    pub fn process(&mut self, message: &[u8]) -> Vec<u8> {
        let result = Request::parse(message).and_then(|req| {
            tracing::debug!(command = req.name(), "CTAP2 request");
            self.end_session_unless_continued_by(Some(&req));
            self.dispatch(req)
        });
        match result {
            Ok(body) => {
                let mut out = Vec::with_capacity(body.len() + 1);
                out.push(0);
                out.extend(body);
                out
            }
            Err(status) => {
                tracing::debug!(%status, "CTAP2 error");
                vec![status.code()]
            }
        }
    }

    /// Cryptographic erasure (CTAP reset, or local reset): the key store forgets the PIN and
    /// its root, the store is emptied in one transaction, and every piece of session and PIN
    /// state is dropped. The caller has asked the user.
    pub(crate) fn erase_all(&mut self, detail: Option<&str>) -> Result<(), Status> {
        self.keys.reset()?;
        let secret = fresh_secret()?;
        let key_state = self.keys.state();
        self.sealed_change(|s| {
            s.erase()?;
            s.set_secret(KEY_STORE_STATE, &key_state)?;
            s.set_secret(INSTALL_SECRET, &secret)
        })?;
        self.install_secret = secret;
        // The old PIN index goes only now that the store no longer names it.
        self.collect_key_garbage();
        self.settings = Settings::default();
        // A new epoch: no enrolment, no statement, until a PIN is set again.
        self.anchor = None;
        self.pin.reset()?;
        self.end_session_unless_continued_by(None);
        let mut e = AuditEvent::new(AuditKind::Reset, None, Outcome::Ok);
        if let Some(d) = detail {
            e = e.detail(d);
        }
        self.audit(e);
        Ok(())
    }
}
