//! The control socket: `$XDG_RUNTIME_DIR/tpm-passkey/control.sock`, mode 0600, and every
//! peer's uid checked with SO_PEERCRED against ours. JSON lines as in tpm-passkey-ipc
//! (docs/CONTROL.md).

use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use tpm_passkey_ipc::{decode, encode, ClientMessage, DaemonMessage, PROTOCOL_VERSION};

use crate::agent_hub::AgentHub;
use crate::engine_thread::EngineHandle;

/// A running control socket; dropping it stops accepting and removes the file.
#[derive(Debug)]
pub struct ControlServer {
    path: PathBuf,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl ControlServer {
    pub fn serve(
        path: &Path,
        hub: Arc<AgentHub>,
        engine: Arc<EngineHandle>,
    ) -> std::io::Result<Self> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
        }
        if path.exists() {
            if UnixStream::connect(path).is_ok() {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::AddrInUse,
                    format!(
                        "another tpm-passkey daemon is listening on {}",
                        path.display()
                    ),
                ));
            }
            std::fs::remove_file(path)?;
        }
        let listener = UnixListener::bind(path)?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
        listener.set_nonblocking(true)?;
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = stop.clone();
        let thread = std::thread::Builder::new()
            .name("control".into())
            .spawn(move || {
                let next_conn = AtomicU64::new(1);
                while !stop2.load(Ordering::SeqCst) {
                    match listener.accept() {
                        Ok((stream, _)) => {
                            let conn = next_conn.fetch_add(1, Ordering::SeqCst);
                            let (hub, engine) = (hub.clone(), engine.clone());
                            let _ = std::thread::Builder::new()
                                .name("control-conn".into())
                                .spawn(move || serve_client(conn, stream, &hub, &engine));
                        }
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                            std::thread::sleep(Duration::from_millis(50))
                        }
                        Err(e) => {
                            tracing::error!(error = %e, "control socket accept failed");
                            std::thread::sleep(Duration::from_millis(200));
                        }
                    }
                }
            })?;
        tracing::info!(path = %path.display(), "control socket listening");
        Ok(ControlServer {
            path: path.to_owned(),
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for ControlServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let _ = std::fs::remove_file(&self.path);
    }
}

/// True when the peer runs as our own uid (the socket's 0600 mode says the same; this
/// also covers a file made reachable by a later chmod).
fn same_user(stream: &UnixStream) -> bool {
    match rustix::net::sockopt::socket_peercred(stream) {
        Ok(cred) => cred.uid == rustix::process::getuid(),
        Err(_) => false,
    }
}

fn serve_client(conn: u64, stream: UnixStream, hub: &AgentHub, engine: &EngineHandle) {
    if !same_user(&stream) {
        tracing::warn!("refused a control connection from another user");
        return;
    }
    let _ = stream.set_nonblocking(false);
    let Ok(mut writer) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    let mut greeted = false;
    loop {
        line.clear();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        let reply = match decode::<ClientMessage>(&line) {
            Err(e) => Some(DaemonMessage::Error {
                message: format!("malformed message: {e}"),
            }),
            Ok(ClientMessage::Hello { protocol }) if protocol == PROTOCOL_VERSION => {
                greeted = true;
                Some(DaemonMessage::Hello {
                    protocol: PROTOCOL_VERSION,
                    version: env!("CARGO_PKG_VERSION").into(),
                })
            }
            Ok(ClientMessage::Hello { protocol }) => Some(DaemonMessage::Error {
                message: format!(
                    "protocol {protocol} is not supported; this daemon speaks {PROTOCOL_VERSION}"
                ),
            }),
            Ok(_) if !greeted => Some(DaemonMessage::Error {
                message: "say hello first".into(),
            }),
            Ok(ClientMessage::RegisterAgent { kind }) => match writer.try_clone() {
                Ok(w) => {
                    hub.register(conn, w, kind);
                    Some(DaemonMessage::Ok)
                }
                Err(_) => break,
            },
            Ok(ClientMessage::Answer { id, approve, pin }) => {
                if hub.answer(conn, id, approve, pin) {
                    None
                } else {
                    Some(DaemonMessage::Error {
                        message: "only the registered agent answers prompts".into(),
                    })
                }
            }
            Ok(request) => Some(engine.manage(request).unwrap_or(DaemonMessage::Error {
                message: "the engine is not responding".into(),
            })),
        };
        // Lines may carry a PIN (an agent's answer): wipe the buffer after each.
        zeroize::Zeroize::zeroize(&mut line);
        if let Some(r) = reply {
            if writer.write_all(encode(&r).as_bytes()).is_err() {
                break;
            }
        }
    }
    hub.unregister(conn);
}
