//! The engine's own thread. The TPM connection (an ESAPI context) is not `Send`, so the
//! key store, the engine and the credential store are all made and used on this one
//! thread; transports and the control socket reach it through a channel. Requests are
//! processed one at a time: while one is in flight, [`EngineHandle::submit`] says busy.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use tpm_passkey_core::ipc::{ClientMessage, DaemonMessage};
use tpm_passkey_core::wire::ctaphid::{capability, keepalive};
use tpm_passkey_core::{Engine, Store, StoreError};
use tpm_passkey_hid::{Backend, Job, MessageKind, Origin, Reply, Wake};
use tpm_passkey_tpm::{OwnerAuth, Swtpm, TctiChoice, TpmKeyStore};

use crate::agent_hub::AgentHub;
use crate::control::Peer;
use crate::hub_approver::{process_name, HubApprover, JobSignals};

/// The engine as the daemon runs it.
pub type DaemonEngine = Engine<TpmKeyStore, HubApprover>;

/// Work for the engine thread, run there with the engine.
type Task = Box<dyn FnOnce(&mut DaemonEngine) + Send>;

enum Work {
    Ctap {
        kind: MessageKind,
        payload: Vec<u8>,
        /// Sending it wakes the transport that asked.
        reply: Reply,
        signals: JobSignals,
    },
    Manage {
        request: ClientMessage,
        peer: Peer,
        reply: mpsc::Sender<DaemonMessage>,
        /// Set when the caller gave up waiting: the work is skipped if it has not started,
        /// and its prompts end as cancelled if it has.
        abandoned: Arc<AtomicBool>,
    },
    Run(Task),
    Stop,
}

/// What the engine thread needs to start.
#[derive(Debug)]
pub struct EngineConfig {
    pub tcti: TctiChoice,
    pub simulated: bool,
    /// The embedded swtpm, restarted by the key store if it dies.
    pub simulator: Option<Arc<Mutex<Swtpm>>>,
    pub store_path: PathBuf,
    pub prompt_timeout: Duration,
    /// The longest one TPM operation may take before its connection is cut and re-made.
    pub tpm_deadline: Duration,
    /// Seal the store anew whatever its seal says (the person chose to, after being told).
    pub accept_restored_store: bool,
    /// With it, the PIN: what the PIN protects is accepted too (a new protection statement).
    pub accept_pin: Option<tpm_passkey_core::PinHash>,
}

/// While the TPM is away, the engine thread tries to reconnect this often (and sleeps
/// without a timeout while it is there).
const RECONNECT_EVERY: Duration = Duration::from_secs(1);

/// How long the engine must have been idle before it does TPM work no answer needs (a
/// sealed change's counter step, an audit checkpoint): longer than the gap between the
/// requests of one ceremony (a token, then its assertion, a few ms apart), short enough that
/// the work is done long before a person does anything else. One timer per request, none
/// when idle.
const IDLE_WORK_AFTER: Duration = Duration::from_millis(300);

