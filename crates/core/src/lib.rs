//! tpm-passkey's authenticator engine: CTAP 2.1 (and CTAP1/U2F) on top of capabilities the
//! daemon supplies:
//!
//! * a [`KeyStore`] that makes P-256 keys, signs, computes hmac-secret, and keeps the PIN
//!   (the TPM in production; the testkit's soft key store in tests),
//! * an [`Approver`] that asks the user (presence, and the PIN for built-in user
//!   verification) — the approval agent on the control socket in production,
//! * a [`Clock`],
//! * a [`Store`]: the SQLite credential store.
//!
//! Bytes come in as a CTAP request ([`tpm_passkey_wire::ctap2::Request`]) and go out as a
//! status plus CBOR body; each command's handler is a file in `ctap/`, reached through the
//! [`wire::ctap2::Authenticator`] trait. What the user's own session asks (list, delete,
//! PIN, settings, reset) is in `local/`, answered in the control socket's own types
//! ([`tpm_passkey_ipc`]). No TPM, async runtime or UI code is imported here.
#![forbid(unsafe_code)]

mod anchoring;
mod approval;
mod audit;
pub mod audit_proof;
mod checkpoint;
mod clock;
mod credential;
mod ctap;
mod deferred;
mod engine;
mod errors;
mod fatigue;
pub mod hex;
mod key_store;
mod local;
mod pin;
mod protection;
mod seal;
mod secret;
mod session;
mod settings;
mod store;
mod u2f;

/// The credential-ID codec, for the fuzz target that attacks it directly (fuzz/).
#[doc(hidden)]
pub mod fuzzing {
    pub use crate::credential::id::{unwrap, unwrap_u2f, wrap, wrap_u2f, Wrapped};
}

pub use approval::{Approval, Approver, Refusal};
pub use audit::{AuditEvent, AuditKind, Outcome};
pub use checkpoint::CHECKPOINT_EVERY;
pub use clock::{Clock, SystemClock};
pub use engine::{Engine, AAGUID, MAX_DISCOVERABLE, MAX_PIN_BYTES};
pub use errors::ManageError;
pub use fatigue::{Cooldown, FatigueLimits};
pub use key_store::{
    Anchor, Anchoring, Attesting, AuditAnchor, AuditAnchoring, AuditStatement, IndexBinding,
    KeyCertification, KeyError, KeyStore, NewKey, Sealing,
};
pub use pin::PIN_FAILURES_PER_BOOT;
pub use secret::{PinHash, SecretBytes};
pub use settings::Settings;
pub use store::{Checkpoint, Credential, SealWith, SealedWrite, Store, StoreError};
pub use tpm_passkey_ipc as ipc;
pub use tpm_passkey_ipc::CooldownView;
pub use tpm_passkey_ipc::{Operation, PinProtection, Prompt, SiteRule, TpmHealth, TpmPath};
pub use tpm_passkey_wire as wire;
