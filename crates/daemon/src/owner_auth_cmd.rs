//! The owner-hierarchy password from the Secret Service, looked up in a short-lived child
//! (`tpm-passkey owner-auth-lookup`, hidden) rather than in the daemon.
//!
//! Why a child: the Secret Service client (zbus with async-io) runs work on the `blocking`
//! crate's thread pool, and `blocking` 1.7 keeps the pool's last thread for the life of the
//! process, waking it every 500 ms. Asked in the daemon, that one lookup at start-up made
//! every idle daemon on a desktop (which always has a session bus) wake twice a second,
//! forever (found by the prompt window's e2e, which is the first test to run the daemon with
//! a session bus: docs/PERFORMANCE.md "Idle"). In a child the pool dies with it.
//!
//! The child writes the password's bytes to a pipe and exits 0; exit [`NONE_STORED`] means
//! none was stored; any other failure says why on stderr (never the password).

use std::io::{Read, Write};
use std::process::{Command, Stdio};

use tpm_passkey_tpm::{OwnerAuth, OwnerAuthStore};
use zeroize::Zeroizing;

use crate::cli::CliResult;

/// The child's exit status when the Secret Service holds no owner password.
const NONE_STORED: i32 = 3;

/// The TPM's owner password is at most a digest (TPM 2.0 Part 2, TPM2B_AUTH): anything
/// longer is not one.
const MAX_LEN: usize = 64;

/// The child: look up, write, exit.
pub fn run() -> CliResult {
    // Same-user processes must not read the password out of our memory either.
    let _ = rustix::process::set_dumpable_behavior(rustix::process::DumpableBehavior::NotDumpable);
    match OwnerAuthStore::secret_service().and_then(|s| s.load())? {
        Some(auth) => {
            let mut out = std::io::stdout().lock();
            out.write_all(auth.expose_secret_bytes())?;
            out.flush()?;
            Ok(())
        }
        None => std::process::exit(NONE_STORED),
    }
}

/// The daemon's side: runs the child and takes the password from its pipe.
pub fn lookup() -> Result<Option<OwnerAuth>, String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot find our own binary: {e}"))?;
    let mut child = Command::new(exe)
        .arg("owner-auth-lookup")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start the lookup: {e}"))?;
    // Read into room made beforehand, so that no copy is left behind by a reallocation.
    let mut buf = Zeroizing::new(Vec::with_capacity(MAX_LEN + 1));
    let read = child
        .stdout
        .take()
        .map(|mut out| (&mut out).take(MAX_LEN as u64 + 1).read_to_end(&mut buf));
    let mut why = String::new();
    if let Some(mut err) = child.stderr.take() {
        let _ = err.read_to_string(&mut why);
    }
    let status = child
        .wait()
        .map_err(|e| format!("the lookup did not finish: {e}"))?;
    match (status.code(), read) {
        (Some(0), Some(Ok(_))) if buf.len() <= MAX_LEN => {
            Ok(Some(OwnerAuth::new(std::mem::take(&mut *buf))))
        }
        (Some(0), Some(Ok(_))) => Err("the stored value is longer than an owner password".into()),
        (Some(NONE_STORED), _) => Ok(None),
        _ => Err(why
            .trim()
            .trim_start_matches("tpm-passkey: ")
            .to_owned()
            .chars()
            .take(300)
            .collect()),
    }
}
