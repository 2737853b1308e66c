//! A counting TCP proxy in front of swtpm, for tests and benches: it sees every TPM command
//! that crosses the wire, so it counts what the TPM actually does for an operation — the
//! number a hardware TPM's per-command cost multiplies (docs/PERFORMANCE.md).
//!
//! swtpm takes raw TPM commands on its server port and control commands on the next port;
//! the proxy listens on two consecutive ports of its own, parses each command's header
//! (TPM 2.0 Part 1 §18: tag, commandSize, commandCode) on the first, and passes the control
//! channel through untouched. A TCTI string naming the proxy is [`CommandCounter::tcti`].
//!
//! The private simulator needs no proxy: its relay sees every command already, and
//! [`CommandCounter::of`] reads its counts — so the path where sessions are kept is counted
//! as it runs in the daemon.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;

use crate::{TctiChoice, TctiSource};

/// Commands larger than this are not TPM commands (TPM2 MAX_COMMAND_SIZE is 4096 on swtpm).
const MAX_COMMAND: usize = 8192;

/// Counts per command, by name.
pub type Counts = BTreeMap<&'static str, u32>;

/// The proxy; it runs until the process ends (its threads are detached and idle when no
/// client connects).
#[derive(Debug, Clone)]
pub struct CommandCounter {
    tcti: TctiChoice,
    counts: Arc<Mutex<Counts>>,
}

impl CommandCounter {
    /// Starts a proxy for the swtpm whose server port is `upstream` (control port
    /// `upstream + 1`).
    pub fn start(upstream: u16) -> std::io::Result<Self> {
        let (data, ctrl) = consecutive_listeners()?;
        let port = data.local_addr()?.port();
        let counts = Arc::new(Mutex::new(Counts::new()));
        let c = counts.clone();
        thread::spawn(move || {
            for client in data.incoming().flatten() {
                let c = c.clone();
                thread::spawn(move || {
                    let _ = relay_commands(client, upstream, &c);
                });
            }
        });
        thread::spawn(move || {
            for client in ctrl.incoming().flatten() {
                thread::spawn(move || {
                    let _ = pipe(client, upstream + 1);
                });
            }
        });
        Ok(CommandCounter {
            tcti: TctiChoice::swtpm(port, TctiSource::Explicit),
            counts,
        })
    }

    /// The counts of a private simulator's relay (None for one on TCP: put a proxy in
    /// front of it with [`CommandCounter::start`]).
    pub fn of(swtpm: &crate::Swtpm) -> Option<Self> {
        Some(CommandCounter {
            tcti: swtpm.tcti(),
            counts: swtpm.relay_counts()?,
        })
    }

    /// The TCTI that reaches the TPM through this proxy (or the private simulator).
    pub fn tcti(&self) -> TctiChoice {
        self.tcti.clone()
    }

    /// The counts since the last [`CommandCounter::take`], and zero again.
    pub fn take(&self) -> Counts {
        std::mem::take(&mut *self.counts.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

/// The total of a set of counts.
pub fn total(counts: &Counts) -> u32 {
    counts.values().sum()
}

fn consecutive_listeners() -> std::io::Result<(TcpListener, TcpListener)> {
    for _ in 0..64 {
        let a = TcpListener::bind(("127.0.0.1", 0))?;
        let port = a.local_addr()?.port();
        if port == u16::MAX {
            continue;
        }
        if let Ok(b) = TcpListener::bind(("127.0.0.1", port + 1)) {
            return Ok((a, b));
        }
    }
    Err(std::io::Error::new(
        std::io::ErrorKind::AddrInUse,
        "no two consecutive free ports",
    ))
}

/// Reads one TPM message (command or response): a 10-byte header whose bytes 2..6 are
/// the whole size. None at a clean end of stream.
fn read_message(r: &mut impl Read) -> std::io::Result<Option<Vec<u8>>> {
    let mut header = [0u8; 10];
    match r.read_exact(&mut header) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let size = u32::from_be_bytes([header[2], header[3], header[4], header[5]]) as usize;
    if !(10..=MAX_COMMAND).contains(&size) {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "not a TPM message",
        ));
    }
    let mut out = header.to_vec();
    out.resize(size, 0);
    r.read_exact(&mut out[10..])?;
    Ok(Some(out))
}

fn relay_commands(
    mut client: TcpStream,
    upstream: u16,
    counts: &Mutex<Counts>,
) -> std::io::Result<()> {
    let mut tpm = TcpStream::connect(("127.0.0.1", upstream))?;
    while let Some(command) = read_message(&mut client)? {
        count(counts, &command);
        tpm.write_all(&command)?;
        let Some(response) = read_message(&mut tpm)? else {
            break;
        };
        client.write_all(&response)?;
    }
    let _ = tpm.shutdown(Shutdown::Both);
    Ok(())
}

/// Counts one command (its code is bytes 6..10 of the header).
pub(crate) fn count(counts: &Mutex<Counts>, command: &[u8]) {
    let Some(code) = command.get(6..10) else {
        return;
    };
    let code = u32::from_be_bytes([code[0], code[1], code[2], code[3]]);
    *counts
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .entry(command_name(code))
        .or_default() += 1;
}

fn pipe(client: TcpStream, upstream: u16) -> std::io::Result<()> {
    let tpm = TcpStream::connect(("127.0.0.1", upstream))?;
    let (mut c2, mut t2) = (client.try_clone()?, tpm.try_clone()?);
    let up = thread::spawn(move || {
        let _ = std::io::copy(&mut c2, &mut t2);
        let _ = t2.shutdown(Shutdown::Write);
    });
    let (mut c, mut t) = (client, tpm);
    let _ = std::io::copy(&mut t, &mut c);
    let _ = c.shutdown(Shutdown::Write);
    let _ = up.join();
    Ok(())
}

/// TPM_CC names (Part 2 §6.5.2) of the commands this product sends; others by number.
pub fn command_name(code: u32) -> &'static str {
    match code {
        0x0000_0131 => "CreatePrimary",
        0x0000_0137 => "NV_Write",
        0x0000_0134 => "NV_Increment",
        0x0000_0136 => "NV_Extend",
        0x0000_0184 => "NV_Certify",
        0x0000_0148 => "Certify",
        0x0000_0147 => "ActivateCredential",
        0x0000_018F => "PolicyNvWritten",
        0x0000_013B => "NV_ChangeAuth",
        0x0000_014E => "NV_Read",
        0x0000_0151 => "PolicySecret",
        0x0000_0153 => "Create",
        0x0000_0155 => "HMAC",
        0x0000_0157 => "Load",
        0x0000_015D => "Sign",
        0x0000_0160 => "PolicySigned",
        0x0000_0165 => "FlushContext",
        0x0000_0169 => "NV_ReadPublic",
        0x0000_016A => "PolicyAuthorize",
        0x0000_016C => "PolicyCommandCode",
        0x0000_0171 => "PolicyOR",
        0x0000_0173 => "ReadPublic",
        0x0000_0176 => "StartAuthSession",
        0x0000_017A => "GetCapability",
        0x0000_017B => "GetRandom",
        0x0000_0144 => "Startup",
        0x0000_012A => "NV_DefineSpace",
        0x0000_0122 => "NV_UndefineSpace",
        0x0000_0167 => "LoadExternal",
        0x0000_0177 => "VerifySignature",
        0x0000_017F => "PolicyGetDigest",
        _ => "other",
    }
}