/// The transports' and control socket's handle on the engine thread.
#[derive(Debug)]
pub struct EngineHandle {
    tx: Mutex<mpsc::Sender<Work>>,
    /// How long a caller waits for management work: the longest it can honestly take —
    /// three PIN prompts (`pam enroll`) and the TPM work around them — not a fixed minute
    /// (issue 23: the work used to go on, and store, after its caller was told it failed).
    give_up_after: Duration,
    busy: Arc<AtomicBool>,
    /// Whether CTAP1/U2F is offered now (alwaysUv off), for CTAPHID_INIT's NMSG flag.
    u2f: Arc<AtomicBool>,
    hub: Arc<AgentHub>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl EngineHandle {
    /// Starts the thread and waits until the TPM and the store are open (or failed).
    pub fn spawn(config: EngineConfig, hub: Arc<AgentHub>) -> Result<Arc<Self>, String> {
        // Three prompts (a PIN retried twice) and the TPM work of each, and some slack.
        let give_up_after =
            (config.prompt_timeout + config.tpm_deadline) * 3 + Duration::from_secs(10);
        let (tx, rx) = mpsc::channel::<Work>();
        let (ready_tx, ready_rx) = mpsc::channel::<Result<(), String>>();
        let busy = Arc::new(AtomicBool::new(false));
        let busy2 = busy.clone();
        let hub2 = hub.clone();
        let u2f = Arc::new(AtomicBool::new(false));
        let u2f2 = u2f.clone();
        let thread = std::thread::Builder::new()
            .name("engine".into())
            .spawn(move || {
                let engine = match open_retrying(&config, &hub2) {
                    Ok(e) => {
                        u2f2.store(e.u2f_enabled(), Ordering::SeqCst);
                        let _ = ready_tx.send(Ok(()));
                        e
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                serve(engine, rx, &busy2, &u2f2, &config, &hub2);
            })
            .map_err(|e| format!("cannot start the engine thread: {e}"))?;
        ready_rx
            .recv()
            .map_err(|_| "the engine thread stopped while starting".to_string())??;
        Ok(Arc::new(EngineHandle {
            tx: Mutex::new(tx),
            give_up_after,
            busy,
            u2f,
            hub,
            thread: Mutex::new(Some(thread)),
        }))
    }

    fn send(&self, w: Work) -> bool {
        self.tx.lock().map(|tx| tx.send(w).is_ok()).unwrap_or(false)
    }

    /// Has the engine thread answer a control-socket request from `peer` (after any CTAP
    /// request in flight).
    ///
    /// The work is abandoned — skipped if it has not started, its prompts cancelled if it
    /// has — when the engine has not answered within the longest honest wait, or when
    /// `caller_gone` says the caller hung up (checked every second while it waits): it must
    /// not go on and succeed behind the back of a caller who was told it failed (issue 23).
    pub fn manage(
        &self,
        request: ClientMessage,
        peer: Peer,
        caller_gone: &dyn Fn() -> bool,
    ) -> Option<DaemonMessage> {
        let (reply, rx) = mpsc::channel();
        let abandoned = Arc::new(AtomicBool::new(false));
        if !self.send(Work::Manage {
            request,
            peer,
            reply,
            abandoned: abandoned.clone(),
        }) {
            return None;
        }
        let until = std::time::Instant::now() + self.give_up_after;
        loop {
            match rx.recv_timeout(Duration::from_secs(1)) {
                Ok(answer) => return Some(answer),
                Err(mpsc::RecvTimeoutError::Timeout)
                    if std::time::Instant::now() < until && !caller_gone() => {}
                Err(_) => {
                    abandoned.store(true, Ordering::SeqCst);
                    return None;
                }
            }
        }
    }

    /// Runs `f` with the engine on its thread and returns its result (None if the engine
    /// thread is gone or busy beyond the longest honest wait).
    pub fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut DaemonEngine) -> T + Send + 'static,
    ) -> Option<T> {
        let (reply, rx) = mpsc::channel();
        let task: Task = Box::new(move |e| {
            let _ = reply.send(f(e));
        });
        if !self.send(Work::Run(task)) {
            return None;
        }
        rx.recv_timeout(self.give_up_after).ok()
    }

    /// Runs `f` with the engine on its thread, without waiting for it.
    pub fn run_detached(&self, f: impl FnOnce(&mut DaemonEngine) + Send + 'static) {
        self.send(Work::Run(Box::new(f)));
    }

    /// Stops the thread after the request in flight, if any.
    pub fn shutdown(&self) {
        self.send(Work::Stop);
        if let Some(t) = self.thread.lock().ok().and_then(|mut t| t.take()) {
            let _ = t.join();
        }
    }
}

impl Backend for EngineHandle {
    fn submit(
        &self,
        kind: MessageKind,
        payload: Vec<u8>,
        origin: Origin,
        wake: Wake,
    ) -> Option<Job> {
        if self.busy.swap(true, Ordering::SeqCst) {
            return None;
        }
        let (reply, rx) = Reply::channel(wake);
        let signals = JobSignals {
            status: Arc::new(AtomicU8::new(keepalive::PROCESSING)),
            cancel: Arc::new(AtomicBool::new(false)),
            client: origin.pid.and_then(|pid| Some((pid, process_name(pid)?))),
        };
        let job = Job {
            reply: rx,
            status: signals.status.clone(),
            cancel: signals.cancel.clone(),
        };
        if !self.send(Work::Ctap {
            kind,
            payload,
            reply,
            signals,
        }) {
            self.busy.store(false, Ordering::SeqCst);
            return None;
        }
        Some(job)
    }

