//! The simulator: a `swtpm socket` process with its state in a directory the caller
//! chooses, in one of two forms:
//!
//! * **private** ([`Swtpm::start_private`]) — the embedded simulator the daemon uses when the
//!   machine has no TPM (keys are then NOT hardware-protected, and every surface says so).
//!   swtpm gets a socketpair, not sockets of its own (`--fd`, no control channel), and is
//!   reached only through a relay that serves this process alone (`relay`); its state
//!   directory is 0700 and its files 0600. No other account — and no other program of
//!   this one — can send it a command.
//! * **on TCP** ([`Swtpm::start`]) — a loopback port pair anyone on the machine can
//!   connect to: for tests, which play the other program on purpose, and `--tcti swtpm:`.
//!
//! It must not outlive us: a swtpm left behind by a SIGKILLed daemon holds the lock on its
//! state directory and the next start fails. So it is started under `setpriv
//! --pdeathsig TERM` (the kernel signals it when the thread that started it dies), and it
//! writes a pid file in its state directory; a start first stops a swtpm that pid file
//! names, if that process is a swtpm on this very directory.

mod relay;

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddrV4, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::{Error, Result, TctiChoice, TctiSource, DEFAULT_DEADLINE};

/// A running swtpm; stopped (and reaped) on drop.
#[derive(Debug)]
pub struct Swtpm {
    // Declared before `child`: the relay stops (and its socket goes) before swtpm does.
    channel: Channel,
    child: Child,
    state_dir: PathBuf,
}

/// How swtpm is reached.
#[derive(Debug)]
enum Channel {
    /// Loopback TCP, data on `port`, control on `port + 1`.
    Tcp { port: u16 },
    /// A socketpair behind the relay.
    Private {
        relay: relay::Relay,
        deadline: Duration,
    },
}

/// The relay's socket, inside the (0700) state directory.
const RELAY_SOCKET: &str = "tpm.sock";

const START_TIMEOUT: Duration = Duration::from_secs(10);

impl Swtpm {
    /// Starts swtpm with its state in `state_dir` (created if missing) and waits until it
    /// accepts connections. Retries on another port if the chosen one was taken meanwhile.
    pub fn start(state_dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(state_dir)
            .map_err(|e| Error::Simulator(format!("state dir {}: {e}", state_dir.display())))?;
        stop_left_behind(state_dir);
        let mut last = String::new();
        for _ in 0..5 {
            let port = free_port_pair()?;
            match Self::spawn(state_dir, port) {
                Ok(s) => return Ok(s),
                Err(e) => last = e.to_string(),
            }
        }
        Err(Error::Simulator(last))
    }

