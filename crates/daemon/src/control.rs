//! The control socket: `$XDG_RUNTIME_DIR/tpm-passkey/control.sock`, mode 0600, and every
//! peer's uid checked with SO_PEERCRED against ours. JSON lines as in tpm-passkey-ipc
//! (docs/CONTROL.md).
//!
//! Local input is bounded: a line longer than [`MAX_LINE`] closes the connection with an
//! error, and at most [`MAX_CONNECTIONS`] connections are served at once (one thread
//! each); the next is told to try later — in a line it can read (issue 23: it used to get
//! "Broken pipe" for its hello). A connection that says nothing is closed: no hello within
//! [`HELLO_WITHIN`], no request within [`IDLE_FOR`] between requests — except the approval
//! agent's, which waits for prompts — so that idle connections cannot hold the slots (and
//! keep the app from becoming the agent) for as long as a program likes.

use std::io::{BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use tpm_passkey_core::ipc::{
    decode, encode, read_line_bounded, AgentKind, AgentView, ClientMessage, DaemonMessage,
    ErrorKind, Pin, PROTOCOL_VERSION,
};
use tpm_passkey_core::{AuditEvent, AuditKind, Outcome};

use crate::agent_hub::{AgentHub, Occupied};
use crate::engine_thread::EngineHandle;
use crate::hub_approver::process_name;

/// The longest request line: the largest real one (a site rule or a PIN) is well under a
/// kilobyte.
pub const MAX_LINE: usize = 64 * 1024;
/// Connections served at once (the app holds two, the CLI one per command).
pub const MAX_CONNECTIONS: usize = 32;
/// How long a new connection may wait before its hello.
pub const HELLO_WITHIN: Duration = Duration::from_secs(3);
/// How long a greeted connection that is not the approval agent may wait between requests
/// (the CLI and the app send theirs at once; a prompt's answer comes on the agent's).
pub const IDLE_FOR: Duration = Duration::from_secs(30);

/// Who is on the other end of a control connection (SO_PEERCRED, /proc/PID/comm).
#[derive(Debug, Clone, Default)]
pub struct Peer {
    pub pid: Option<u32>,
    pub name: Option<String>,
}

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
        // A directory we make is ours alone (0700); one that exists (say /tmp, for a path
        // given on the command line) is left as it is.
        if let Some(dir) = path.parent().filter(|d| !d.exists()) {
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
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = stop.clone();
        let thread = std::thread::Builder::new()
            .name("control".into())
            .spawn(move || accept_loop(&listener, &stop2, &hub, &engine))?;
        tracing::info!(path = %path.display(), "control socket listening");
        Ok(ControlServer {
            path: path.to_owned(),
            stop,
            thread: Some(thread),
        })
    }
}

fn accept_loop(
    listener: &UnixListener,
    stop: &AtomicBool,
    hub: &Arc<AgentHub>,
    engine: &Arc<EngineHandle>,
) {
    let next_conn = AtomicU64::new(1);
    let open = Arc::new(AtomicUsize::new(0));
    while !stop.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((stream, _)) => {
                // The wake-up of Drop, or a client that came as we stop.
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                if open.load(Ordering::SeqCst) >= MAX_CONNECTIONS {
                    refuse(stream);
                    continue;
                }
                open.fetch_add(1, Ordering::SeqCst);
                let conn = next_conn.fetch_add(1, Ordering::SeqCst);
                let (hub, engine, open2) = (hub.clone(), engine.clone(), open.clone());
                let spawned = std::thread::Builder::new()
                    .name("control-conn".into())
                    .spawn(move || {
                        serve_client(conn, stream, &hub, &engine);
                        open2.fetch_sub(1, Ordering::SeqCst);
                    });
                if spawned.is_err() {
                    open.fetch_sub(1, Ordering::SeqCst);
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => {
                tracing::error!(error = %e, "control socket accept failed");
                std::thread::sleep(Duration::from_millis(200));
            }
        }
    }
}

