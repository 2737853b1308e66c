//! The engine: state that outlives one request, dispatch, and the small commands
//! (getInfo, reset, selection). The larger commands live in their own modules as further
//! `impl Engine` blocks.

use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tpm_passkey_wire::ctap2::{GetInfo, Request};
use tpm_passkey_wire::Status;

use crate::approver::{Approver, Operation, Prompt, Refusal};
use crate::cred_mgmt::Enumeration;
use crate::get_assertion::NextAssertion;
use crate::pin_protocol::KeyAgreement;
use crate::secret::{random, SecretBytes};
use crate::store::{Store, StoreError};
use crate::token::PinToken;
use crate::{AuditEvent, KeyError, KeyStore};

/// This product's AAGUID (WebAuthn §6.5.1): a fixed random value identifying the model.
pub const AAGUID: [u8; 16] = [
    0x7d, 0x1f, 0x5c, 0x2e, 0x93, 0x4a, 0x4b, 0x6e, 0xa1, 0x0c, 0x3f, 0x62, 0x58, 0xe4, 0x91, 0x27,
];
/// How many discoverable credentials the store accepts.
pub const MAX_DISCOVERABLE: u64 = 256;
/// The longest PIN in bytes (§6.5.5.5: at most 63 bytes).
pub const MAX_PIN_BYTES: usize = 63;
/// §6.5.2: after this many consecutive wrong PINs, clientPIN refuses until restart.
pub const PIN_FAILURES_PER_BOOT: u8 = 3;

const KEY_STORE_STATE: &str = "key_store_state";
const INSTALL_SECRET: &str = "install_secret";
const SETTINGS: &str = "settings";
const GLOBAL_COUNTER: &str = "global_sign_count";

/// The user-visible settings (§6.11 authenticatorConfig, §6.4 getInfo).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settings {
    /// alwaysUv: every credential needs user verification (default on, as Windows Hello).
    pub always_uv: bool,
    /// minPINLength in Unicode code points (§6.4, default 4).
    pub min_pin_length: u8,
    /// Relying parties allowed to read minPINLength (§12.4).
    pub min_pin_length_rp_ids: Vec<String>,
    /// forcePINChange (§6.4 0x0C).
    pub force_pin_change: bool,
    /// Length of the current PIN in code points (0 when unknown), to decide forcePINChange.
    pub pin_length: u8,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            always_uv: true,
            min_pin_length: 4,
            min_pin_length_rp_ids: Vec::new(),
            force_pin_change: false,
            pin_length: 0,
        }
    }
}

/// The authenticator.
pub struct Engine<K: KeyStore, A: Approver> {
    pub(crate) keys: K,
    pub(crate) approver: A,
    pub(crate) store: Store,
    pub(crate) settings: Settings,
    pub(crate) install_secret: SecretBytes,
    pub(crate) key_agreement: KeyAgreement,
    pub(crate) token: PinToken,
    pub(crate) pin_failures: u8,
    pub(crate) next_assertion: Option<NextAssertion>,
    pub(crate) enumeration: Option<Enumeration>,
}

impl<K: KeyStore, A: Approver> std::fmt::Debug for Engine<K, A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

pub(crate) fn store_err(e: StoreError) -> Status {
    tracing::error!(error = %e, "credential store failure");
    Status::Other
}

pub(crate) fn key_err(e: KeyError) -> Status {
    match e {
        KeyError::PinInvalid => Status::PinInvalid,
        KeyError::PinBlocked => Status::PinBlocked,
        KeyError::PinRequired => Status::PuatRequired,
        KeyError::PinNotSet => Status::PinNotSet,
        KeyError::BadBlob => Status::InvalidParameter,
        KeyError::Other(detail) => {
            tracing::error!(%detail, "key store failure");
            Status::Other
        }
    }
}

pub(crate) fn refusal(r: Refusal) -> Status {
    match r {
        Refusal::Denied => Status::OperationDenied,
        Refusal::Timeout => Status::UserActionTimeout,
        Refusal::Cancelled => Status::KeepaliveCancel,
    }
}

