//! The key store: where credential keys are made and used, and where the PIN is checked.
//! In production the TPM (tpm-passkey-tpm); in unit tests [`crate::soft::SoftKeys`].

use tpm_passkey_wire::cose::P256Key;

use tpm_passkey_ipc::{PinProtection, TpmHealth};

use crate::{PinHash, SecretBytes};

/// A key the store just made: an opaque blob to keep (the TPM's wrapped key) and the public
/// key for the relying party.
#[derive(Debug, Clone)]
pub struct NewKey {
    pub blob: Vec<u8>,
    pub public: P256Key,
}

/// A statement by the device about its audit index (docs/DESIGN.md "Audit checkpoints"):
/// for the TPM, TPMS_ATTEST of TPM2_NV_Certify as the TPM marshalled it, and the
/// attestation key's ECDSA P-256 / SHA-256 signature over it (DER).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditStatement {
    pub attest: Vec<u8>,
    pub signature: Vec<u8>,
}

/// What a verifier needs to check audit statements: the attestation key's public part
/// (SEC1 uncompressed point) and the Name of the audit index its statements are about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditAnchor {
    pub key: Vec<u8>,
    pub index_name: Vec<u8>,
    /// Whether the PIN enrolment vouches for this index (issue 21).
    pub binding: IndexBinding,
}

/// Whether something the device keeps is the one the PIN enrolment vouched for (issue 21:
/// someone with the TPM can define a look-alike index and point the store at it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IndexBinding {
    /// The enrolment names exactly this one.
    Anchored,
    /// No anchored enrolment: no PIN, or a PIN index from before anchors. A look-alike
    /// would not be noticed from the TPM alone.
    Unanchored,
    /// The enrolment names another one: this is a substitute.
    Substituted,
}

/// The PIN enrolment's anchor (issue 21, docs/DESIGN.md "Anchors"): a key the device uses
/// only after the PIN, and the epoch counter its statements carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Anchor {
    pub key: P256Key,
    /// The epoch counter's value now.
    pub epoch: u64,
    /// Its value when the enrolment made it (vouched for with the rest): while the counter
    /// has not moved, no protection statement was ever made.
    pub epoch_start: u64,
}

/// A credential key certified by the device's attestation key (WebAuthn §8.3 `tpm`):
/// TPMS_ATTEST of TPM2_Certify, the signature over it (DER), the key's TPMT_PUBLIC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyCertification {
    pub cert_info: Vec<u8>,
    pub signature: Vec<u8>,
    pub pub_area: Vec<u8>,
}

/// What can go wrong in the key store. PIN outcomes are distinguished because they map to
/// distinct CTAP statuses; everything else is opaque to the client (§"errors" in
/// docs/DESIGN.md) and its detail goes to the log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    #[error("wrong PIN")]
    PinInvalid,
    #[error("PIN blocked: no retries left")]
    PinBlocked,
    #[error("a PIN is needed for this key")]
    PinRequired,
    #[error("no PIN is set")]
    PinNotSet,
    #[error("key blob not usable by this key store")]
    BadBlob,
    /// The key store's device cannot be reached now (the TPM connection broke or hung);
    /// it is being reconnected. Nothing was decided about the request.
    #[error("the TPM cannot be reached right now")]
    Unreachable,
    /// The device said its rollback counter is not there, or is not this store's (only
    /// that verdict — a failure to read it is another error).
    #[error("the rollback counter is gone from this TPM or is not this store's")]
    CounterGone,
    #[error("key store: {0}")]
    Other(String),
}

/// The key store's operations. Implementations keep their persistent state (for the TPM:
/// the root seed and the PIN index handle) in [`KeyStore::state`], which the engine saves in
/// the credential store after every call that changes it.
///
/// The protections that rest on the device are capabilities of their own — [`Sealing`],
/// [`AuditAnchoring`], [`Attesting`] — with no default bodies: an implementation states
/// what it does for each; none is silently off because it was forgotten (issue 23; a
/// store without the capability says so with `Ok(None)` or an error, explicitly).
pub trait KeyStore: Sealing + AuditAnchoring + Attesting + Anchoring {
    /// Makes a P-256 signing key. With `pin_bound` it must be unusable without the PIN.
    fn create_key(&mut self, pin_bound: bool) -> Result<NewKey, KeyError>;
    /// Signs a SHA-256 digest; returns the DER-encoded ECDSA signature.
    fn sign(
        &mut self,
        blob: &[u8],
        digest: &[u8; 32],
        pin: Option<&PinHash>,
    ) -> Result<Vec<u8>, KeyError>;
    /// Whether a PIN is set (cheap: no key-store round trip).
    fn pin_is_set(&self) -> bool;
    /// Retries left before the PIN blocks, read from where the PIN lives.
    fn pin_retries(&mut self) -> Result<u8, KeyError>;
    /// Retries left, for a PIN prompt about to be shown: may be the count as this process
    /// last learnt it (after its own last PIN check), with no round trip. Only for what a
    /// person is told before typing: the key store enforces the limit whatever this says,
    /// and a wrong PIN reads the count afresh.
    fn pin_retries_for_prompt(&mut self) -> Result<u8, KeyError> {
        self.pin_retries()
    }
    /// Sets the first PIN.
    fn set_pin(&mut self, pin: &PinHash) -> Result<(), KeyError>;
    /// Checks a PIN; a wrong one costs a retry, the right one restores them all.
    fn verify_pin(&mut self, pin: &PinHash) -> Result<(), KeyError>;
    /// Replaces the PIN after checking the old one (which costs a retry if wrong).
    fn change_pin(&mut self, old: &PinHash, new: &PinHash) -> Result<(), KeyError>;
    /// hmac-secret's CredRandom (CTAP 2.1 §12.5) for `material` (a credential's random id or
    /// nonce): the with-UV value when `pin` is given (proven to the key store like any PIN
    /// attempt), the without-UV value otherwise. Computed where the keys live, so that the
    /// credential store alone never yields it.
    fn cred_random(
        &mut self,
        material: &[u8],
        pin: Option<&PinHash>,
    ) -> Result<SecretBytes, KeyError>;
    /// How the PIN is protected.
    fn pin_protection(&self) -> PinProtection;
    /// Forgets the PIN and makes every existing key blob useless. Nothing already saved is
    /// destroyed yet: what the old state needs (the TPM's PIN index) is only marked for
    /// [`KeyStore::collect_garbage`], which the engine calls once the new state is saved —
    /// so that a crash in between leaves the old state whole.
    fn reset(&mut self) -> Result<(), KeyError>;
    /// Destroys what an earlier [`KeyStore::reset`] retired, now that the new state is
    /// saved. True when the state changed (the engine saves it again).
    fn collect_garbage(&mut self) -> Result<bool, KeyError> {
        Ok(false)
    }
    /// The state to persist.
    fn state(&self) -> SecretBytes;

