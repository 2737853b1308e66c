//! Deadlines for TPM commands.
//!
//! ESYS's synchronous calls block until the TPM answers; a TPM that hangs (a stopped
//! simulator, a wedged resource manager) would hold the caller for ever. The [`Watchdog`]
//! is armed around each key-store operation; when the deadline passes it shuts the
//! connection's sockets down, the blocked call returns a TCTI error
//! ([`crate::Error::Unreachable`]), and the key store reconnects on a later request.
//!
//! The thread sleeps on a condition variable: while nothing is armed it never wakes (a
//! daemon that sleeps, docs/PERFORMANCE.md). A kernel TPM device (/dev/tpmrm0) has no
//! socket to shut down; the kernel driver bounds every command itself (TCG PC Client
//! Platform TPM Profile, TIMEOUT_A…D and the command durations).

use std::os::fd::RawFd;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// The deadline of one key-store operation (several TPM commands) unless the caller sets
/// another: far above any command on a discrete TPM (an ECC key creation takes well under
/// a second) and short enough that a request fails while the person is still looking.
pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(10);

/// What to shut down when a deadline passes.
#[derive(Debug, Clone, Default)]
pub(crate) enum Target {
    #[default]
    Nothing,
    /// Known descriptors (tabrmd's, from the TCTI's poll handles).
    Fds(Vec<RawFd>),
    /// Our TCP sockets to this port (swtpm): the TCTI connects on its first command, so
    /// they are looked up when the deadline passes, while that command holds them open.
    TcpPort(u16),
}

impl Target {
    fn resolve(&self) -> Vec<RawFd> {
        match self {
            Target::Nothing => Vec::new(),
            Target::Fds(f) => f.clone(),
            Target::TcpPort(p) => tcp_sockets_to(*p),
        }
    }
}

#[derive(Default)]
struct State {
    target: Target,
    armed: Option<(u64, Instant)>,
    generation: u64,
    fired: u64,
    stop: bool,
}

struct Shared {
    state: Mutex<State>,
    wake: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// See the module documentation.
pub struct Watchdog {
    shared: Arc<Shared>,
    deadline: Duration,
}

impl std::fmt::Debug for Watchdog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watchdog")
            .field("deadline", &self.deadline)
            .field("fired", &self.fired())
            .finish()
    }
}

/// Disarms the watchdog when dropped.
#[must_use = "the watchdog is disarmed when this is dropped"]
pub struct Armed {
    shared: Arc<Shared>,
    generation: u64,
}

impl Drop for Armed {
    fn drop(&mut self) {
        let mut st = self.shared.lock();
        if st.armed.is_some_and(|(g, _)| g == self.generation) {
            st.armed = None;
            // Back to the untimed wait now, rather than waking at the old deadline.
            self.shared.wake.notify_one();
        }
    }
}

impl Watchdog {
    /// Starts the watchdog thread. `deadline` bounds each armed operation.
    pub fn new(deadline: Duration) -> Self {
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            wake: Condvar::new(),
        });
        let s2 = shared.clone();
        let spawned = std::thread::Builder::new()
            .name("tpm-watchdog".into())
            .spawn(move || watch(&s2));
        if let Err(e) = spawned {
            tracing::error!(error = %e, "cannot start the TPM watchdog; TPM commands have no deadline");
        }
        Watchdog { shared, deadline }
    }

    /// The sockets of the current connection (none for a kernel device).
    pub(crate) fn watch(&self, target: Target) {
        self.shared.lock().target = target;
    }

    /// The sockets the connection keeps open between commands (a resource manager's);
    /// none for swtpm's TCTI, which connects for each command — so nothing is looked up
    /// in /proc for it on every request (that lookup cost ~9 ms per operation).
    pub(crate) fn held_sockets(&self) -> Vec<RawFd> {
        match &self.shared.lock().target {
            Target::Fds(f) => f.clone(),
            Target::Nothing | Target::TcpPort(_) => Vec::new(),
        }
    }

    /// Forgets the connection's sockets; called before the connection is closed, so that a
    /// descriptor number reused by someone else is never shut down.
    pub(crate) fn forget(&self) {
        let mut st = self.shared.lock();
        st.target = Target::Nothing;
        st.armed = None;
    }

    /// Arms the deadline until the returned guard drops.
    pub(crate) fn arm(&self) -> Armed {
        let mut st = self.shared.lock();
        st.generation += 1;
        let generation = st.generation;
        st.armed = Some((generation, Instant::now() + self.deadline));
        self.shared.wake.notify_one();
        Armed {
            shared: self.shared.clone(),
            generation,
        }
    }

    /// How many times a deadline passed and the connection was cut.
    pub fn fired(&self) -> u64 {
        self.shared.lock().fired
    }

    pub fn deadline(&self) -> Duration {
        self.deadline
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.shared.lock().stop = true;
        self.shared.wake.notify_one();
    }
}

