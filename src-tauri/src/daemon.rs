//! Requests to the daemon over its control socket (docs/CONTROL.md), through the one
//! control-socket client (`tpm_passkey_ipc::Client`): one short connection per request,
//! so that a restarted daemon is picked up without any reconnect logic here.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Serialize, Serializer};
use tpm_passkey_ipc::{Client, ClientError, ClientMessage, DaemonMessage, ErrorKind};

/// Why a request did not succeed, in words the window can show as they are.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("The tpm-passkey service is not running.")]
    DaemonDown,
    /// It is not running because its last start failed; the daemon's reason says what to
    /// do (a refused store: docs/RECOVERY.md).
    #[error("The tpm-passkey service could not start: {0}")]
    StartFailed(String),
    /// The daemon refused; its message says what to do (never contains a secret), its
    /// kind is what the window decides on (ask for the PIN, …).
    #[error("{message}")]
    Refused { kind: ErrorKind, message: String },
    #[error("The tpm-passkey service gave an unexpected answer.")]
    Unexpected,
    #[error("Lost the connection to the tpm-passkey service: {0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Invalid(&'static str),
}

impl From<ClientError> for AppError {
    fn from(e: ClientError) -> Self {
        match e {
            ClientError::NotRunning {
                start_failure: Some(why),
                ..
            } => AppError::StartFailed(why),
            ClientError::NotRunning { .. } | ClientError::NoRuntimeDir | ClientError::Closed => {
                AppError::DaemonDown
            }
            ClientError::Refused { kind, message } => AppError::Refused { kind, message },
            ClientError::Io(e) => AppError::Io(e),
            _ => AppError::Unexpected,
        }
    }
}

/// What the window decides on: the daemon's [`ErrorKind`] for its refusals, the app's own
/// words for the rest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum WindowKind {
    Daemon(ErrorKind),
    App(&'static str),
}

impl AppError {
    pub fn kind(&self) -> WindowKind {
        match self {
            AppError::Refused { kind, .. } => WindowKind::Daemon(*kind),
            AppError::DaemonDown => WindowKind::App("daemon_down"),
            AppError::StartFailed(_) => WindowKind::App("start_failed"),
            AppError::Invalid(_) => WindowKind::Daemon(ErrorKind::BadRequest),
            AppError::Unexpected | AppError::Io(_) => WindowKind::Daemon(ErrorKind::Other),
        }
    }
}

/// A rejected command reaches the window as `{kind, message}` (ui/js/util.js makes it a
/// `Refusal`, an `Error` whose text is the message).
impl Serialize for AppError {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("AppError", 2)?;
        st.serialize_field("kind", &self.kind())?;
        st.serialize_field("message", &self.to_string())?;
        st.end()
    }
}

/// Where the daemon listens: `TPM_PASSKEY_CONTROL`, else the default per-user path.
pub fn control_path() -> PathBuf {
    std::env::var_os("TPM_PASSKEY_CONTROL")
        .map(PathBuf::from)
        .or_else(tpm_passkey_ipc::default_control_path)
        .unwrap_or_else(|| PathBuf::from("/nonexistent/tpm-passkey/control.sock"))
}

/// A greeted connection; answers are waited for at most `timeout`.
pub fn connect(path: &Path, timeout: Option<Duration>) -> Result<Client, AppError> {
    Ok(Client::connect(path, timeout)?)
}

/// Sends `msg` and returns the answer; the daemon's `error` answers become
/// [`AppError::Refused`]. The encoded line, which may carry a PIN, is zeroized by the
/// client; the PINs in `msg` zeroize themselves when it is dropped.
pub fn call(path: &Path, msg: &ClientMessage) -> Result<DaemonMessage, AppError> {
    // The test sign-in waits for two prompts, each up to the daemon's prompt timeout.
    let timeout = if matches!(msg, ClientMessage::TestSignIn) {
        Duration::from_secs(150)
    } else {
        Duration::from_secs(30)
    };
    Ok(connect(path, Some(timeout))?.call(msg)?)
}
