//! The CLI's side of the control socket.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

use tpm_passkey_ipc::{decode, encode, ClientMessage, DaemonMessage, PROTOCOL_VERSION};

pub type CliResult<T = ()> = Result<T, Box<dyn std::error::Error>>;

/// `--control PATH`, else `$XDG_RUNTIME_DIR/tpm-passkey/control.sock`.
pub fn control_path(explicit: Option<&Path>) -> CliResult<PathBuf> {
    match explicit {
        Some(p) => Ok(p.to_owned()),
        None => tpm_passkey_ipc::default_control_path()
            .ok_or_else(|| "XDG_RUNTIME_DIR is not set; pass --control PATH".into()),
    }
}

/// One connection to the daemon, greeted.
pub struct Client {
    writer: UnixStream,
    reader: BufReader<UnixStream>,
}

impl Client {
    pub fn connect(path: &Path) -> CliResult<Self> {
        let stream = UnixStream::connect(path).map_err(|e| {
            format!(
                "the daemon is not running (no control socket at {}: {e}); start it with `systemctl --user start tpm-passkey` or `tpm-passkey daemon`",
                path.display()
            )
        })?;
        let mut c = Client {
            writer: stream.try_clone()?,
            reader: BufReader::new(stream),
        };
        match c.call(&ClientMessage::Hello {
            protocol: PROTOCOL_VERSION,
        })? {
            DaemonMessage::Hello { .. } => Ok(c),
            other => Err(format!("unexpected greeting from the daemon: {other:?}").into()),
        }
    }

    /// Sends one request and returns the answer; `Error` answers become errors.
    pub fn call(&mut self, msg: &ClientMessage) -> CliResult<DaemonMessage> {
        let mut line = encode(msg);
        let sent = self.writer.write_all(line.as_bytes());
        zeroize::Zeroize::zeroize(&mut line); // it may carry a PIN
        sent?;
        let mut answer = String::new();
        if self.reader.read_line(&mut answer)? == 0 {
            return Err("the daemon closed the connection".into());
        }
        match decode::<DaemonMessage>(&answer)? {
            DaemonMessage::Error { message } => Err(message.into()),
            other => Ok(other),
        }
    }
}
