//! The approval agent as the engine sees it: at most one agent (the app, the terminal
//! agent, or the scripted agent in test builds) is registered on the control socket;
//! prompts go to it and wait for its answer, the client's CANCEL, or the deadline. With no
//! agent, the hub can start the app (ARCHITECTURE "if no agent is connected when a prompt
//! is needed, the daemon starts the app").
//!
//! One trusted approval path: a registered agent is never replaced silently. Another
//! program asking for the slot is refused (and the agent told) unless it proved the PIN,
//! which `control.rs` checks before calling [`AgentHub::register`] with `take_over`.
//! Answers are accepted only for prompts that are waiting, from the agent they were shown
//! to; anything else is dropped at once, its PIN zeroized with it.

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tpm_passkey_core::ipc::{
    encode, AgentNotice, AgentNoticeKind, AgentView, DaemonMessage, Pin, Prompt, PromptClosedReason,
};
use tpm_passkey_core::Refusal;

struct Agent {
    conn: u64,
    writer: UnixStream,
    view: AgentView,
}

#[derive(Default)]
struct Hub {
    agent: Option<Agent>,
    /// Prompts waiting for an answer.
    waiting: HashSet<u64>,
    answers: HashMap<u64, (bool, Option<Pin>, Option<u32>)>,
    next_id: u64,
}

/// See the module documentation.
#[derive(Default)]
pub struct AgentHub {
    state: Mutex<Hub>,
    changed: Condvar,
    launcher: Mutex<Option<Launcher>>,
}

/// Why a registration was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Occupied {
    /// Another agent holds the slot; it was told.
    By(AgentView),
}

/// How to start the app when a prompt finds no agent (an app that does not register is
/// started at most once per [`RELAUNCH_AFTER`]).
#[derive(Debug)]
pub struct Launcher {
    pub app: std::path::PathBuf,
    pub control: std::path::PathBuf,
    last: Option<Instant>,
}

/// An app started for a prompt that never registered is not started again for this long
/// (it is failing: no crash loop). One that registered and later left — the app exits once
/// idle — is started again at the next prompt.
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

/// How long a write to the agent may block (its socket's buffer full: a stopped or stuck
/// agent). After that the agent is taken as gone for that message (issue 23: a SIGSTOPped
/// app froze the engine inside `ask` and the HID thread inside `wink`).
const AGENT_WRITE_TIMEOUT: Duration = Duration::from_secs(2);

fn send(writer: &mut UnixStream, msg: &DaemonMessage) -> bool {
    writer.write_all(encode(msg).as_bytes()).is_ok()
}

/// A handle on the agent's socket to write on once the hub's lock is released (writes are
/// never made under it).
fn writer_of(agent: &Agent) -> Option<UnixStream> {
    agent.writer.try_clone().ok()
}

impl AgentHub {
    fn lock(&self) -> MutexGuard<'_, Hub> {
        // A panicked holder leaves plain data behind; keep serving.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Makes connection `conn` the agent. While another agent is connected this is refused
    /// (the agent is told who tried) unless `take_over` — the caller has checked the PIN —
    /// in which case the old agent is told it was replaced. On success the `ok` answer is
    /// written to the new agent here, under the hub's lock, so that it always comes before
    /// the first prompt. Returns the agent replaced.
    pub fn register(
        &self,
        conn: u64,
        mut writer: UnixStream,
        view: AgentView,
        take_over: bool,
    ) -> Result<Option<AgentView>, Occupied> {
        let _ = writer.set_write_timeout(Some(AGENT_WRITE_TIMEOUT));
        let mut hub = self.lock();
        let replaced = match hub.agent.take() {
            Some(mut current) if current.conn != conn => {
                let notice = if take_over {
                    AgentNoticeKind::Replaced
                } else {
                    AgentNoticeKind::Contested
                };
                let told = send(
                    &mut current.writer,
                    &DaemonMessage::AgentNotice(AgentNotice {
                        notice,
                        by: view.clone(),
                    }),
                );
                if !take_over && told {
                    let by = current.view.clone();
                    hub.agent = Some(current);
                    return Err(Occupied::By(by));
                }
                // Taken over, or the old agent's connection is already gone.
                told.then_some(current.view)
            }
            _ => None,
        };
        tracing::info!(kind = ?view.kind, name = ?view.name, pid = ?view.pid, "approval agent registered");
        send(&mut writer, &DaemonMessage::Ok);
        hub.agent = Some(Agent { conn, writer, view });
        // The app came up: when it leaves (it exits once idle), the next prompt starts it
        // again at once. Only an app that never registers is held back.
        if let Some(l) = self
            .launcher
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_mut()
        {
            l.last = None;
        }
        self.changed.notify_all();
        Ok(replaced)
    }

