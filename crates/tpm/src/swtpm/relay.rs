//! The private simulator's one door: a Unix socket that serves this process and nobody
//! else (docs/DESIGN.md "The embedded simulator").
//!
//! swtpm itself is started on a socketpair (`--fd`) and with no control channel, so it
//! listens nowhere: no TCP port, no socket path, no control channel anyone could reach. ESYS's swtpm TCTI needs a path to connect to, so the relay
//! listens on one inside the simulator's state directory (mode 0700: other accounts
//! cannot even reach it) and checks each connection's peer (SO_PEERCRED): only this
//! process is served; another program of the same account is hung up on before one byte
//! reaches swtpm. So no other program can name our sessions between two of our commands,
//! which is what lets the key store keep a satisfied session here as it does behind the
//! kernel's resource manager.
//!
//! Each command is passed to swtpm whole and its response back. A response that does not
//! come within the deadline means swtpm hung (or was stopped): the relay hangs up on the
//! caller (ESYS reports a TCTI error, the key store treats the TPM as unreachable) and
//! kills swtpm, whose state is on disk; the key store's reviver starts it again.
//!
//! The TCTI also opens `<path>.ctrl` once, to set locality 0 (swtpm's control channel);
//! the relay answers that itself, for this process only, and refuses every other control
//! command — there is no control channel behind it.
//!
//! The threads block in accept(2) while nothing is asked: no wake-ups when idle.

use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::command_count::{count, Counts};

/// Largest command or response passed through (swtpm's own buffer is 4096 bytes).
const MAX_MESSAGE: usize = 8192;

/// See the module documentation.
#[derive(Debug)]
pub(crate) struct Relay {
    path: PathBuf,
    listeners: [Arc<UnixListener>; 2],
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<()>>,
}

/// swtpm control channel commands (swtpm's tpm_ioctl.h): the only one the TCTI sends here.
const CMD_SET_LOCALITY: u32 = 0x05;

#[derive(Debug, Default)]
struct Shared {
    stop: AtomicBool,
    /// Connections hung up on because they came from another process.
    refused: AtomicU64,
    /// Commands passed through, by name (`CommandCounter::of`).
    counts: Arc<Mutex<Counts>>,
}

