//! The embedded simulator: a `swtpm socket` process on a free loopback port pair, with
//! its state in a directory the caller chooses. Used when the machine has no TPM (keys
//! are then NOT hardware-protected, and every surface must say so) and by every test,
//! each with its own instance.

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

    fn spawn(state_dir: &Path, port: u16) -> Result<Self> {
        let ctrl = port + 1;
        let mut child = Command::new("swtpm")
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