    fn capabilities(&self) -> u8 {
        // CTAP 2.1 §6.11.2: no CTAP1/U2F while alwaysUv is on (NMSG set).
        let nmsg = if self.u2f.load(Ordering::SeqCst) {
            0
        } else {
            capability::NMSG
        };
        capability::CBOR | capability::WINK | nmsg
    }

    fn wink(&self) {
        self.hub.wink();
    }
}

/// Why the engine could not be opened, and whether the TPM was the reason (it did not
/// answer, or lost what the start made in it).
struct OpenError {
    message: String,
    tpm_unreachable: bool,
}

impl OpenError {
    fn other(e: impl std::fmt::Display) -> Self {
        OpenError {
            message: e.to_string(),
            tpm_unreachable: false,
        }
    }
}

/// How often a start tries the TPM again after a lost connection before it gives up:
/// one lost response at start is a glitch, not a reason to fail (issue 23).
const START_ATTEMPTS: u32 = 3;

/// [`open`], again (nothing was written: the store is opened afresh) while the TPM was
/// unreachable, a few times; then the TPM's unreachability is the reason — never a
/// tampered store.
fn open_retrying(config: &EngineConfig, hub: &Arc<AgentHub>) -> Result<DaemonEngine, String> {
    let mut attempt = 1;
    loop {
        match open(config, hub.clone()) {
            Ok(e) => return Ok(e),
            Err(e) if e.tpm_unreachable && attempt < START_ATTEMPTS => {
                tracing::warn!(attempt, error = %e.message, "the TPM did not answer during the start; trying again");
                std::thread::sleep(Duration::from_millis(300));
                attempt += 1;
            }
            Err(e) => return Err(e.message),
        }
    }
}

fn store_error(e: StoreError) -> OpenError {
    OpenError {
        tpm_unreachable: matches!(e, StoreError::TpmUnreachable),
        message: e.to_string(),
    }
}

fn open(config: &EngineConfig, hub: Arc<AgentHub>) -> Result<DaemonEngine, OpenError> {
    let store = Store::open(&config.store_path).map_err(OpenError::other)?;
    let state = Engine::<TpmKeyStore, HubApprover>::saved_key_store_state(&store)
        .map_err(OpenError::other)?;
    let owner_auth = owner_auth();
    let mut keys = TpmKeyStore::open_with_deadline(
        &config.tcti,
        owner_auth.as_ref(),
        state.as_ref(),
        config.tpm_deadline,
    )
    .map_err(|e| OpenError {
        tpm_unreachable: e.is_unreachable(),
        message: e.to_string(),
    })?;
    if let Some(sim) = config.simulator.clone() {
        keys.set_reviver(Box::new(move || {
            let mut sim = sim.lock().ok()?;
            match sim.revive() {
                Ok(tcti) => tcti,
                Err(e) => {
                    tracing::error!(error = %e, "cannot restart the embedded swtpm");
                    None
                }
            }
        }));
    }
    let mut store = store;
    if config.accept_restored_store {
        keys.renew_lost_indexes().map_err(|e| OpenError {
            tpm_unreachable: e == tpm_passkey_core::KeyError::Unreachable,
            message: e.to_string(),
        })?;
        if let Some(pin) = &config.accept_pin {
            Engine::<TpmKeyStore, HubApprover>::accept_protections(&mut keys, &mut store, pin)
                .map_err(store_error)?;
        }
        Engine::<TpmKeyStore, HubApprover>::accept_store(&mut keys, &mut store)
            .map_err(store_error)?;
        tracing::warn!(
            "the credential store was accepted as it is and sealed anew (--accept-restored-store)"
        );
    }
    let approver = HubApprover {
        hub,
        timeout: config.prompt_timeout,
        job: None,
    };
    let engine = Engine::new(keys, approver, store).map_err(store_error)?;
    if config.accept_restored_store {
        engine.audit(
            tpm_passkey_core::AuditEvent::new(
                tpm_passkey_core::AuditKind::Config,
                None,
                tpm_passkey_core::Outcome::Ok,
            )
            .detail("store accepted after its seal refused it (--accept-restored-store)"),
        );
    }
    Ok(engine)
}

/// The owner-hierarchy password, if IT stored one in the Secret Service, looked up in a
/// child process (owner_auth_cmd.rs: the D-Bus client would otherwise leave a thread that
/// wakes twice a second). Without a session bus there is no Secret Service to ask (CI, a
/// bare TTY); the empty owner password is then used, as on most machines.
fn owner_auth() -> Option<OwnerAuth> {
    std::env::var_os("DBUS_SESSION_BUS_ADDRESS")?;
    match crate::owner_auth_cmd::lookup() {
        Ok(auth) => {
            tracing::debug!(
                found = auth.is_some(),
                "owner password from the Secret Service"
            );
            auth
        }
        Err(e) => {
            tracing::info!(error = %e, "no owner password from the Secret Service; using the empty one");
            None
        }
    }
}

fn serve(
    mut engine: DaemonEngine,
    rx: mpsc::Receiver<Work>,
    busy: &AtomicBool,
    u2f: &AtomicBool,
    config: &EngineConfig,
    hub: &AgentHub,
) {
    // Whether idle work (a counter step, a checkpoint) failed since the last request: it is
    // then not tried again until work comes, so a TPM that cannot do it costs no wake-ups.
    let mut idle_work_failed = false;
    loop {
        let work = if !engine.keys_mut().connected() {
            match rx.recv_timeout(RECONNECT_EVERY) {
                Ok(w) => w,
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    // Back: what idle work failed for its absence may be done now.
                    if engine.keys_mut().reconnect() {
                        idle_work_failed = false;
                    }
                    continue;
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
        } else if engine.idle_work_due() && !idle_work_failed {
            match rx.recv_timeout(IDLE_WORK_AFTER) {
                Ok(w) => w,
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    idle_work_failed = !engine.do_idle_work();
                    continue;
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
        } else {
            match rx.recv() {
                Ok(w) => w,
                Err(_) => break,
            }
        };
        match work {
            Work::Ctap {
                kind,
                payload,
                reply,
                signals,
            } => {
                engine.approver_mut().job = Some(signals);
                crate::corpus::record(
                    match kind {
                        MessageKind::Cbor => "ctap2_request",
                        MessageKind::Msg => "u2f_apdu",
                    },
                    &payload,
                );
                let response = match kind {
                    MessageKind::Cbor => engine.process(&payload),
                    MessageKind::Msg => engine.process_u2f(&payload),
                };
                engine.approver_mut().job = None;
                u2f.store(engine.u2f_enabled(), Ordering::SeqCst);
                busy.store(false, Ordering::SeqCst);
                reply.send(response);
            }
            Work::Manage {
                request,
                peer,
                reply,
                abandoned,
            } => {
                if abandoned.load(Ordering::SeqCst) {
                    tracing::warn!("skipped a request its caller gave up on");
                } else {
                    // Its prompts end (cancelled) if the caller gives up meanwhile.
                    engine.approver_mut().job = Some(JobSignals {
                        status: Arc::new(AtomicU8::new(keepalive::PROCESSING)),
                        cancel: abandoned,
                        client: None,
                    });
                    let answer =
                        crate::requests::answer(&mut engine, request, &peer, config, hub.agent());
                    engine.approver_mut().job = None;
                    let _ = reply.send(answer);
                }
            }
            Work::Run(task) => task(&mut engine),
            Work::Stop => break,
        }
        idle_work_failed = false;
        if engine.idle_work_overdue() {
            // The answer has gone; requests that never pause must not postpone it forever.
            idle_work_failed = !engine.do_idle_work();
        }
    }
    // The counter step owed, and the log's last entries' checkpoint, before the daemon goes.
    let _ = engine.finish_counter_step();
    engine.checkpoint_audit();
}