fn watch(shared: &Shared) {
    let mut st = shared.lock();
    loop {
        if st.stop {
            return;
        }
        st = match st.armed {
            None => shared
                .wake
                .wait(st)
                .unwrap_or_else(std::sync::PoisonError::into_inner),
            Some((_, until)) => {
                let now = Instant::now();
                if now >= until {
                    let fds = st.target.resolve();
                    tracing::error!(
                        sockets = fds.len(),
                        "a TPM operation outlived its deadline; cutting the connection"
                    );
                    for fd in fds {
                        crate::hangup::shutdown(fd);
                    }
                    st.fired += 1;
                    st.armed = None;
                    continue;
                }
                shared
                    .wake
                    .wait_timeout(st, until - now)
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .0
            }
        };
    }
}

/// The sockets an ESYS context reaches the TPM through, for [`Watchdog::watch`]: for
/// `swtpm:` over TCP our TCP sockets whose peer is its port (the swtpm TCTI does not implement
/// Tss2_Tcti_GetPollHandles), for tabrmd the TCTI's own poll handles, for a device none.
pub(crate) fn connection_target(ctx: &mut tss_esapi::Context, tcti: &crate::TctiChoice) -> Target {
    match tcti.swtpm_endpoint() {
        Some(crate::tcti::SwtpmEndpoint::Tcp(_, port)) => return Target::TcpPort(port),
        // The private simulator's relay bounds each command itself (`swtpm::relay`); a
        // Unix socket named with --tcti (tests) has no deadline.
        Some(crate::tcti::SwtpmEndpoint::Unix(_)) => return Target::Nothing,
        None => {}
    }
    if tcti.as_str().starts_with("tabrmd") {
        return Target::Fds(ctx.poll_fds().unwrap_or_default());
    }
    Target::Nothing
}

/// Our open TCP sockets whose remote port is `port` (/proc/self/fd against /proc/self/net).
fn tcp_sockets_to(port: u16) -> Vec<RawFd> {
    let mut inodes = std::collections::HashSet::new();
    for table in ["/proc/self/net/tcp", "/proc/self/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(table) else {
            continue;
        };
        // "sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode …"
        for line in text.lines().skip(1) {
            let cols: Vec<&str> = line.split_whitespace().collect();
            let (Some(remote), Some(inode)) = (cols.get(2), cols.get(9)) else {
                continue;
            };
            let remote_port = remote
                .rsplit_once(':')
                .and_then(|(_, p)| u16::from_str_radix(p, 16).ok());
            // inode 0: a closed socket in TIME_WAIT, nobody's descriptor.
            if remote_port == Some(port) && *inode != "0" {
                inodes.insert((*inode).to_owned());
            }
        }
    }
    let Ok(dir) = std::fs::read_dir("/proc/self/fd") else {
        return Vec::new();
    };
    dir.filter_map(Result::ok)
        .filter_map(|e| {
            let fd: RawFd = e.file_name().to_str()?.parse().ok()?;
            let target = std::fs::read_link(e.path()).ok()?;
            let inode = target
                .to_str()?
                .strip_prefix("socket:[")?
                .strip_suffix(']')?
                .to_owned();
            inodes.contains(&inode).then_some(fd)
        })
        .collect()
}
