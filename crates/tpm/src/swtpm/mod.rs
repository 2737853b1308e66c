//! The embedded simulator: a `swtpm socket` process on a free loopback port pair, with
//! its state in a directory the caller chooses. Used when the machine has no TPM (keys
//! are then NOT hardware-protected, and every surface must say so) and by every test,
//! each with its own instance.
//!
//! It must not outlive us: a swtpm left behind by a SIGKILLed daemon holds the lock on its
//! state directory and the next start fails. So it is started under `setpriv
//! --pdeathsig TERM` (the kernel signals it when the thread that started it dies), and it
//! writes a pid file in its state directory; a start first stops a swtpm that pid file
//! names, if that process is a swtpm on this very directory.

use std::io::Read;
use std::net::{Ipv4Addr, SocketAddrV4, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::{Error, Result, TctiChoice, TctiSource};

/// A running swtpm; stopped (and reaped) on drop.
#[derive(Debug)]
pub struct Swtpm {
    child: Child,
    port: u16,
    state_dir: PathBuf,
}

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

    fn spawn(state_dir: &Path, port: u16) -> Result<Self> {
        let ctrl = port + 1;
        let mut cmd = if Path::new(SETPRIV).exists() {
            let mut c = Command::new(SETPRIV);
            c.args(["--pdeathsig", "TERM", "--", "swtpm"]);
            c
        } else {
            Command::new("swtpm")
        };
        let mut child = cmd
            .arg("socket")
            .arg("--tpm2")
            .arg("--tpmstate")
            .arg(format!("dir={}", state_dir.display()))
            .arg("--server")
            .arg(format!("type=tcp,port={port},bindaddr=127.0.0.1"))
            .arg("--ctrl")
            .arg(format!("type=tcp,port={ctrl},bindaddr=127.0.0.1"))
            .arg("--flags")
            .arg("not-need-init,startup-clear")
            .arg("--pid")
            .arg(format!("file={}", state_dir.join(PID_FILE).display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound => {
                    Error::Simulator("swtpm is not installed (apt install swtpm)".into())
                }
                _ => Error::Simulator(format!("spawn swtpm: {e}")),
            })?;
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
                    child,
                    port,
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

    /// The TCTI that reaches this instance.
    pub fn tcti(&self) -> TctiChoice {
        TctiChoice::swtpm(self.port, TctiSource::Simulator)
    }

    pub fn port(&self) -> u16 {
        self.port
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
        let fresh = Swtpm::start(&self.state_dir)?;
        let old = std::mem::replace(self, fresh);
        drop(old);
        Ok(Some(self.tcti()))
    }
}

const SETPRIV: &str = "/usr/bin/setpriv";
const PID_FILE: &str = "swtpm.pid";

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
    let ours = cmdline
        .split(|b| *b == 0)
        .any(|arg| arg == dir_arg.as_bytes());
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