impl Relay {
    /// Listens at `path` (replacing a stale socket file) and serves this process's
    /// connections to the swtpm on `tpm`, whose process is `swtpm_pid`.
    pub(crate) fn start(
        path: &Path,
        tpm: UnixStream,
        swtpm_pid: u32,
        deadline: Duration,
    ) -> std::io::Result<Self> {
        let ctrl_path = ctrl_path(path);
        let bind = |p: &Path| -> std::io::Result<Arc<UnixListener>> {
            let _ = std::fs::remove_file(p);
            let l = UnixListener::bind(p)?;
            std::fs::set_permissions(p, std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
            Ok(Arc::new(l))
        };
        let listeners = [bind(path)?, bind(&ctrl_path)?];
        tpm.set_read_timeout(Some(deadline))?;
        tpm.set_write_timeout(Some(deadline))?;
        let shared = Arc::new(Shared::default());
        let (l, s) = (listeners[0].clone(), shared.clone());
        let data = std::thread::Builder::new()
            .name("tpm-relay".into())
            .spawn(move || serve(&l, tpm, swtpm_pid, &s))?;
        let (l, s) = (listeners[1].clone(), shared.clone());
        let ctrl = std::thread::Builder::new()
            .name("tpm-relay-ctrl".into())
            .spawn(move || serve_control(&l, &s))?;
        Ok(Relay {
            path: path.to_owned(),
            listeners,
            shared,
            threads: vec![data, ctrl],
        })
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// The commands passed through so far, by name.
    pub(crate) fn counts(&self) -> Arc<Mutex<Counts>> {
        self.shared.counts.clone()
    }

    /// How many connections from other processes were hung up on.
    pub(crate) fn refused(&self) -> u64 {
        self.shared.refused.load(Ordering::Relaxed)
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // shutdown(2) on a listening socket makes a blocked accept(2) return (Linux).
        for l in &self.listeners {
            let _ = rustix::net::shutdown(l.as_fd(), rustix::net::Shutdown::Both);
        }
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        let _ = std::fs::remove_file(&self.path);
        let _ = std::fs::remove_file(ctrl_path(&self.path));
    }
}

/// Where the swtpm TCTI looks for the control channel of the TPM at `path`.
fn ctrl_path(path: &Path) -> PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push(".ctrl");
    PathBuf::from(p)
}

/// Accepts the next connection from this process; hangs up on (and counts) any other.
/// None once the relay stops.
fn accept_own(listener: &UnixListener, shared: &Shared) -> Option<UnixStream> {
    let me = std::process::id();
    loop {
        let conn = listener.accept();
        if shared.stop.load(Ordering::SeqCst) {
            return None;
        }
        let Ok((client, _)) = conn else {
            // EMFILE and the like: do not spin.
            std::thread::sleep(Duration::from_millis(50));
            continue;
        };
        let peer = rustix::net::sockopt::socket_peercred(&client);
        if peer
            .as_ref()
            .is_ok_and(|c| c.pid.as_raw_nonzero().get() as u32 == me)
        {
            return Some(client);
        }
        shared.refused.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(
            pid = peer.map(|c| c.pid.as_raw_nonzero().get()).unwrap_or(0),
            "another program tried to use the embedded TPM; refused"
        );
    }
}

/// The control channel: SET_LOCALITY to 0 is answered with success, anything else with
/// an error; nothing is passed on.
fn serve_control(listener: &UnixListener, shared: &Shared) {
    while let Some(mut client) = accept_own(listener, shared) {
        let _ = client.set_read_timeout(Some(Duration::from_secs(5)));
        let mut buf = [0u8; 64];
        let Ok(n) = client.read(&mut buf) else {
            continue;
        };
        let ok = n == 5 && buf[..4] == CMD_SET_LOCALITY.to_be_bytes() && buf[4] == 0;
        // A TPM_RESULT: 0 for success, TPM_FAIL (9) otherwise.
        let _ = client.write_all(&(if ok { 0u32 } else { 9 }).to_be_bytes());
    }
}

fn serve(listener: &UnixListener, mut tpm: UnixStream, swtpm_pid: u32, shared: &Shared) {
    while let Some(mut client) = accept_own(listener, shared) {
        // One connection may carry several commands, one after another.
        while let Ok(command) = read_message(&mut client) {
            count(&shared.counts, &command);
            let answered = tpm
                .write_all(&command)
                .and_then(|()| read_message(&mut tpm));
            match answered {
                Ok(response) => {
                    if client.write_all(&response).is_err() {
                        break;
                    }
                }
                Err(e) => {
                    tracing::error!(
                        error = %e,
                        "the embedded TPM did not answer in time; stopping it (it is restarted on the next request)"
                    );
                    let _ = client.shutdown(std::net::Shutdown::Both);
                    if let Some(pid) = rustix::process::Pid::from_raw(swtpm_pid as i32) {
                        let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
                    }
                    // The channel may be out of step now; nothing more goes through it.
                    wait_for_stop(listener, shared);
                    return;
                }
            }
        }
    }
}

/// After swtpm was killed: refuse everyone until the relay is dropped.
fn wait_for_stop(listener: &UnixListener, shared: &Shared) {
    while !shared.stop.load(Ordering::SeqCst) {
        if listener.accept().is_err() && shared.stop.load(Ordering::SeqCst) {
            return;
        }
    }
}

/// One TPM command or response: a 10-byte header whose bytes 2..6 give the whole size.
fn read_message(r: &mut impl Read) -> std::io::Result<Vec<u8>> {
    let mut header = [0u8; 10];
    r.read_exact(&mut header)?;
    let size = u32::from_be_bytes([header[2], header[3], header[4], header[5]]) as usize;
    if !(10..=MAX_MESSAGE).contains(&size) {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "not a TPM message",
        ));
    }
    let mut out = header.to_vec();
    out.resize(size, 0);
    r.read_exact(&mut out[10..])?;
    Ok(out)
}
