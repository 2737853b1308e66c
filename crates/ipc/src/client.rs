//! The one control-socket client, used by the CLI, the app and the agents: connect and
//! greet, send a message (zeroizing the encoded line, which may carry a PIN), read the
//! next message, or both at once.

use std::io::{BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::{
    decode, encode, read_line_bounded, ClientMessage, DaemonMessage, ErrorKind, PROTOCOL_VERSION,
};

/// The longest line a client accepts from the daemon (an audit export of 10,000 records is
/// about 2 MB).
pub const MAX_DAEMON_LINE: usize = 16 << 20;

/// What can go wrong talking to the daemon. `Display` is written for the user.
#[derive(Debug)]
#[non_exhaustive]
pub enum ClientError {
    /// No daemon listens at the path.
    NotRunning {
        path: PathBuf,
        source: std::io::Error,
        /// Why the daemon's last start failed, when it left word (see
        /// [`last_start_failure`]): a refused store, with what to do about it.
        start_failure: Option<String>,
    },
    /// XDG_RUNTIME_DIR is unset and no path was given.
    NoRuntimeDir,
    Io(std::io::Error),
    /// The daemon closed the connection.
    Closed,
    /// A line that is not one of our messages (another version?).
    Malformed(String),
    /// The daemon refused the request; `kind` is what to decide on, `message` says why and
    /// what to do.
    Refused {
        kind: ErrorKind,
        message: String,
    },
    /// A valid message of another kind than the request calls for.
    Unexpected(Box<DaemonMessage>),
}

impl std::fmt::Display for ClientError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClientError::NotRunning {
                path,
                source,
                start_failure: Some(why),
            } => write!(
                f,
                "the daemon is not running (no control socket at {}: {source}); its last start failed: {why}",
                path.display()
            ),
            ClientError::NotRunning { path, source, .. } => write!(
                f,
                "the daemon is not running (no control socket at {}: {source}); start it with `systemctl --user start tpm-passkey` or `tpm-passkey daemon`",
                path.display()
            ),
            ClientError::NoRuntimeDir => {
                f.write_str("XDG_RUNTIME_DIR is not set; pass --control PATH")
            }
            ClientError::Io(e) => write!(f, "the connection to the daemon failed: {e}"),
            ClientError::Closed => f.write_str("the daemon closed the connection"),
            ClientError::Malformed(e) => write!(f, "the daemon sent something unexpected: {e}"),
            ClientError::Refused { message, .. } => f.write_str(message),
            ClientError::Unexpected(m) => write!(f, "unexpected answer from the daemon: {m:?}"),
        }
    }
}

impl std::error::Error for ClientError {}

impl ClientError {
    /// The kind of a refusal; `None` for anything else (not running, I/O, …).
    pub fn refusal_kind(&self) -> Option<ErrorKind> {
        match self {
            ClientError::Refused { kind, .. } => Some(*kind),
            _ => None,
        }
    }
}

impl From<std::io::Error> for ClientError {
    fn from(e: std::io::Error) -> Self {
        ClientError::Io(e)
    }
}

/// `explicit`, else `$XDG_RUNTIME_DIR/tpm-passkey/control.sock`.
pub fn control_path(explicit: Option<&Path>) -> Result<PathBuf, ClientError> {
    match explicit {
        Some(p) => Ok(p.to_owned()),
        None => crate::default_control_path().ok_or(ClientError::NoRuntimeDir),
    }
}

/// One greeted connection.
#[derive(Debug)]
pub struct Client {
    writer: UnixStream,
    reader: BufReader<UnixStream>,
}

impl Client {
    /// Connects and greets; waits at most `timeout` for each answer (None: forever).
    pub fn connect(path: &Path, timeout: Option<Duration>) -> Result<Self, ClientError> {
        let stream = UnixStream::connect(path).map_err(|source| ClientError::NotRunning {
            path: path.to_owned(),
            source,
            start_failure: last_start_failure(path),
        })?;
        stream.set_read_timeout(timeout)?;
        let mut c = Client {
            writer: stream.try_clone()?,
            reader: BufReader::new(stream),
        };
        // A daemon with no room answers before it reads anything, and hangs up: the hello
        // may then fail to go out ("broken pipe"), but the refusal is there to read.
        let sent = c.send(&ClientMessage::Hello {
            protocol: PROTOCOL_VERSION,
        });
        match (sent, c.receive()) {
            (_, Ok(DaemonMessage::Error { kind, message })) => {
                Err(ClientError::Refused { kind, message })
            }
            (Err(e), _) => Err(e),
            (Ok(()), Ok(DaemonMessage::Hello { .. })) => Ok(c),
            (Ok(()), Ok(other)) => Err(ClientError::Unexpected(Box::new(other))),
            (Ok(()), Err(e)) => Err(e),
        }
    }

    /// From now on, wait at most `timeout` for a message (None: forever, as an agent does).
    pub fn set_read_timeout(&self, timeout: Option<Duration>) -> Result<(), ClientError> {
        Ok(self.reader.get_ref().set_read_timeout(timeout)?)
    }

    /// A second handle on the connection for writing (an agent answers on it while
    /// another thread reads).
    pub fn try_clone_writer(&self) -> Result<UnixStream, ClientError> {
        Ok(self.writer.try_clone()?)
    }

    /// Sends one message. The encoded line is zeroized afterwards: it may carry a PIN.
    pub fn send(&mut self, msg: &ClientMessage) -> Result<(), ClientError> {
        send_on(&mut self.writer, msg)
    }

    /// The next message from the daemon, whatever it is (an `error` included).
    pub fn receive(&mut self) -> Result<DaemonMessage, ClientError> {
        let mut line = String::new();
        match read_line_bounded(&mut self.reader, &mut line, MAX_DAEMON_LINE) {
            Ok(0) => Err(ClientError::Closed),
            Ok(_) => decode(&line).map_err(|e| ClientError::Malformed(e.to_string())),
            Err(e) => Err(ClientError::Io(e)),
        }
    }

    /// Sends a request and returns the answer; an `error` answer becomes
    /// [`ClientError::Refused`].
    pub fn call(&mut self, msg: &ClientMessage) -> Result<DaemonMessage, ClientError> {
        self.send(msg)?;
        match self.receive()? {
            DaemonMessage::Error { kind, message } => Err(ClientError::Refused { kind, message }),
            other => Ok(other),
        }
    }
}

/// Sends `msg` on `w`, zeroizing the encoded line afterwards.
pub fn send_on(w: &mut impl Write, msg: &ClientMessage) -> Result<(), ClientError> {
    let mut line = encode(msg);
    let sent = w.write_all(line.as_bytes());
    zeroize::Zeroize::zeroize(&mut line);
    Ok(sent?)
}

/// Where a daemon that could not start leaves its reason, beside its control socket: the
/// store refused as restored or edited, say, with what to do (docs/RECOVERY.md). Removed at
/// the next successful start. Never holds a secret (it is the error a user reads).
pub fn start_failure_path(control: &Path) -> PathBuf {
    control.with_file_name("start-failure")
}

/// The reason the daemon's last start failed, if it left one.
pub fn last_start_failure(control: &Path) -> Option<String> {
    use std::io::Read;
    let mut text = String::new();
    std::fs::File::open(start_failure_path(control))
        .ok()?
        .take(4096)
        .read_to_string(&mut text)
        .ok()?;
    let text = text.trim().to_owned();
    (!text.is_empty()).then_some(text)
}
