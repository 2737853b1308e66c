//! `tpm-passkey uhid-helper`: the small privileged side of the uhid transport (see
//! `tpm_passkey_hid::uhid::helper`). Under systemd it is socket-activated with
//! `Accept=yes` (contrib/tpm-passkey-uhid.socket): each connection is a fresh instance
//! with the connection as stdin/stdout. `--listen PATH` serves connections itself, for
//! systems without systemd and for the kernel-path test.

use std::fs::File;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use clap::Args;
use socket2::{Domain, SockAddr, Socket, Type};
use tpm_passkey_hid::uhid::helper::{relay, Client};

use crate::cli::CliResult;

/// Connections served at once in `--listen` mode (systemd's MaxConnections otherwise).
const MAX_CLIENTS: usize = 16;

#[derive(Debug, Args)]
pub struct HelperArgs {
    /// Listen on PATH (a SOCK_SEQPACKET socket every local user may connect to) and serve
    /// each connection, instead of the one connection systemd passes as stdin/stdout.
    #[arg(long, value_name = "PATH")]
    listen: Option<PathBuf>,
    /// The uhid device.
    #[arg(long, default_value = "/dev/uhid")]
    uhid: PathBuf,
}

fn client_of(fd: impl AsFd) -> std::io::Result<Client> {
    let cred = rustix::net::sockopt::socket_peercred(fd)?;
    Ok(Client {
        pid: u32::try_from(cred.pid.as_raw_nonzero().get()).unwrap_or(0),
        uid: cred.uid.as_raw(),
    })
}

pub fn run(args: &HelperArgs) -> CliResult {
    match &args.listen {
        None => {
            // Socket activation with Accept=yes: the connection is stdin (and stdout).
            let stdin = std::io::stdin();
            let client = client_of(stdin.as_fd()).map_err(|e| {
                format!("stdin is not a socket connection ({e}); use --listen PATH outside systemd")
            })?;
            let from: OwnedFd = stdin.as_fd().try_clone_to_owned()?;
            let to: OwnedFd = std::io::stdout().as_fd().try_clone_to_owned()?;
            relay(File::from(from), File::from(to), client, &args.uhid)?;
            Ok(())
        }
        Some(path) => listen(path, &args.uhid),
    }
}

fn listen(path: &std::path::Path, uhid: &std::path::Path) -> CliResult {
    if path.exists() {
        std::fs::remove_file(path)?;
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let listener = Socket::new(Domain::UNIX, Type::SEQPACKET, None)?;
    listener.bind(&SockAddr::unix(path)?)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o666))?;
    listener.listen(8)?;
    eprintln!("tpm-passkey: uhid helper listening on {}", path.display());
    let open = Arc::new(AtomicUsize::new(0));
    loop {
        let (conn, _) = listener.accept()?;
        if open.load(Ordering::SeqCst) >= MAX_CLIENTS {
            tracing::warn!("too many uhid helper clients; refused one");
            continue;
        }
        let client = match client_of(&conn) {
            Ok(c) => c,
            Err(_) => continue,
        };
        let uhid = uhid.to_owned();
        let open2 = open.clone();
        open.fetch_add(1, Ordering::SeqCst);
        std::thread::spawn(move || {
            let fds = conn.try_clone().map(|to| {
                (
                    File::from(OwnedFd::from(conn)),
                    File::from(OwnedFd::from(to)),
                )
            });
            match fds {
                Ok((from, to)) => {
                    if let Err(e) = relay(from, to, client, &uhid) {
                        tracing::error!(error = %e, pid = client.pid, "uhid helper client failed");
                    }
                }
                Err(e) => tracing::error!(error = %e, "uhid helper: cannot use the connection"),
            }
            open2.fetch_sub(1, Ordering::SeqCst);
        });
    }
}
