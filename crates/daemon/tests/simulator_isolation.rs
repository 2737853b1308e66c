//! The embedded simulator — what a user with no TPM chip gets from `tpm-passkey up` — is
//! reachable through the daemon only (issue 20; docs/THREAT-MODEL.md "TPM paths"). Played
//! as a program of the same account and as another account: swtpm listens on no TCP port
//! and on no socket path, the daemon's relay hangs up on every other process, and the
//! state is the account's alone (0700 / 0600). The daemon serves on, and says it refused.
#![allow(clippy::unwrap_used)]

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use common::{children, comm, Agent, Daemon};

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

/// The socket inodes `pid` holds open.
fn socket_inodes(pid: u32) -> Vec<String> {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .flatten()
        .filter_map(|e| std::fs::read_link(e.path()).ok())
        .filter_map(|t| {
            let t = t.to_str()?.to_owned();
            Some(t.strip_prefix("socket:[")?.strip_suffix(']')?.to_owned())
        })
        .collect()
}

/// Every line of /proc/net/{tcp,tcp6,unix} about one of `inodes` (the inode column).
fn socket_lines(inodes: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    for (table, col) in [("tcp", 9), ("tcp6", 9), ("unix", 6)] {
        let text = std::fs::read_to_string(format!("/proc/net/{table}")).unwrap_or_default();
        for line in text.lines().skip(1) {
            let cols: Vec<&str> = line.split_whitespace().collect();
            if cols.get(col).is_some_and(|i| inodes.iter().any(|n| n == i)) {
                out.push(format!("{table}: {line}"));
            }
        }
    }
    out
}

/// `program args…` as account 65534 (nobody) when we may switch, else None.
fn as_nobody(program: &str, args: &[&str]) -> Option<std::process::Output> {
    if !rustix::process::geteuid().is_root() {
        return None;
    }
    Some(
        Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
            .arg(program)
            .args(args)
            .output()
            .unwrap(),
    )
}

#[test]
fn the_embedded_simulator_is_reachable_through_the_daemon_only() {
    let d = Daemon::start(Agent::ApproveAll);
    // Only the daemon's own modes stand between another account and the state: the test's
    // directory is opened up.
    std::fs::set_permissions(d.dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    d.assert_python("fido2_e2e.py", "persist_register");
    let tpm_dir = d.state().join("swtpm");
    let socket = tpm_dir.join("tpm.sock");
    let tcti = format!("swtpm:path={}", socket.display());

    // The state is this account's alone.
    assert_eq!(mode(&d.state()), 0o700);
    assert_eq!(mode(&tpm_dir), 0o700);
    // The TPM's state files (its seeds, the PIN index's authValue) are 0600 besides; swtpm
    // makes its empty lock file 0640, inside the 0700 directory.
    let state_files: Vec<_> = std::fs::read_dir(&tpm_dir)
        .unwrap()
        .flatten()
        .filter(|f| f.file_name().to_string_lossy().starts_with("tpm2-"))
        .map(|f| f.path())
        .collect();
    assert!(!state_files.is_empty());
    for f in &state_files {
        assert_eq!(mode(f), 0o600, "{}", f.display());
    }

    // swtpm listens nowhere: its only sockets are an unnamed socketpair end.
    let swtpm = children(d.pid().unwrap())
        .into_iter()
        .find(|p| comm(*p) == "swtpm")
        .expect("the daemon runs its swtpm");
    let inodes = socket_inodes(swtpm);
    assert!(!inodes.is_empty());
    for line in socket_lines(&inodes) {
        assert!(
            line.starts_with("unix: "),
            "swtpm has a network socket: {line}"
        );
        assert_eq!(
            line.split_whitespace().count(),
            8,
            "swtpm has a socket with a path: {line}"
        );
    }

    // Another program of this account, on the relay's socket: hung up on, for the TPM
    // channel and for the control channel (no INIT, no state dump).
    let out = Command::new("tpm2_getrandom")
        .args(["-T", &tcti, "--hex", "8"])
        .output()
        .unwrap();
    assert!(!out.status.success(), "{out:?}");
    let ioctl = Command::new("swtpm_ioctl")
        .arg("--unix")
        .arg(format!("{}.ctrl", socket.display()))
        .arg("-i")
        .output()
        .unwrap();
    assert!(!ioctl.status.success(), "{ioctl:?}");
    assert!(
        d.log()
            .contains("another program tried to use the embedded TPM; refused"),
        "{}",
        d.log()
    );

    // Another account reaches nothing: not the socket, not the state.
    if let Some(out) = as_nobody("tpm2_getrandom", &["-T", &tcti, "--hex", "8"]) {
        assert!(!out.status.success(), "{out:?}");
        let ls = as_nobody("ls", &[tpm_dir.to_str().unwrap()]).unwrap();
        assert!(!ls.status.success(), "{ls:?}");
        let cat = as_nobody("cat", &[state_files[0].to_str().unwrap()]).unwrap();
        assert!(!cat.status.success(), "{cat:?}");
        let store = as_nobody("cat", &[d.state().join("store.sqlite").to_str().unwrap()]).unwrap();
        assert!(!store.status.success(), "{store:?}");
    }

    // The daemon serves on, and says which TPM path this is.
    d.assert_python("fido2_e2e.py", "persist_authenticate");
    let status: serde_json::Value = serde_json::from_str(&d.ok(&["status", "--json"])).unwrap();
    assert_eq!(status["path"], "private_simulator", "{status}");
    assert!(d
        .ok(&["status"])
        .contains("embedded simulator, reachable only through this daemon"));
}