    /// Whether connection `conn` is the registered agent.
    pub fn is_agent(&self, conn: u64) -> bool {
        self.lock().agent.as_ref().is_some_and(|a| a.conn == conn)
    }

    /// Forgets the agent if `conn` was it (its connection closed).
    pub fn unregister(&self, conn: u64) {
        let mut hub = self.lock();
        if hub.agent.as_ref().is_some_and(|a| a.conn == conn) {
            hub.agent = None;
            tracing::info!("approval agent left");
        }
    }

    /// Records the agent's answer to prompt `id`, if it is waiting and `conn` is the agent.
    /// Any other answer is dropped (and its PIN zeroized) here.
    pub fn answer(
        &self,
        conn: u64,
        id: u64,
        approve: bool,
        pin: Option<Pin>,
        choice: Option<u32>,
    ) -> bool {
        let mut hub = self.lock();
        if hub.agent.as_ref().is_none_or(|a| a.conn != conn) || !hub.waiting.contains(&id) {
            return false;
        }
        hub.answers.insert(id, (approve, pin, choice));
        self.changed.notify_all();
        true
    }

    /// Tells the agent a client asked the authenticator to identify itself (CTAPHID_WINK).
    /// Tells the agent something that needs no answer; nothing happens without an agent.
    pub fn notify(&self, text: &str) {
        self.tell(&DaemonMessage::Notice {
            text: text.to_owned(),
        });
    }

    pub fn wink(&self) {
        self.tell(&DaemonMessage::Wink);
    }

    /// Writes `msg` to the agent outside the hub's lock; an agent that cannot take it within
    /// [`AGENT_WRITE_TIMEOUT`] is let go.
    fn tell(&self, msg: &DaemonMessage) {
        let writer = self.lock().agent.as_ref().map(|a| (a.conn, writer_of(a)));
        if let Some((conn, writer)) = writer {
            if !writer.is_some_and(|mut w| send(&mut w, msg)) {
                self.let_go(conn);
            }
        }
    }

    /// Forgets agent `conn` because it cannot be written to (stuck or gone), and closes its
    /// connection: a stopped app that resumes finds it closed and registers again.
    fn let_go(&self, conn: u64) {
        let mut hub = self.lock();
        if hub.agent.as_ref().is_some_and(|a| a.conn == conn) {
            if let Some(a) = hub.agent.take() {
                let _ = a.writer.shutdown(std::net::Shutdown::Both);
            }
            tracing::warn!("the approval agent did not take a message in time; let go");
            self.changed.notify_all();
        }
    }

    /// Start `launcher.app` when a prompt finds no agent.
    pub fn set_launcher(&self, launcher: Launcher) {
        *self.launcher.lock().unwrap_or_else(|p| p.into_inner()) = Some(launcher);
    }

    /// The registered agent, if any.
    pub fn agent(&self) -> Option<AgentView> {
        self.lock().agent.as_ref().map(|a| a.view.clone())
    }

    /// Prompts waiting for an answer, and answers held (both 0 when idle: nothing lingers).
    #[cfg(test)]
    pub fn pending(&self) -> (usize, usize) {
        let hub = self.lock();
        (hub.waiting.len(), hub.answers.len())
    }

