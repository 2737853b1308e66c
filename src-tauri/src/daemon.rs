//! Requests to the daemon over its control socket (docs/CONTROL.md): one short connection
//! per request, so that a restarted daemon is picked up without any reconnect logic here.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Serialize, Serializer};
use tpm_passkey_ipc::{decode, encode, ClientMessage, DaemonMessage, PROTOCOL_VERSION};
use zeroize::Zeroize;

/// Why a request did not succeed, in words the window can show as they are.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("The tpm-passkey service is not running.")]
    DaemonDown,
    /// The daemon refused; its message says what to do (never contains a secret).
    #[error("{0}")]
    Refused(String),
    #[error("The tpm-passkey service gave an unexpected answer.")]
    Unexpected,
    #[error("Lost the connection to the tpm-passkey service: {0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Invalid(&'static str),
}

impl Serialize for AppError {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

/// Where the daemon listens: `TPM_PASSKEY_CONTROL`, else the default per-user path.
pub fn control_path() -> PathBuf {
    std::env::var_os("TPM_PASSKEY_CONTROL")
        .map(PathBuf::from)
        .or_else(tpm_passkey_ipc::default_control_path)
        .unwrap_or_else(|| PathBuf::from("/nonexistent/tpm-passkey/control.sock"))
}

/// A greeted connection.
pub fn connect(path: &Path) -> Result<(UnixStream, BufReader<UnixStream>), AppError> {
    let stream = UnixStream::connect(path).map_err(|_| AppError::DaemonDown)?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut writer = stream;
    writer.write_all(
        encode(&ClientMessage::Hello {
            protocol: PROTOCOL_VERSION,
        })
        .as_bytes(),
    )?;
    match read(&mut reader)? {
        DaemonMessage::Hello { .. } => Ok((writer, reader)),
        _ => Err(AppError::Unexpected),
    }
}

pub fn read(reader: &mut BufReader<UnixStream>) -> Result<DaemonMessage, AppError> {
    let mut line = String::new();
    if reader.read_line(&mut line)? == 0 {
        return Err(AppError::DaemonDown);
    }
    decode(&line).map_err(|_| AppError::Unexpected)
}

/// Sends `msg` (zeroizing its encoded form: it may carry a PIN) and returns the answer;
/// the daemon's `error` answers become [`AppError::Refused`].
pub fn call(path: &Path, msg: &ClientMessage) -> Result<DaemonMessage, AppError> {
    let (mut writer, mut reader) = connect(path)?;
    if matches!(msg, ClientMessage::TestSignIn) {
        // Two prompts, each up to the daemon's prompt timeout, are waited for in between.
        reader
            .get_ref()
            .set_read_timeout(Some(Duration::from_secs(150)))?;
    }
    let mut line = encode(msg);
    let sent = writer.write_all(line.as_bytes());
    line.zeroize();
    sent?;
    match read(&mut reader)? {
        DaemonMessage::Error { message } => Err(AppError::Refused(message)),
        other => Ok(other),
    }
}
