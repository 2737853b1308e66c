//! tpm-passkey's authenticator engine: CTAP 2.1 (and CTAP1/U2F) command handling on top of
//! three capabilities the daemon supplies:
//!
//! * a [`KeyStore`] that makes P-256 keys, signs, and keeps the PIN (the TPM in production,
//!   [`soft::SoftKeys`] in unit tests),
//! * an [`Approver`] that asks the user (presence, and the PIN for built-in user
//!   verification) — the approval agent on the control socket in production,
//! * a [`Store`]: the SQLite credential store.
//!
//! Bytes come in as a CTAP request ([`tpm_passkey_wire::ctap2::Request`]) and go out as a
//! status plus CBOR body; handlers work on typed values. No TPM, async runtime or UI code
//! is imported here.
#![forbid(unsafe_code)]

mod approver;
mod audit;
mod client_pin;
mod config;
mod cred_id;
mod cred_mgmt;
mod engine;
mod get_assertion;
mod key_store;
mod make_credential;
mod manage;
mod pin_protocol;
mod secret;
mod site_rules;
pub mod soft;
mod store;
mod token;
mod u2f;

pub use approver::{Approver, Operation, Prompt, Refusal};
pub use audit::AuditEvent;
pub use engine::{Engine, Settings, AAGUID};
pub use key_store::{KeyError, KeyStore, NewKey, PinProtection};
pub use manage::PasskeyInfo;
pub use secret::{PinHash, SecretBytes};
pub use site_rules::SiteRule;
pub use store::{AuditRecord, Credential, Store, StoreError};
pub use tpm_passkey_wire as wire;