    /// Shows `prompt` to the agent and waits. Returns the PIN typed (if any) and the
    /// account chosen (if the prompt listed several) on approval.
    pub fn ask(
        &self,
        prompt: Prompt,
        timeout: Duration,
        cancel: &AtomicBool,
    ) -> Result<(Option<Pin>, Option<u32>), Refusal> {
        let deadline = Instant::now() + timeout;
        let asked_unix_ms = unix_ms();
        if self.agent().is_none() {
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
        hub.waiting.insert(id);
        let mut shown_to: Option<u64> = None;
        let result = loop {
            if let Some((approve, pin, choice)) = hub.answers.remove(&id) {
                break if approve {
                    Ok((pin, choice))
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
            // Show the prompt to the current agent (again, if the agent changed), with the
            // hub's lock released while it is written.
            let unshown = hub
                .agent
                .as_ref()
                .filter(|a| shown_to != Some(a.conn))
                .map(|a| (a.conn, writer_of(a)));
            if let Some((conn, writer)) = unshown {
                drop(hub);
                let msg = DaemonMessage::Prompt {
                    id,
                    prompt: prompt.clone(),
                    timeout_ms: (deadline - now).as_millis() as u64,
                    sent_unix_ms: unix_ms(),
                    asked_unix_ms,
                };
                if writer.is_some_and(|mut w| send(&mut w, &msg)) {
                    shown_to = Some(conn);
                } else {
                    // It cannot be written to (gone, or stuck past the write deadline).
                    self.let_go(conn);
                }
                hub = self.lock();
                continue;
            }
            // Woken by an answer, a new agent or unregistration; the deadline and CANCEL
            // are checked at least every 50 ms while a prompt waits (nothing runs when idle).
            let wait = (deadline - now).min(Duration::from_millis(50));
            hub = self
                .changed
                .wait_timeout(hub, wait)
                .map(|(g, _)| g)
                .unwrap_or_else(|p| p.into_inner().0);
        };
        // From here on an answer to `id` is not accepted: it is no longer waiting.
        hub.waiting.remove(&id);
        hub.answers.remove(&id);
        let reason = match &result {
            Err(Refusal::Cancelled) => Some(PromptClosedReason::Cancelled),
            Err(Refusal::Timeout) => Some(PromptClosedReason::Timeout),
            _ => None,
        };
        let writer = hub
            .agent
            .as_ref()
            .filter(|a| shown_to == Some(a.conn))
            .and_then(writer_of);
        drop(hub);
        if let (Some(reason), Some(mut w)) = (reason, writer) {
            send(&mut w, &DaemonMessage::PromptClosed { id, reason });
        }
        result
    }
}

/// Now, in Unix milliseconds: the stamps the app measures its display latency against.
fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::io::{BufRead, BufReader};
    use tpm_passkey_core::ipc::{decode, AgentKind, Operation};

    fn view(name: &str) -> AgentView {
        AgentView {
            kind: AgentKind::App,
            name: Some(name.into()),
            pid: Some(42),
        }
    }

    /// An agent connection: the hub's end, and a reader of what the hub sends.
    fn agent() -> (UnixStream, BufReader<UnixStream>) {
        let (hub_end, agent_end) = UnixStream::pair().unwrap();
        agent_end
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        (hub_end, BufReader::new(agent_end))
    }

    fn next(r: &mut BufReader<UnixStream>) -> DaemonMessage {
        let mut line = String::new();
        r.read_line(&mut line).unwrap();
        decode(&line).unwrap()
    }

    /// An agent that stops reading (a SIGSTOPped app): writes to it never hold the hub,
    /// none blocks for longer than the write deadline, and the stuck agent is let go — so
    /// winks and prompts carry on (issue 23).
    #[test]
    fn a_stuck_agent_is_let_go_and_never_holds_the_hub() {
        let hub = std::sync::Arc::new(AgentHub::default());
        let (w, mut r) = agent();
        hub.register(1, w, view("stopped"), false).unwrap();
        assert_eq!(next(&mut r), DaemonMessage::Ok);
        // The agent reads nothing more. Fill its socket: the first write that cannot go
        // through within the deadline lets it go.
        let t = Instant::now();
        let big = "x".repeat(64 * 1024);
        while hub.agent().is_some() {
            hub.notify(&big);
            assert!(t.elapsed() < Duration::from_secs(30), "never let go");
        }
        // Meanwhile and after, the hub answers at once: a wink, a lookup, a prompt's refusal
        // at its own deadline.
        let h2 = hub.clone();
        let waiting = std::thread::spawn(move || {
            h2.ask(
                Prompt::new(Operation::SignIn),
                Duration::from_millis(300),
                &AtomicBool::new(false),
            )
        });
        let t = Instant::now();
        hub.wink();
        assert!(hub.agent().is_none());
        assert!(
            t.elapsed() < Duration::from_millis(100),
            "{:?}",
            t.elapsed()
        );
        assert_eq!(waiting.join().unwrap(), Err(Refusal::Timeout));
        // Its connection was closed: a resumed app finds out and registers again.
        let mut rest = Vec::new();
        let _ = std::io::Read::read_to_end(r.get_mut(), &mut rest);
    }

    #[test]
    fn a_second_agent_is_refused_and_the_first_is_told() {
        let hub = AgentHub::default();
        let (w1, mut r1) = agent();
        assert_eq!(
            hub.register(1, w1, view("tpm-passkey-app"), false),
            Ok(None)
        );
        assert_eq!(next(&mut r1), DaemonMessage::Ok, "ok comes first");
        let (w2, _r2) = agent();
        let refused = hub.register(2, w2, view("evil"), false).unwrap_err();
        assert_eq!(refused, Occupied::By(view("tpm-passkey-app")));
        assert_eq!(
            hub.agent(),
            Some(view("tpm-passkey-app")),
            "the first stays"
        );
        match next(&mut r1) {
            DaemonMessage::AgentNotice(n) => {
                assert_eq!(n.notice, AgentNoticeKind::Contested);
                assert_eq!(n.by, view("evil"));
            }
            other => panic!("{other:?}"),
        }
        // With the PIN proven (take_over), the slot changes hands, and the old agent knows.
        let (w3, _r3) = agent();
        let replaced = hub.register(3, w3, view("tpm-passkey"), true).unwrap();
        assert_eq!(replaced, Some(view("tpm-passkey-app")));
        assert!(matches!(
            next(&mut r1),
            DaemonMessage::AgentNotice(AgentNotice {
                notice: AgentNoticeKind::Replaced,
                ..
            })
        ));
    }

    #[test]
    fn an_agent_whose_connection_is_gone_does_not_hold_the_slot() {
        let hub = AgentHub::default();
        let (w1, r1) = agent();
        hub.register(1, w1, view("crashed"), false).unwrap();
        drop(r1);
        let (w2, _r2) = agent();
        assert!(hub.register(2, w2, view("tpm-passkey-app"), false).is_ok());
        assert_eq!(hub.agent(), Some(view("tpm-passkey-app")));
    }

    /// Regression: an answer that arrived after its prompt timed out stayed in the hub's
    /// map for the life of the daemon, with the PIN in it.
    #[test]
    fn a_late_answer_is_dropped_at_once() {
        let hub = AgentHub::default();
        let (w1, mut r1) = agent();
        hub.register(1, w1, view("tpm-passkey-app"), false).unwrap();
        assert_eq!(next(&mut r1), DaemonMessage::Ok);
        let never = AtomicBool::new(false);
        let r = hub.ask(
            Prompt::new(Operation::SignIn),
            Duration::from_millis(100),
            &never,
        );
        assert_eq!(r, Err(Refusal::Timeout));
        let DaemonMessage::Prompt { id, .. } = next(&mut r1) else {
            panic!("prompt expected")
        };
        assert!(!hub.answer(1, id, true, Some(Pin::new("4711".into())), None));
        assert_eq!(hub.pending(), (0, 0), "nothing is kept");
        assert!(!hub.answer(1, 999, true, None, None), "never asked");
        assert_eq!(hub.pending(), (0, 0));
    }

    #[test]
    fn only_the_agent_answers() {
        let hub = std::sync::Arc::new(AgentHub::default());
        let (w1, mut r1) = agent();
        hub.register(1, w1, view("tpm-passkey-app"), false).unwrap();
        assert_eq!(next(&mut r1), DaemonMessage::Ok);
        let h2 = hub.clone();
        let asker = std::thread::spawn(move || {
            h2.ask(
                Prompt::new(Operation::Register),
                Duration::from_secs(5),
                &AtomicBool::new(false),
            )
        });
        let DaemonMessage::Prompt { id, .. } = next(&mut r1) else {
            panic!("prompt expected")
        };
        assert!(!hub.answer(7, id, true, None, None), "not the agent");
        assert!(hub.answer(1, id, true, Some(Pin::new("4711".into())), Some(1)));
        let (pin, choice) = asker.join().unwrap().unwrap();
        assert_eq!(choice, Some(1));
        let pin = pin.unwrap();
        assert_eq!(pin.expose_secret(), "4711");
        assert_eq!(hub.pending(), (0, 0));
    }
}
