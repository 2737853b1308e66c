//! The approval agent as the engine sees it: at most one agent (the app, or the scripted
//! agent) is registered on the control socket; prompts go to it and wait for its answer,
//! the client's CANCEL, or the deadline. With no agent, the hub can start the app (ARCHITECTURE
//! "if no agent is connected when a prompt is needed, the daemon starts the app").

use std::collections::HashMap;
use std::io::Write;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tpm_passkey_core::Refusal;
use tpm_passkey_ipc::{encode, AgentKind, DaemonMessage, PromptView};

struct Agent {
    conn: u64,
    writer: UnixStream,
}

#[derive(Default)]
struct Hub {
    agent: Option<Agent>,
    answers: HashMap<u64, (bool, Option<String>)>,
    next_id: u64,
}

/// See the module documentation.
#[derive(Default)]
pub struct AgentHub {
    state: Mutex<Hub>,
    changed: Condvar,
    launcher: Mutex<Option<Launcher>>,
}

/// How to start the app when a prompt finds no agent: at most once per [`RELAUNCH_AFTER`].
#[derive(Debug)]
pub struct Launcher {
    pub app: std::path::PathBuf,
    pub control: std::path::PathBuf,
    last: Option<Instant>,
}

const RELAUNCH_AFTER: Duration = Duration::from_secs(30);

impl Launcher {
    pub fn new(app: std::path::PathBuf, control: std::path::PathBuf) -> Self {
        Launcher {
            app,
            control,
            last: None,
        }
    }

    fn launch(&mut self) {
        if self.last.is_some_and(|t| t.elapsed() < RELAUNCH_AFTER) {
            return;
        }
        self.last = Some(Instant::now());
        // The app registers as the agent and the waiting prompt is shown to it.
        match std::process::Command::new(&self.app)
            .arg("--hidden")
            .env("TPM_PASSKEY_CONTROL", &self.control)
            .stdin(std::process::Stdio::null())
            .spawn()
        {
            Ok(child) => {
                tracing::info!(app = %self.app.display(), "no approval agent: started the app");
                // Reap it whenever it exits, so that it does not linger as a zombie.
                std::thread::spawn(move || {
                    let mut child = child;
                    let _ = child.wait();
                });
            }
            Err(e) => {
                tracing::warn!(app = %self.app.display(), error = %e, "no approval agent and the app could not be started")
            }
        }
    }
}

impl std::fmt::Debug for AgentHub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AgentHub")
    }
}

impl AgentHub {
    fn lock(&self) -> MutexGuard<'_, Hub> {
        // A panicked holder leaves plain data behind; keep serving.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Makes the connection `conn` the agent (replacing any previous one).
    pub fn register(&self, conn: u64, writer: UnixStream, kind: AgentKind) {
        if kind == AgentKind::Scripted {
            tracing::warn!("a scripted approval agent registered: requests will be answered by a script, not a person");
        } else {
            tracing::info!("approval agent registered");
        }
        self.lock().agent = Some(Agent { conn, writer });
        self.changed.notify_all();
    }

    /// Forgets the agent if `conn` was it (its connection closed).
    pub fn unregister(&self, conn: u64) {
        let mut hub = self.lock();
        if hub.agent.as_ref().is_some_and(|a| a.conn == conn) {
            hub.agent = None;
            tracing::info!("approval agent left");
        }
    }

    /// Records the agent's answer to prompt `id` (from connection `conn`, which must be the
    /// agent).
    pub fn answer(&self, conn: u64, id: u64, approve: bool, pin: Option<String>) -> bool {
        let mut hub = self.lock();
        if hub.agent.as_ref().is_none_or(|a| a.conn != conn) {
            return false;
        }
        hub.answers.insert(id, (approve, pin));
        self.changed.notify_all();
        true
    }

    /// Tells the agent a client asked the authenticator to identify itself (CTAPHID_WINK).
    pub fn wink(&self) {
        let mut hub = self.lock();
        if let Some(agent) = &mut hub.agent {
            let _ = agent
                .writer
                .write_all(encode(&DaemonMessage::Wink).as_bytes());
        }
    }

    /// Start `launcher.app` when a prompt finds no agent.
    pub fn set_launcher(&self, launcher: Launcher) {
        *self.launcher.lock().unwrap_or_else(|p| p.into_inner()) = Some(launcher);
    }

    pub fn has_agent(&self) -> bool {
        self.lock().agent.is_some()
    }

    /// Shows `prompt` to the agent and waits. Returns the PIN typed (if any) on approval.
    pub fn ask(
        &self,
        prompt: PromptView,
        timeout: Duration,
        cancel: &AtomicBool,
    ) -> Result<Option<String>, Refusal> {
        let deadline = Instant::now() + timeout;
        if !self.has_agent() {
            if let Some(l) = self
                .launcher
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .as_mut()
            {
                l.launch();
            }
        }
        let mut hub = self.lock();
        hub.next_id += 1;
        let id = hub.next_id;
        let mut shown_to: Option<u64> = None;
        let result = loop {
            if let Some((approve, pin)) = hub.answers.remove(&id) {
                break if approve {
                    Ok(pin)
                } else {
                    Err(Refusal::Denied)
                };
            }
            if cancel.load(Ordering::SeqCst) {
                break Err(Refusal::Cancelled);
            }
            let now = Instant::now();
            if now >= deadline {
                break Err(Refusal::Timeout);
            }
            // Show the prompt to the current agent (again, if the agent changed).
            if let Some(agent) = &mut hub.agent {
                if shown_to != Some(agent.conn) {
                    let msg = DaemonMessage::Prompt {
                        id,
                        prompt: prompt.clone(),
                        timeout_ms: (deadline - now).as_millis() as u64,
                        sent_unix_ms: std::time::SystemTime::now()
                            .duration_since(std::time::UNIX_EPOCH)
                            .map_or(0, |d| d.as_millis() as u64),
                    };
                    if agent.writer.write_all(encode(&msg).as_bytes()).is_ok() {
                        shown_to = Some(agent.conn);
                    } else {
                        hub.agent = None;
                    }
                }
            }
            let wait = (deadline - now).min(Duration::from_millis(50));
            hub = self
                .changed
                .wait_timeout(hub, wait)
                .map(|(g, _)| g)
                .unwrap_or_else(|p| p.into_inner().0);
        };
        if result.is_err() {
            let reason = match result {
                Err(Refusal::Cancelled) => "cancelled",
                Err(Refusal::Timeout) => "timeout",
                _ => "denied",
            };
            if let Some(agent) = &mut hub.agent {
                if shown_to == Some(agent.conn) && reason != "denied" {
                    let _ = agent.writer.write_all(
                        encode(&DaemonMessage::PromptClosed {
                            id,
                            reason: reason.into(),
                        })
                        .as_bytes(),
                    );
                }
            }
        }
        hub.answers.remove(&id);
        result
    }
}