/// Tells a connection beyond [`MAX_CONNECTIONS`] to try again, so that it can read it: the
/// refusal is written, what the client has sent so far is read (closing a socket with
/// unread data resets the client's end, and it would see "connection reset" before the
/// line), and only then is it closed. Nothing here blocks.
fn refuse(mut stream: UnixStream) {
    let _ = stream.set_nonblocking(true);
    let _ = stream.write_all(
        encode(&DaemonMessage::refusal(
            ErrorKind::Busy,
            format!("the daemon is serving {MAX_CONNECTIONS} connections already; try again"),
        ))
        .as_bytes(),
    );
    let _ = stream.shutdown(std::net::Shutdown::Write);
    let mut sink = [0u8; 4096];
    while matches!(std::io::Read::read(&mut stream, &mut sink), Ok(n) if n > 0) {}
}

impl Drop for ControlServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // accept() blocks (the thread does not wake while idle): wake it.
        let _ = UnixStream::connect(&self.path);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Whether the client has closed its end (seen without reading: it sends nothing while it
/// waits for an answer).
fn hung_up(stream: &UnixStream) -> bool {
    use rustix::event::{poll, PollFd, PollFlags, Timespec};
    let mut fds = [PollFd::new(stream, PollFlags::RDHUP)];
    matches!(poll(&mut fds, Some(&Timespec::default())), Ok(n) if n > 0)
        && fds[0]
            .revents()
            .intersects(PollFlags::RDHUP | PollFlags::HUP | PollFlags::ERR)
}

/// The peer if it runs as our own uid (the socket's 0600 mode says the same; this also
/// covers a file made reachable by a later chmod).
fn same_user_peer(stream: &UnixStream) -> Option<Peer> {
    let cred = rustix::net::sockopt::socket_peercred(stream).ok()?;
    if cred.uid != rustix::process::getuid() {
        return None;
    }
    let pid = u32::try_from(cred.pid.as_raw_nonzero().get()).ok();
    Some(Peer {
        pid,
        name: pid.and_then(process_name),
    })
}

fn error(kind: ErrorKind, message: impl Into<String>) -> Option<DaemonMessage> {
    Some(DaemonMessage::refusal(kind, message))
}

fn serve_client(conn: u64, stream: UnixStream, hub: &AgentHub, engine: &EngineHandle) {
    let Some(peer) = same_user_peer(&stream) else {
        tracing::warn!("refused a control connection from another user");
        return;
    };
    let _ = stream.set_nonblocking(false);
    let Ok(mut writer) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    let mut greeted = false;
    loop {
        line.clear();
        // Silence closes the connection, except the agent's (it waits for prompts).
        let patience = if !greeted {
            Some(HELLO_WITHIN)
        } else if hub.is_agent(conn) {
            None
        } else {
            Some(IDLE_FOR)
        };
        if reader.get_ref().set_read_timeout(patience).is_err() {
            break;
        }
        match read_line_bounded(&mut reader, &mut line, MAX_LINE) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                tracing::debug!(conn, "closed a control connection that said nothing");
                break;
            }
            Err(e) if e.kind() == std::io::ErrorKind::InvalidData => {
                let _ = writer.write_all(
                    encode(&DaemonMessage::refusal(
                        ErrorKind::BadRequest,
                        format!(
                            "request too long or not UTF-8 (at most {MAX_LINE} bytes per line)"
                        ),
                    ))
                    .as_bytes(),
                );
                break;
            }
            Err(_) => break,
        }
        crate::corpus::record("control_message", line.as_bytes());
        let reply = match decode::<ClientMessage>(&line) {
            Err(e) => error(ErrorKind::BadRequest, format!("malformed message: {e}")),
            Ok(ClientMessage::Hello { protocol }) if protocol == PROTOCOL_VERSION => {
                greeted = true;
                Some(DaemonMessage::Hello {
                    protocol: PROTOCOL_VERSION,
                    version: env!("CARGO_PKG_VERSION").into(),
                })
            }
            Ok(ClientMessage::Hello { protocol }) => error(
                ErrorKind::BadRequest,
                format!(
                    "protocol {protocol} is not supported; this daemon speaks {PROTOCOL_VERSION}"
                ),
            ),
            Ok(_) if !greeted => error(ErrorKind::BadRequest, "say hello first"),
            Ok(ClientMessage::RegisterAgent { kind, take_over }) => match writer.try_clone() {
                Ok(w) => register_agent(conn, w, &peer, kind, take_over, hub, engine),
                Err(_) => break,
            },
            Ok(ClientMessage::Answer {
                id,
                approve,
                pin,
                choice,
            }) => {
                if hub.answer(conn, id, approve, pin, choice) {
                    None
                } else {
                    error(
                        ErrorKind::BadRequest,
                        "only the registered agent answers, and only prompts that are waiting",
                    )
                }
            }
            Ok(request) => Some(
                engine
                    .manage(request, peer.clone(), &|| hung_up(&writer))
                    .unwrap_or_else(|| {
                        DaemonMessage::refusal(ErrorKind::Busy, "the engine is not responding")
                    }),
            ),
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

/// The agent's kind is taken as claimed only where it cannot lie its way to more: the
/// scripted kind exists only in builds with the `scripted-agent` feature; the process
/// behind the connection is recorded from the kernel, whatever is claimed.
fn kind_allowed(kind: AgentKind) -> bool {
    kind != AgentKind::Scripted || cfg!(feature = "scripted-agent")
}

fn register_agent(
    conn: u64,
    writer: UnixStream,
    peer: &Peer,
    kind: AgentKind,
    take_over: Option<Pin>,
    hub: &AgentHub,
    engine: &EngineHandle,
) -> Option<DaemonMessage> {
    if !kind_allowed(kind) {
        return error(ErrorKind::BadRequest, "this build has no scripted agent");
    }
    let view = AgentView {
        kind,
        name: peer.name.clone(),
        pid: peer.pid,
    };
    let describe = |v: &AgentView| {
        format!(
            "{} ({}, pid {})",
            v.name.as_deref().unwrap_or("unknown program"),
            match v.kind {
                AgentKind::App => "app",
                AgentKind::Terminal => "terminal",
                AgentKind::Prompt => "prompt window",
                AgentKind::Scripted => "scripted",
            },
            v.pid.map_or("?".into(), |p| p.to_string())
        )
    };
    // Recorded without waiting: the engine thread may be busy with the very request whose
    // prompt this agent is about to answer.
    let audit = |kind: AuditKind, outcome: Outcome, detail: String, client: Option<String>| {
        engine.run_detached(move |e| {
            e.record(
                AuditEvent::new(kind, None, outcome)
                    .detail(detail)
                    .client(client),
            );
        });
    };
    // Taking over needs the PIN (once one is set), checked by the TPM like any other.
    let proven = match take_over {
        Some(pin) if hub.agent().is_some() => {
            match engine.run(move |e| e.require_pin(Some(&pin), AuditKind::AgentReplaced)) {
                Some(Ok(())) => true,
                Some(Err(e)) => return error(e.kind(), format!("not taken over: {e}")),
                None => return error(ErrorKind::Busy, "the engine is not responding"),
            }
        }
        _ => false,
    };
    if kind == AgentKind::Scripted {
        tracing::warn!("a scripted approval agent registered: requests will be answered by a script, not a person");
    }
    match hub.register(conn, writer, view.clone(), proven) {
        Ok(replaced) => {
            match replaced {
                Some(old) => audit(
                    AuditKind::AgentReplaced,
                    Outcome::Ok,
                    format!("{} replaced {}", describe(&view), describe(&old)),
                    peer.name.clone(),
                ),
                None => audit(
                    AuditKind::AgentRegistered,
                    Outcome::Ok,
                    describe(&view),
                    peer.name.clone(),
                ),
            }
            // The hub has answered `ok` already, ahead of any prompt.
            None
        }
        Err(Occupied::By(current)) => {
            tracing::warn!(by = ?view.name, "refused a second approval agent");
            audit(
                AuditKind::AgentRefused,
                Outcome::Denied,
                format!(
                    "{} tried to replace {}",
                    describe(&view),
                    describe(&current)
                ),
                peer.name.clone(),
            );
            error(ErrorKind::Busy, format!(
                "another approval agent is connected: {}. It stays; to take its place, prove the PIN (take over)",
                describe(&current)
            ))
        }
    }
}
