//! Errors between the capabilities and the outside world, each mapped in one place.
//!
//! * To CTAP statuses: `From<KeyError>`, `From<StoreError>`, `From<Refusal>` for
//!   [`Status`], so handlers use `?` and the mapping is written once. A key-store or store
//!   failure reaches the client as CTAP1_ERR_OTHER; its detail goes to the log only.
//! * To people: [`ManageError`], what the control socket answers (the app and the CLI show
//!   its `Display` as is).

use tpm_passkey_wire::Status;

use crate::ipc::{DaemonMessage, ErrorKind};
use crate::{KeyError, Refusal, StoreError};

impl From<KeyError> for Status {
    fn from(e: KeyError) -> Self {
        match e {
            KeyError::PinInvalid => Status::PinInvalid,
            KeyError::PinBlocked => Status::PinBlocked,
            KeyError::PinRequired => Status::PuatRequired,
            KeyError::PinNotSet => Status::PinNotSet,
            KeyError::BadBlob => Status::InvalidParameter,
            KeyError::Unreachable => Status::TpmUnreachable,
            KeyError::CounterGone => {
                tracing::error!("key store failure: the rollback counter is gone");
                Status::Other
            }
            KeyError::Other(detail) => {
                tracing::error!(%detail, "key store failure");
                Status::Other
            }
        }
    }
}

impl From<StoreError> for Status {
    fn from(e: StoreError) -> Self {
        if matches!(e, StoreError::TpmUnreachable) {
            return Status::TpmUnreachable;
        }
        tracing::error!(error = %e, "credential store failure");
        Status::Other
    }
}

impl From<Refusal> for Status {
    fn from(r: Refusal) -> Self {
        match r {
            Refusal::Denied | Refusal::Throttled => Status::OperationDenied,
            Refusal::Timeout => Status::UserActionTimeout,
            Refusal::Cancelled => Status::KeepaliveCancel,
        }
    }
}

/// Why a request on the control socket was refused. `Display` is the text the user reads:
/// what went wrong and what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ManageError {
    #[error("this needs your PIN")]
    PinRequired,
    #[error("wrong PIN: {left} attempts left before the TPM blocks it")]
    WrongPin { left: u8 },
    #[error("the PIN is blocked after too many wrong attempts; only a reset (which erases every passkey) makes the authenticator usable again")]
    PinBlocked,
    #[error("three wrong PINs in a row: restart the service (`systemctl --user restart tpm-passkey`) to try again")]
    PinPaused,
    #[error("the PIN must be {min} to 63 bytes long, and the minimum length can only go up")]
    PinPolicy { min: u8 },
    #[error("a PIN is already set: change it instead (`tpm-passkey pin change`)")]
    PinAlreadySet,
    #[error("no PIN is set yet: set one first (`tpm-passkey pin set`)")]
    PinNotSet,
    /// `id` is cut to what a person needs to recognise it.
    #[error("no passkey with id {id} (see `tpm-passkey list`)")]
    NoSuchPasskey { id: String },
    #[error("that is not a passkey id (see `tpm-passkey list`)")]
    NotAPasskeyId,
    #[error("that is not a site name (for example github.com)")]
    NotASite,
    #[error("the confirmation does not match: type the words exactly as shown")]
    NotConfirmed,
    #[error("the prompt limits need a window and a cool-down of at least one second")]
    BadPromptLimits,
    #[error("no attestation certificate is installed: enrol the TPM with your organisation's CA first (`tpm-passkey attestation request`, then `attestation install`)")]
    NoAttestationCertificate,
    #[error("the attestation enrolment failed: {0}")]
    Enrolment(String),
    #[error("the nonce must be 32 bytes written as 64 hex digits")]
    BadNonce,
    #[error("the TPM cannot be reached right now; the daemon reconnects on its own, try again in a moment (`tpm-passkey status` shows when it is back)")]
    TpmUnreachable,
    #[error("the authenticator could not do that ({0}); see the daemon's log")]
    Failed(Status),
}

impl ManageError {
    /// What a client decides on; the text is for people.
    pub fn kind(&self) -> ErrorKind {
        match self {
            ManageError::PinRequired => ErrorKind::PinRequired,
            ManageError::WrongPin { .. } => ErrorKind::WrongPin,
            ManageError::PinBlocked | ManageError::PinPaused => ErrorKind::PinBlocked,
            ManageError::PinPolicy { .. } | ManageError::PinAlreadySet | ManageError::PinNotSet => {
                ErrorKind::PinState
            }
            ManageError::NoSuchPasskey { .. } | ManageError::NoAttestationCertificate => {
                ErrorKind::NotFound
            }
            ManageError::NotAPasskeyId
            | ManageError::NotASite
            | ManageError::BadPromptLimits
            | ManageError::BadNonce => ErrorKind::BadRequest,
            ManageError::NotConfirmed => ErrorKind::NotConfirmed,
            ManageError::TpmUnreachable => ErrorKind::TpmUnreachable,
            ManageError::Enrolment(_) | ManageError::Failed(_) => ErrorKind::Failed,
        }
    }

    /// A failure from a shared code path: an unreachable TPM says so, the rest name the
    /// CTAP status.
    pub fn from_status(s: Status) -> Self {
        match s {
            Status::TpmUnreachable => ManageError::TpmUnreachable,
            other => ManageError::Failed(other),
        }
    }

    /// A passkey id echoed back, cut to 32 characters: the daemon never repeats a
    /// megabyte it was sent.
    pub fn no_such_passkey(id: &str) -> Self {
        let shown: String = id.chars().take(32).collect();
        let ellipsis = if id.chars().count() > 32 { "…" } else { "" };
        ManageError::NoSuchPasskey {
            id: format!("{shown}{ellipsis}"),
        }
    }
}

impl From<ManageError> for DaemonMessage {
    fn from(e: ManageError) -> Self {
        DaemonMessage::refusal(e.kind(), e.to_string())
    }
}
