//! tpm-passkey's TPM 2.0 back end.
//!
//! Everything that touches the TPM lives here, behind a small safe API:
//!
//! * [`Tpm`]: one connection (TCTI chosen by [`TctiChoice`]) with the root key loaded,
//!   derived from a 32-byte [`RootSeed`] that the caller keeps. Deleting the seed makes
//!   every key blob created under it useless (cryptographic erasure).
//! * The PIN ([`PinIndex`]): a TPM_NT_PIN_FAIL NV index whose authValue is the CTAP
//!   pinHash. The TPM counts failures, resets on success and refuses at the limit; the
//!   TPM-wide dictionary-attack counter is never touched. Nobody, the owner included, can
//!   rewrite its counter or rebuild it (see `pin`).
//! * hmac-secret ([`PrfKey`]): CredRandom computed by TPM2_HMAC under keys made in the
//!   TPM, the UV one bound to the PIN.
//! * Credential keys ([`KeyBlob`]): P-256 ECDSA keys made inside the TPM, either
//!   user-presence only or bound to the PIN by `PolicySecret(PIN index)`.
//! * The audit index ([`AuditIndex`]): an extend index nobody can set back, certified by a
//!   restricted attestation key, that anchors the audit log's checkpoints.
//! * [`Swtpm`]: the embedded simulator used when no TPM device exists, and by tests.
//! * [`OwnerAuthStore`]: the owner-hierarchy password, if IT set one, kept in the
//!   Secret Service through keyring-core, never in a file.
//!
//! [`Tpm`] is not `Send` (the ESAPI context is a raw C handle): a program that wants the
//! TPM from several threads gives it one thread of its own.
#![deny(unsafe_code)]

mod attestation;
mod audit_index;
mod blob;
mod bound;
mod change_auth;
pub mod command_count;
mod counter;
mod error;
pub mod esys_openssl;
mod hangup;
mod info;
mod kdf;
mod key_store;
mod keys;
mod one_time_key;
mod one_way;
mod owner_auth;
mod pin;
mod pin_session;
mod policy;
mod prf;
mod secret;
mod session;
mod stale;
mod swtpm;
mod tcti;
mod templates;
mod tpm;
mod watchdog;

pub use attestation::{EnrolmentRequest, KeyCertification};
pub use audit_index::{AuditIndex, Certified, AUDIT_INDEX_SIZE};
pub use blob::{KeyBlob, Protection};
pub use counter::{EpochCounter, RollbackCounter};
pub use error::{Error, Result};
pub use info::{DaState, TpmInfo};
pub use key_store::TpmKeyStore;
pub use keys::{CreatedKey, KeyAuth};
pub use owner_auth::OwnerAuthStore;
pub use pin::{
    AnchorTargets, Anchors, PinIndex, PinKind, PinRetries, SealedPolicy, PIN_INDEX_RANGE, PIN_LIMIT,
};
pub use policy::{policy_change_auth_digest, policy_secret_digest, PolicyDigest};
pub use prf::PrfKey;
pub use secret::{OwnerAuth, PinHash, RootSeed};
pub use swtpm::Swtpm;
pub use tcti::{TctiChoice, TctiSource};
pub use templates::attestation_key as attestation_key_template;
pub use tpm::Tpm;
pub use watchdog::{Watchdog, DEFAULT_DEADLINE};
