//! A daemon that sleeps: with no client and no prompt, none of its threads wakes. Counted
//! from the kernel's context-switch counters of every thread (/proc/PID/task/*/status) —
//! a count, not a time, so it is exact on a busy machine too.
#![allow(clippy::unwrap_used)]

mod common;

use common::{Agent, Daemon};
use std::time::Duration;

/// Voluntary + involuntary context switches of every thread of `pid`, and the thread count.
fn switches(pid: u32) -> (u64, usize) {
    let mut total = 0;
    let mut threads = 0;
    for task in std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .flatten()
    {
        let Ok(status) = std::fs::read_to_string(task.path().join("status")) else {
            continue; // a thread that just ended
        };
        threads += 1;
        total += status
            .lines()
            .filter(|l| l.contains("ctxt_switches:"))
            .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
            .sum::<u64>();
    }
    (total, threads)
}

#[test]
fn an_idle_daemon_does_not_wake_up() {
    let mut d = Daemon::start(Agent::None);
    let pid = d.pid().unwrap();
    // A request and a control client first, so that every loop has run once and gone
    // back to sleep: the count below is of an idle daemon after work, not of a fresh one.
    let status = d.cli(&["status"]);
    assert!(status.status.success(), "{status:?}");
    std::thread::sleep(Duration::from_millis(500));
    let (before, threads) = switches(pid);
    std::thread::sleep(Duration::from_secs(4));
    let (after, threads_after) = switches(pid);
    assert_eq!(threads, threads_after, "no thread came or went while idle");
    assert_eq!(
        after - before,
        0,
        "an idle daemon ({threads} threads) woke {} times in 4 s",
        after - before
    );
    let rss_kb: u64 = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        .unwrap();
    println!("idle daemon: {threads} threads, RSS {rss_kb} kB (debug build)");
    d.stop();
}

/// On a desktop the daemon has a session bus and asks the Secret Service for the TPM
/// owner's password. The password reaches it (the TPM below has one: without it the daemon
/// could not make its keys or the PIN index), and the D-Bus client leaves nothing running:
/// the lookup is made by a child process, because the client's thread pool would otherwise
/// keep a thread that wakes every 500 ms (owner_auth_cmd.rs). Ignored by default: .ci/run
/// runs it inside dbus-run-session with gnome-keyring.
#[test]
#[ignore = "needs a Secret Service (run by .ci/run under dbus-run-session + gnome-keyring)"]
fn secret_service_owner_password_reaches_the_daemon_which_then_sleeps() {
    use tpm_passkey_tpm::{OwnerAuth, OwnerAuthStore};
    use tss_esapi::{handles::AuthHandle, structures::Auth, Context};
    assert!(
        std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_some(),
        "run inside a session bus"
    );
    const PW: &[u8] = b"it-department secret \x01";
    let keyring = OwnerAuthStore::secret_service().expect("Secret Service reachable");
    keyring.save(&OwnerAuth::new(PW.to_vec())).unwrap();

    let dir = tempfile::tempdir().unwrap();
    let swtpm = tpm_passkey_tpm::Swtpm::start(&dir.path().join("tpm")).unwrap();
    let mut ctx = Context::new(swtpm.tcti().as_str().parse().unwrap()).unwrap();
    ctx.execute_with_nullauth_session(|c| {
        c.hierarchy_change_auth(AuthHandle::Owner, Auth::try_from(PW.to_vec())?)
    })
    .unwrap();
    drop(ctx);

    let mut d = Daemon::start_on(swtpm.tcti().as_str(), Agent::None);
    let pin = d.dir.path().join("pin");
    std::fs::write(&pin, "246810\n").unwrap();
    d.ok(&["pin", "set", "--new-pin-file", pin.to_str().unwrap()]);
    let pid = d.pid().unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    let (before, threads) = switches(pid);
    std::thread::sleep(Duration::from_secs(4));
    let (after, _) = switches(pid);
    keyring.clear().unwrap();
    assert_eq!(
        after - before,
        0,
        "with a session bus, the idle daemon ({threads} threads) woke {} times in 4 s",
        after - before
    );
    d.stop();
}