    /// Starts swtpm on `port` (and `port + 1`) exactly: a TPM that comes back where it was
    /// (tests of outages).
    pub fn start_at(state_dir: &Path, port: u16) -> Result<Self> {
        stop_left_behind(state_dir);
        let mut last = String::new();
        // The old instance's sockets may linger for a moment.
        for _ in 0..50 {
            match Self::spawn(state_dir, port) {
                Ok(s) => return Ok(s),
                Err(e) => last = e.to_string(),
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Err(Error::Simulator(last))
    }

    /// Starts the private simulator (see the module documentation) with its state in
    /// `state_dir`, which is made 0700; commands that take longer than [`DEFAULT_DEADLINE`]
    /// stop it.
    pub fn start_private(state_dir: &Path) -> Result<Self> {
        Self::start_private_with_deadline(state_dir, DEFAULT_DEADLINE)
    }

    /// [`Swtpm::start_private`] with another deadline per command.
    pub fn start_private_with_deadline(state_dir: &Path, deadline: Duration) -> Result<Self> {
        let sim = |what: &str, e: std::io::Error| Error::Simulator(format!("{what}: {e}"));
        std::fs::create_dir_all(state_dir)
            .map_err(|e| sim(&format!("state dir {}", state_dir.display()), e))?;
        std::fs::set_permissions(
            state_dir,
            std::os::unix::fs::PermissionsExt::from_mode(0o700),
        )
        .map_err(|e| sim("state dir permissions", e))?;
        stop_left_behind(state_dir);
        let (ours, theirs) = UnixStream::pair().map_err(|e| sim("socketpair", e))?;
        let mut cmd = swtpm_command(state_dir);
        // `--fd`: a connected data channel (`--server type=unixio,fd=` would wait for a
        // connection on it, as on a listening socket). No control channel at all.
        cmd.arg("--fd")
            .arg(theirs.as_raw_fd().to_string())
            // Our end closes when we die: swtpm then ends too (besides the pdeathsig).
            .arg("--terminate");
        let mut child = spawn_with_fds(cmd, &[&theirs])?;
        drop(theirs);
        if let Err(e) = await_answer(&ours, &mut child) {
            let _ = child.kill();
            let _ = child.wait();
            return Err(e);
        }
        let relay = relay::Relay::start(&state_dir.join(RELAY_SOCKET), ours, child.id(), deadline)
            .map_err(|e| sim("relay", e))?;
        Ok(Swtpm {
            channel: Channel::Private { relay, deadline },
            child,
            state_dir: state_dir.to_owned(),
        })
    }

    fn spawn(state_dir: &Path, port: u16) -> Result<Self> {
        let ctrl = port + 1;
        let mut cmd = swtpm_command(state_dir);
        cmd.arg("--server")
            .arg(format!("type=tcp,port={port},bindaddr=127.0.0.1"))
            .arg("--ctrl")
            .arg(format!("type=tcp,port={ctrl},bindaddr=127.0.0.1"));
        let mut child = spawn_with_fds(cmd, &[])?;
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                let mut err = String::new();
                if let Some(mut s) = child.stderr.take() {
                    let _ = s.read_to_string(&mut err);
                }
                return Err(Error::Simulator(format!(
                    "swtpm exited ({status}): {}",
                    err.trim()
                )));
            }
            // The control port answers once the TPM itself is ready; probing the data port
            // would take swtpm's only client slot.
            if TcpStream::connect(SocketAddrV4::new(Ipv4Addr::LOCALHOST, ctrl)).is_ok() {
                return Ok(Swtpm {
                    channel: Channel::Tcp { port },
                    child,
                    state_dir: state_dir.to_owned(),
                });
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err(Error::Simulator(
                    "swtpm did not start listening in time".into(),
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The TCTI that reaches this instance (for a private one, from this process only).
    pub fn tcti(&self) -> TctiChoice {
        match &self.channel {
            Channel::Tcp { port } => TctiChoice::swtpm(*port, TctiSource::Simulator),
            Channel::Private { relay, .. } => TctiChoice::private_simulator(relay.path()),
        }
    }

    /// The TCP data port (its control channel is the next one); 0 for a private instance,
    /// which has none.
    pub fn port(&self) -> u16 {
        match &self.channel {
            Channel::Tcp { port } => *port,
            Channel::Private { .. } => 0,
        }
    }

    /// The path of a private instance's relay socket (None on TCP).
    pub fn relay_socket(&self) -> Option<&Path> {
        match &self.channel {
            Channel::Private { relay, .. } => Some(relay.path()),
            Channel::Tcp { .. } => None,
        }
    }

    /// The commands a private instance was sent, by name (`CommandCounter::of`).
    pub(crate) fn relay_counts(
        &self,
    ) -> Option<std::sync::Arc<std::sync::Mutex<crate::command_count::Counts>>> {
        match &self.channel {
            Channel::Private { relay, .. } => Some(relay.counts()),
            Channel::Tcp { .. } => None,
        }
    }

    /// Connections from other processes a private instance hung up on.
    pub fn refused(&self) -> u64 {
        match &self.channel {
            Channel::Private { relay, .. } => relay.refused(),
            Channel::Tcp { .. } => 0,
        }
    }

    pub fn state_dir(&self) -> &Path {
        &self.state_dir
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Starts it again on the same state directory if it has exited (the key store's
    /// reviver, after a TPM outage). Returns the interface to use now.
    pub fn revive(&mut self) -> Result<Option<TctiChoice>> {
        if !matches!(self.child.try_wait(), Ok(Some(_))) {
            return Ok(None);
        }
        tracing::warn!("the embedded swtpm exited; starting it again");
        let fresh = match self.channel {
            Channel::Tcp { .. } => Swtpm::start(&self.state_dir)?,
            Channel::Private { deadline, .. } => {
                // The new relay listens at the old one's path: stop the old one first.
                self.channel = Channel::Tcp { port: 0 };
                Swtpm::start_private_with_deadline(&self.state_dir, deadline)?
            }
        };
        let old = std::mem::replace(self, fresh);
        drop(old);
        Ok(Some(self.tcti()))
    }
}

const SETPRIV: &str = "/usr/bin/setpriv";
const PID_FILE: &str = "swtpm.pid";

/// `swtpm socket --tpm2` on `state_dir` (files 0600), started so that it dies with the
/// thread that starts it, without its channels.
fn swtpm_command(state_dir: &Path) -> Command {
    let mut cmd = if Path::new(SETPRIV).exists() {
        let mut c = Command::new(SETPRIV);
        c.args(["--pdeathsig", "TERM", "--", "swtpm"]);
        c
    } else {
        Command::new("swtpm")
    };
    cmd.arg("socket")
        .arg("--tpm2")
        .arg("--tpmstate")
        .arg(format!("dir={},mode=0600", state_dir.display()))
        .arg("--flags")
        .arg("not-need-init,startup-clear")
        .arg("--pid")
        .arg(format!("file={}", state_dir.join(PID_FILE).display()))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    cmd
}

/// Spawns `cmd` with `fds` inherited (their close-on-exec flag is cleared only for the
/// spawn itself).
fn spawn_with_fds(mut cmd: Command, fds: &[&UnixStream]) -> Result<Child> {
    use rustix::io::{fcntl_setfd, FdFlags};
    for fd in fds {
        fcntl_setfd(fd, FdFlags::empty())
            .map_err(|e| Error::Simulator(format!("socketpair: {e}")))?;
    }
    let child = cmd.spawn();
    for fd in fds {
        let _ = fcntl_setfd(fd, FdFlags::CLOEXEC);
    }
    child.map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => {
            Error::Simulator("swtpm is not installed (apt install swtpm)".into())
        }
        _ => Error::Simulator(format!("spawn swtpm: {e}")),
    })
}

/// Waits until a private swtpm answers a TPM2_GetRandom on `tpm` (or exits).
fn await_answer(tpm: &UnixStream, child: &mut Child) -> Result<()> {
    // TPM2_GetRandom(1), Part 3 §16.1.
    const GET_RANDOM: [u8; 12] = [0x80, 0x01, 0, 0, 0, 12, 0, 0, 0x01, 0x7B, 0, 1];
    let mut t = tpm;
    t.set_read_timeout(Some(START_TIMEOUT))
        .and_then(|()| t.write_all(&GET_RANDOM))
        .map_err(|e| Error::Simulator(format!("swtpm: {e}")))?;
    let mut header = [0u8; 10];
    match t.read_exact(&mut header) {
        Ok(()) => {
            let size = u32::from_be_bytes([header[2], header[3], header[4], header[5]]) as usize;
            let mut rest = vec![0u8; size.saturating_sub(10).min(64)];
            t.read_exact(&mut rest)
                .map_err(|e| Error::Simulator(format!("swtpm: {e}")))?;
            Ok(())
        }
        Err(e) => {
            let mut err = String::new();
            if let Some(mut s) = child.stderr.take() {
                if matches!(child.try_wait(), Ok(Some(_))) {
                    let _ = s.read_to_string(&mut err);
                }
            }
            Err(Error::Simulator(format!(
                "swtpm did not answer: {e} {}",
                err.trim()
            )))
        }
    }
}

/// Stops a swtpm a dead predecessor left running on `state_dir`: the pid file names it,
/// and only a process called swtpm whose command line names this directory is signalled.
fn stop_left_behind(state_dir: &Path) {
    let Some(pid) = std::fs::read_to_string(state_dir.join(PID_FILE))
        .ok()
        .and_then(|s| s.trim().parse::<i32>().ok())
        .and_then(rustix::process::Pid::from_raw)
    else {
        return;
    };
    let proc_dir = PathBuf::from(format!("/proc/{}", pid.as_raw_nonzero()));
    let comm = std::fs::read_to_string(proc_dir.join("comm")).unwrap_or_default();
    let cmdline = std::fs::read(proc_dir.join("cmdline")).unwrap_or_default();
    let dir_arg = format!("dir={}", state_dir.display());
    let with_options = format!("{dir_arg},");
    let ours = cmdline
        .split(|b| *b == 0)
        .any(|arg| arg == dir_arg.as_bytes() || arg.starts_with(with_options.as_bytes()));
    if comm.trim() != "swtpm" || !ours {
        return;
    }
    tracing::warn!(
        pid = pid.as_raw_nonzero().get(),
        "stopping a swtpm left behind by an earlier run on this state directory"
    );
    let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
    // A zombie (nobody reaped it yet) holds no lock any more.
    let alive = || {
        std::fs::read_to_string(proc_dir.join("stat"))
            .ok()
            .and_then(|s| s.rsplit_once(") ").map(|(_, rest)| !rest.starts_with('Z')))
            .unwrap_or(false)
    };
    let until = Instant::now() + Duration::from_secs(3);
    while alive() && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(20));
    }
    if alive() {
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
        std::thread::sleep(Duration::from_millis(100));
    }
}

impl Drop for Swtpm {
    fn drop(&mut self) {
        // swtpm writes its NV state to the state dir as it changes, so killing it loses
        // nothing but volatile state, which startup-clear discards anyway.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port P such that P and P+1 (swtpm's control channel) are both free right now.
fn free_port_pair() -> Result<u16> {
    for _ in 0..50 {
        let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .map_err(|e| Error::Simulator(format!("bind: {e}")))?;
        let port = l
            .local_addr()
            .map_err(|e| Error::Simulator(format!("bind: {e}")))?
            .port();
        if port < u16::MAX && TcpListener::bind((Ipv4Addr::LOCALHOST, port + 1)).is_ok() {
            return Ok(port);
        }
    }
    Err(Error::Simulator("no free loopback port pair".into()))
}
