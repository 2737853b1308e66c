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