    /// Makes sure the device answers before a request starts (so that a person is not
    /// asked to approve what cannot be done): reconnects if the link is down and an
    /// attempt is due, else fails at once with [`KeyError::Unreachable`].
    fn ensure_ready(&mut self) -> Result<(), KeyError> {
        Ok(())
    }
    /// How the device is, as last seen (no round trip).
    fn health(&self) -> TpmHealth {
        TpmHealth::Ready
    }
    /// How the device is now: one cheap round trip (reconnecting first if due). For status
    /// displays, not for every request.
    fn probe(&mut self) -> TpmHealth {
        self.health()
    }
    /// Whether a key made earlier can still work here: false for keys of a cleared or
    /// replaced TPM, and for PIN-bound keys of a PIN index that is gone.
    fn key_usable(&mut self, _blob: &[u8]) -> Result<bool, KeyError> {
        Ok(true)
    }
    /// The person has been told that the device was replaced and its dead passkeys were
    /// removed: from now on this device is the one the state belongs to.
    fn accept_device(&mut self) {}
}

/// The rollback seal's anchor (docs/DESIGN.md "Rollback counter and store seal").
pub trait Sealing {
    /// The anti-rollback counter's value: a counter in the device that only counts up.
    /// `Ok(None)` when this key store has none (the seal is then off — said explicitly by
    /// the implementation); [`KeyError::CounterGone`] when it should have one and it is
    /// gone or not its own.
    fn seal_counter(&mut self) -> Result<Option<u64>, KeyError>;
    /// Advances the counter by one; returns the new value.
    fn advance_seal_counter(&mut self) -> Result<u64, KeyError>;
    /// A MAC of `message` under a key that never leaves the device.
    fn seal_mac(&mut self, message: &[u8; 32]) -> Result<[u8; 32], KeyError>;
}

/// The audit log's anchor in the device (docs/DESIGN.md "Audit checkpoints").
pub trait AuditAnchoring {
    /// The audit anchor, when this key store keeps an audit index (`Ok(None)`: checkpoints
    /// off, explicitly).
    fn audit_anchor(&mut self) -> Result<Option<AuditAnchor>, KeyError>;
    /// Extends the audit index with `message` (`crate::checkpoint::message`) and certifies
    /// the result with `message` as the statement's extraData.
    fn audit_checkpoint(&mut self, message: &[u8; 32]) -> Result<AuditStatement, KeyError>;
    /// The audit index's value now, certified with `nonce` as extraData.
    fn audit_statement(&mut self, nonce: &[u8; 32]) -> Result<AuditStatement, KeyError>;
}

/// What the PIN enrolment anchors (docs/DESIGN.md "Anchors"): statements only the PIN can
/// make, checked at a start without it.
pub trait Anchoring {
    /// The anchor, when the PIN enrolment has one (`Ok(None)`: no PIN, or a PIN index
    /// from before anchors — explicitly no anchor).
    fn anchor(&mut self) -> Result<Option<Anchor>, KeyError>;
    /// Signs `digest` with the anchor key, proving `pin` to the device (counted like any
    /// PIN check); the DER-encoded ECDSA signature.
    fn anchor_sign(&mut self, pin: &PinHash, digest: &[u8; 32]) -> Result<Vec<u8>, KeyError>;
    /// Advances the epoch counter by one; its new value.
    fn advance_epoch(&mut self) -> Result<u64, KeyError>;
}

/// The device's attestation of new keys (WebAuthn §8.3 `tpm`).
pub trait Attesting {
    /// Certifies the credential key in `blob` with the attestation key, `extra` as the
    /// statement's extraData (SHA-256(authData ‖ clientDataHash)).
    fn certify_key(&mut self, blob: &[u8], extra: &[u8; 32]) -> Result<KeyCertification, KeyError>;
}