pub(crate) fn outcome(r: Refusal) -> &'static str {
    match r {
        Refusal::Denied => "denied",
        Refusal::Timeout => "timeout",
        Refusal::Cancelled => "cancelled",
    }
}

pub(crate) fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

pub(crate) fn sha256(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

fn fresh_secret() -> Result<SecretBytes, Status> {
    let mut b = vec![0u8; 32];
    random(&mut b)?;
    Ok(SecretBytes::new(b))
}

impl<K: KeyStore, A: Approver> Engine<K, A> {
    /// Opens the engine over a key store, an approver and a store. The key store's state is
    /// saved at once, so that a key store that just made its state (first start) is
    /// persisted before any key is made under it.
    pub fn new(keys: K, approver: A, store: Store) -> Result<Self, StoreError> {
        store.set_secret(KEY_STORE_STATE, &keys.state())?;
        let install_secret = match store.secret(INSTALL_SECRET)? {
            Some(s) => s,
            None => {
                let s = fresh_secret().map_err(|_| StoreError::Malformed("no OS randomness"))?;
                store.set_secret(INSTALL_SECRET, &s)?;
                s
            }
        };
        let settings = match store.setting(SETTINGS)? {
            Some(json) => {
                serde_json::from_str(&json).map_err(|_| StoreError::Malformed("settings"))?
            }
            None => Settings::default(),
        };
        let key_agreement =
            KeyAgreement::generate().map_err(|_| StoreError::Malformed("no OS randomness"))?;
        Ok(Engine {
            keys,
            approver,
            store,
            settings,
            install_secret,
            key_agreement,
            token: PinToken::default(),
            pin_failures: 0,
            next_assertion: None,
            enumeration: None,
        })
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

    pub(crate) fn save_settings(&self) -> Result<(), Status> {
        let json = serde_json::to_string(&self.settings).map_err(|_| Status::Other)?;
        self.store.set_setting(SETTINGS, &json).map_err(store_err)
    }

    pub(crate) fn save_key_state(&self) -> Result<(), Status> {
        self.store
            .set_secret(KEY_STORE_STATE, &self.keys.state())
            .map_err(store_err)
    }

    pub(crate) fn next_global_counter(&self) -> Result<u32, Status> {
        let n: u32 = self
            .store
            .setting(GLOBAL_COUNTER)
            .map_err(store_err)?
            .and_then(|s| s.parse::<u32>().ok())
            .unwrap_or(0)
            .wrapping_add(1);
        self.store
            .set_setting(GLOBAL_COUNTER, &n.to_string())
            .map_err(store_err)?;
        Ok(n)
    }

    pub(crate) fn audit(&self, mut e: AuditEvent) {
        if e.client.is_none() {
            e.client = self.approver.requester();
        }
        if let Err(err) = self.store.append_audit(now_unix(), &e) {
            tracing::error!(error = %err, "audit log write failed");
        }
    }

    /// Asks the user for presence; a refusal is audited as `event` and mapped to its status.
    pub(crate) fn ask_presence(
        &mut self,
        prompt: &Prompt,
        event: &'static str,
    ) -> Result<(), Status> {
        match self.approver.ask(prompt) {
            Ok(_) => Ok(()),
            Err(r) => {
                self.audit(AuditEvent::new(event, prompt.rp_id.as_deref(), outcome(r)));
                Err(refusal(r))
            }
        }
    }

    /// Processes one CTAPHID_CBOR message; the answer is the status byte followed by the
    /// CBOR body (§8 "Responses").
    pub fn process(&mut self, message: &[u8]) -> Vec<u8> {
        let result = Request::parse(message).and_then(|req| {
            tracing::debug!(command = req.name(), "CTAP2 request");
            // §6.3: any command other than getNextAssertion ends the assertion sequence.
            if !matches!(req, Request::GetNextAssertion) {
                self.next_assertion = None;
            }
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

    fn dispatch(&mut self, req: Request) -> Result<Vec<u8>, Status> {
        match req {
            Request::GetInfo => Ok(self.get_info().encode()),
            Request::MakeCredential(r) => self.make_credential(r).map(|r| r.encode()),
            Request::GetAssertion(r) => self.get_assertion(r).map(|r| r.encode()),
            Request::GetNextAssertion => self.get_next_assertion().map(|r| r.encode()),
            Request::ClientPin(r) => self.client_pin(r).map(|r| r.encode()),
            Request::CredentialManagement(r) => self.credential_management(r).map(|r| r.encode()),
            Request::Config(r) => self.config(r).map(|()| Vec::new()),
            Request::Reset => self.reset().map(|()| Vec::new()),
            Request::Selection => self.selection().map(|()| Vec::new()),
            _ => Err(Status::InvalidCommand),
        }
    }

    /// authenticatorGetInfo, §6.4.
    pub fn get_info(&mut self) -> GetInfo {
        let pin_set = self.keys.pin_is_set();
        let mut versions = vec!["FIDO_2_0", "FIDO_2_1"];
        if !self.settings.always_uv {
            // §6.11.2: with alwaysUv the authenticator does not offer U2F.
            versions.insert(0, "U2F_V2");
        }
        let remaining = MAX_DISCOVERABLE
            .saturating_sub(self.store.credential_count().unwrap_or(MAX_DISCOVERABLE));
        GetInfo {
            versions,
            extensions: vec!["credProtect", "hmac-secret", "minPinLength"],
            aaguid: AAGUID,
            options: vec![
                ("rk", true),
                ("up", true),
                // Built-in user verification is our own PIN prompt; it is configured once a
                // PIN exists (§6.4 "uv": present and false = capable but not configured).
                ("uv", pin_set),
                ("plat", false),
                ("alwaysUv", self.settings.always_uv),
                ("credMgmt", true),
                ("authnrCfg", true),
                ("clientPin", pin_set),
                ("pinUvAuthToken", true),
                ("setMinPINLength", true),
                ("makeCredUvNotRqd", !self.settings.always_uv),
            ],
            max_msg_size: 7609,
            pin_uv_auth_protocols: vec![2, 1],
            max_credential_count_in_list: 64,
            max_credential_id_length: 1023,
            force_pin_change: self.settings.force_pin_change,
            min_pin_length: u64::from(self.settings.min_pin_length),
            firmware_version: 1,
            remaining_discoverable_credentials: remaining,
        }
    }

    /// authenticatorSelection, §6.9: user presence only.
    fn selection(&mut self) -> Result<(), Status> {
        self.approver
            .ask(&Prompt::new(Operation::Select))
            .map(|_| ())
            .map_err(refusal)
    }

    /// authenticatorReset, §6.6: with the user's approval, the key store forgets the PIN
    /// and its root (every key blob becomes useless), and the store is emptied.
    ///
    /// The "within 10 s of power-up" rule of §6.6 is replaced by the explicit approval
    /// prompt that names the consequence (docs/DESIGN.md).
    fn reset(&mut self) -> Result<(), Status> {
        self.ask_presence(&Prompt::new(Operation::Reset), "reset")?;
        self.erase_all()
    }

    /// Cryptographic erasure: the key store forgets the PIN and its root, the store is
    /// emptied in one transaction, and every piece of session state is dropped.
    pub(crate) fn erase_all(&mut self) -> Result<(), Status> {
        self.keys.reset().map_err(key_err)?;
        let secret = fresh_secret()?;
        let key_state = self.keys.state();
        self.store
            .transaction(|s| {
                s.erase()?;
                s.set_secret(KEY_STORE_STATE, &key_state)?;
                s.set_secret(INSTALL_SECRET, &secret)
            })
            .map_err(store_err)?;
        self.install_secret = secret;
        self.settings = Settings::default();
        self.key_agreement = KeyAgreement::generate()?;
        self.token.reset();
        self.pin_failures = 0;
        self.audit(AuditEvent::new("reset", None, "ok"));
        Ok(())
    }
}
