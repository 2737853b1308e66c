//! The app as the daemon's approval agent: one long-lived control connection registered
//! with `register_agent`, on which prompts arrive and answers go back. Prompts are kept
//! here (so a window opened late still sees them) and forwarded to the window as events;
//! the window is raised and kept on top while any prompt waits.

use std::collections::BTreeMap;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;
use tauri::{AppHandle, Emitter, Manager, Runtime};
use tpm_passkey_ipc::{
    send_on, AgentKind, ClientMessage, DaemonMessage, Pin, Prompt, PromptClosedReason, Wording,
};

use crate::daemon::{self, AppError};

/// One prompt waiting for the user, as the window receives it.
#[derive(Debug, Clone, Serialize)]
pub struct PendingPrompt {
    pub id: u64,
    pub prompt: Prompt,
    /// What the window shows: the same words as the terminal agent (`Prompt::wording`).
    pub wording: Wording,
    /// Milliseconds left when this copy was made.
    pub timeout_ms: u64,
    /// When the daemon sent the prompt (Unix ms), for the window's latency measurement.
    pub sent_unix_ms: u64,
    /// When the request raised it (Unix ms): a prompt that started the app is measured
    /// from here.
    pub asked_unix_ms: u64,
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
    pub reason: PromptClosedReason,
}

/// Shared between the link thread and the commands.
#[derive(Debug, Default)]
pub struct AgentLink {
    writer: Mutex<Option<UnixStream>>,
    pending: Mutex<BTreeMap<u64, PendingPrompt>>,
    connected: AtomicBool,
    /// The PIN to take the approval slot with on the next registration (the user chose
    /// to take over from another program).
    take_over: Mutex<Option<Pin>>,
}

/// Told to the window when the approval slot is contested, taken, or refused to us.
#[derive(Debug, Clone, Serialize)]
pub struct AgentState {
    /// "contested" (another program tried and was refused), "replaced" (it proved the PIN
    /// and took over), or "refused" (another program holds the slot; `message` says which).
    pub state: &'static str,
    pub message: String,
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

    /// Sends the user's answer. The PIN zeroizes itself, whatever happens.
    pub fn answer(
        &self,
        id: u64,
        approve: bool,
        pin: Option<Pin>,
        choice: Option<u32>,
    ) -> Result<(), AppError> {
        let waiting = lock(&self.pending).remove(&id);
        match (waiting, lock(&self.writer).as_mut()) {
            (None, _) => Err(AppError::Invalid("That request is no longer waiting.")),
            (Some(_), None) => Err(AppError::DaemonDown),
            (Some(p), Some(w)) => {
                let accounts = p.prompt.accounts.len();
                if approve && p.prompt.pin_required && pin.as_ref().is_none_or(Pin::is_empty) {
                    lock(&self.pending).insert(id, p);
                    Err(AppError::Invalid("Type your PIN to approve."))
                } else if approve && accounts > 1 && choice.is_none_or(|c| c as usize >= accounts) {
                    lock(&self.pending).insert(id, p);
                    Err(AppError::Invalid("Choose the account to sign in with."))
                } else {
                    let msg = ClientMessage::Answer {
                        id,
                        approve,
                        pin: if approve { pin } else { None },
                        choice: if approve { choice } else { None },
                    };
                    send_on(w, &msg).map_err(AppError::from)
                }
            }
        }
    }

    /// Registers again, taking the approval slot with `pin` (the daemon checks it).
    pub fn take_over(&self, pin: Pin) {
        *lock(&self.take_over) = Some(pin);
        // Dropping the connection makes the link thread register again at once.
        if let Some(w) = lock(&self.writer).take() {
            let _ = w.shutdown(std::net::Shutdown::Both);
        }
    }

    /// Denies everything waiting (the window was closed).
    pub fn deny_all(&self) {
        let ids: Vec<u64> = lock(&self.pending).keys().copied().collect();
        for id in ids {
            let _ = self.answer(id, false, None, None);
        }
    }

    fn on_message<R: Runtime>(&self, app: &AppHandle<R>, msg: DaemonMessage) {
        match msg {
            DaemonMessage::Prompt {
                id,
                prompt,
                timeout_ms,
                sent_unix_ms,
                asked_unix_ms,
            } => {
                let p = PendingPrompt {
                    id,
                    wording: prompt.wording(),
                    prompt,
                    timeout_ms,
                    sent_unix_ms,
                    asked_unix_ms,
                    deadline: Some(Instant::now() + Duration::from_millis(timeout_ms)),
                };
                lock(&self.pending).insert(id, p.clone());
                crate::idle::prompt_arrived(app);
                raise(app, true);
                let _ = app.emit("prompt", p);
            }
            DaemonMessage::PromptClosed { id, reason } => {
                lock(&self.pending).remove(&id);
                let _ = app.emit("prompt-closed", PromptClosed { id, reason });
                crate::idle::prompts_settled(app);
            }
            DaemonMessage::Wink => {
                raise(app, false);
                let _ = app.emit("wink", ());
            }
            DaemonMessage::AgentNotice(n) => {
                let state = AgentState {
                    state: match n.notice {
                        tpm_passkey_ipc::AgentNoticeKind::Contested => "contested",
                        tpm_passkey_ipc::AgentNoticeKind::Replaced => "replaced",
                    },
                    message: n.wording("this app"),
                };
                raise(app, false);
                let _ = app.emit("agent-state", state);
            }
            DaemonMessage::Notice { text } => {
                // In the window (a banner) and, where the desktop has one, as a notification.
                let _ = app.emit("notice", text.clone());
                let _ = std::process::Command::new("notify-send")
                    .args([
                        "--app-name=tpm-passkey",
                        "--urgency=critical",
                        "tpm-passkey",
                        &text,
                    ])
                    .stdin(std::process::Stdio::null())
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::null())
                    .spawn()
                    .map(|mut c| std::thread::spawn(move || c.wait()));
            }
            DaemonMessage::Error { message, .. } => {
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
                        reason: PromptClosedReason::DaemonGone,
                    },
                );
            }
            link.set_connected(&app, false);
            crate::idle::prompts_settled(&app);
            std::thread::sleep(Duration::from_secs(1));
        });
}

fn serve<R: Runtime>(
    app: &AppHandle<R>,
    link: &AgentLink,
    path: &std::path::Path,
) -> Result<(), AppError> {
    let mut client = daemon::connect(path, Some(Duration::from_secs(30)))?;
    let take_over = lock(&link.take_over).take();
    match client.call(&ClientMessage::RegisterAgent {
        kind: AgentKind::App,
        take_over,
    }) {
        Ok(DaemonMessage::Ok) => {}
        Ok(_) => return Err(AppError::Unexpected),
        Err(tpm_passkey_ipc::ClientError::Refused { kind, message }) => {
            // Another program holds the approval slot: say so, and keep the window
            // usable for management; we try again (and the user may take over).
            let _ = app.emit(
                "agent-state",
                AgentState {
                    state: "refused",
                    message: message.clone(),
                },
            );
            return Err(AppError::Refused { kind, message });
        }
        Err(e) => return Err(e.into()),
    }
    client.set_read_timeout(None)?;
    *lock(&link.writer) = Some(client.try_clone_writer()?);
    tracing::debug!("registered as the approval agent");
    link.set_connected(app, true);
    let _ = app.emit(
        "agent-state",
        AgentState {
            state: "registered",
            message: String::new(),
        },
    );
    loop {
        let msg = client.receive()?;
        link.on_message(app, msg);
    }
}
