//! The app as the daemon's approval agent: one long-lived control connection registered
//! with `register_agent`, on which prompts arrive and answers go back. Prompts are kept
//! here (so a window opened late still sees them) and forwarded to the window as events;
//! the window is raised and kept on top while any prompt waits.

use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;
use tauri::{AppHandle, Emitter, Manager, Runtime};
use tpm_passkey_ipc::{encode, AgentKind, ClientMessage, DaemonMessage, PromptView};
use zeroize::Zeroize;

use crate::daemon::{self, AppError};

/// One prompt waiting for the user, as the window receives it.
#[derive(Debug, Clone, Serialize)]
pub struct PendingPrompt {
    pub id: u64,
    pub prompt: PromptView,
    /// Milliseconds left when this copy was made.
    pub timeout_ms: u64,
    /// When the daemon sent the prompt (Unix ms), for the window's latency measurement.
    pub sent_unix_ms: u64,
    #[serde(skip)]
    deadline: Option<Instant>,
}

impl PendingPrompt {
    fn refreshed(&self) -> Self {
        let mut p = self.clone();
        if let Some(d) = self.deadline {
            p.timeout_ms = d.saturating_duration_since(Instant::now()).as_millis() as u64;
        }
        p
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct PromptClosed {
    pub id: u64,
    pub reason: String,
}

/// Shared between the link thread and the commands.
#[derive(Debug, Default)]
pub struct AgentLink {
    writer: Mutex<Option<UnixStream>>,
    pending: Mutex<BTreeMap<u64, PendingPrompt>>,
    connected: AtomicBool,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl AgentLink {
    pub fn connected(&self) -> bool {
        self.connected.load(Ordering::SeqCst)
    }

    /// The prompts still waiting, oldest first (the window shows them one at a time).
    pub fn pending(&self) -> Vec<PendingPrompt> {
        lock(&self.pending)
            .values()
            .map(PendingPrompt::refreshed)
            .collect()
    }

    /// Sends the user's answer. The PIN is zeroized here, whatever happens.
    pub fn answer(&self, id: u64, approve: bool, mut pin: Option<String>) -> Result<(), AppError> {
        let waiting = lock(&self.pending).remove(&id);
        let result = match (waiting, lock(&self.writer).as_mut()) {
            (None, _) => Err(AppError::Invalid("That request is no longer waiting.")),
            (Some(_), None) => Err(AppError::DaemonDown),
            (Some(p), Some(w)) => {
                if approve && p.prompt.pin_required && pin.as_deref().is_none_or(str::is_empty) {
                    lock(&self.pending).insert(id, p);
                    Err(AppError::Invalid("Type your PIN to approve."))
                } else {
                    let mut msg = ClientMessage::Answer {
                        id,
                        approve,
                        pin: if approve { pin.take() } else { None },
                    };
                    let mut line = encode(&msg);
                    let sent = w.write_all(line.as_bytes());
                    line.zeroize();
                    if let ClientMessage::Answer { pin: Some(p), .. } = &mut msg {
                        p.zeroize();
                    }
                    sent.map_err(AppError::from)
                }
            }
        };
        if let Some(p) = pin.as_mut() {
            p.zeroize();
        }
        result
    }

    /// Denies everything waiting (the window was closed).
    pub fn deny_all(&self) {
        let ids: Vec<u64> = lock(&self.pending).keys().copied().collect();
        for id in ids {
            let _ = self.answer(id, false, None);
        }
    }

    fn on_message<R: Runtime>(&self, app: &AppHandle<R>, msg: DaemonMessage) {
        match msg {
            DaemonMessage::Prompt {
                id,
                prompt,
                timeout_ms,
                sent_unix_ms,
            } => {
                let p = PendingPrompt {
                    id,
                    prompt,
                    timeout_ms,
                    sent_unix_ms,
                    deadline: Some(Instant::now() + Duration::from_millis(timeout_ms)),
                };
                lock(&self.pending).insert(id, p.clone());
                raise(app, true);
                let _ = app.emit("prompt", p);
            }
            DaemonMessage::PromptClosed { id, reason } => {
                lock(&self.pending).remove(&id);
                let _ = app.emit("prompt-closed", PromptClosed { id, reason });
                if lock(&self.pending).is_empty() {
                    raise(app, false);
                }
            }
            DaemonMessage::Wink => {
                raise(app, false);
                let _ = app.emit("wink", ());
            }
            DaemonMessage::Error { message } => {
                tracing::warn!(%message, "the daemon refused an agent message");
            }
            _ => {}
        }
    }

    fn set_connected<R: Runtime>(&self, app: &AppHandle<R>, up: bool) {
        if self.connected.swap(up, Ordering::SeqCst) != up {
            let _ = app.emit("daemon", serde_json::json!({ "connected": up }));
            crate::tray::update(app, up);
        }
    }
}

/// Shows the main window; `on_top` keeps it above others while a prompt waits.
fn raise<R: Runtime>(app: &AppHandle<R>, on_top: bool) {
    if let Some(w) = app.get_webview_window("main") {
        let _ = w.show();
        let _ = w.unminimize();
        let _ = w.set_always_on_top(on_top);
        if on_top {
            let _ = w.set_focus();
        }
    }
}

/// Runs the link for the life of the app: connect, register, read prompts; on loss,
/// forget the prompts (the daemon has failed them) and try again every second.
pub fn spawn<R: Runtime>(app: AppHandle<R>, link: Arc<AgentLink>, path: PathBuf) {
    let _ = std::thread::Builder::new()
        .name("agent-link".into())
        .spawn(move || loop {
            if let Err(e) = serve(&app, &link, &path) {
                tracing::debug!(error = %e, "agent link down");
            }
            *lock(&link.writer) = None;
            let dropped: Vec<u64> = std::mem::take(&mut *lock(&link.pending))
                .into_keys()
                .collect();
            for id in dropped {
                let _ = app.emit(
                    "prompt-closed",
                    PromptClosed {
                        id,
                        reason: "daemon_gone".into(),
                    },
                );
            }
            link.set_connected(&app, false);
            std::thread::sleep(Duration::from_secs(1));
        });
}

fn serve<R: Runtime>(
    app: &AppHandle<R>,
    link: &AgentLink,
    path: &std::path::Path,
) -> Result<(), AppError> {
    let (mut writer, mut reader) = daemon::connect(path)?;
    reader.get_ref().set_read_timeout(None)?;
    writer.write_all(
        encode(&ClientMessage::RegisterAgent {
            kind: AgentKind::App,
        })
        .as_bytes(),
    )?;
    match daemon::read(&mut reader)? {
        DaemonMessage::Ok => {}
        DaemonMessage::Error { message } => return Err(AppError::Refused(message)),
        _ => return Err(AppError::Unexpected),
    }
    *lock(&link.writer) = Some(writer);
    link.set_connected(app, true);
    loop {
        let msg = daemon::read(&mut reader)?;
        link.on_message(app, msg);
    }
}
