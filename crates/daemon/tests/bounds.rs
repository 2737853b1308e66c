//! Hostile local input has bounds: an endless line on the control socket, a flood of
//! connections, a megabyte passkey id. Each is answered with a clear error, costs the daemon
//! no lasting memory, and leaves it serving everyone else.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::time::Duration;

use common::{Agent, Daemon};

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

fn connect(d: &Daemon) -> (UnixStream, BufReader<UnixStream>) {
    let s = UnixStream::connect(d.control()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let r = BufReader::new(s.try_clone().unwrap());
    (s, r)
}

fn hello(s: &mut UnixStream, r: &mut BufReader<UnixStream>) {
    s.write_all(b"{\"type\":\"hello\",\"protocol\":2}\n")
        .unwrap();
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    assert!(line.contains("\"hello\""), "{line}");
}

#[test]
fn an_endless_line_is_cut_at_64_kib_and_costs_no_memory() {
    let d = Daemon::start(Agent::None);
    let pid = d.pid().unwrap();
    let before = rss_kib(pid);
    let (mut s, mut r) = connect(&d);
    // 64 MiB without a newline: the daemon reads 64 KiB + 1, answers, and hangs up.
    let chunk = vec![b'x'; 1 << 20];
    let mut sent = 0usize;
    for _ in 0..64 {
        if s.write_all(&chunk).is_err() {
            break;
        }
        sent += chunk.len();
    }
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    assert!(line.contains("request too long"), "{line}");
    assert!(
        sent < 64 << 20,
        "the daemon stopped reading (sent {sent} bytes)"
    );
    let after = rss_kib(pid);
    assert!(after < before + 8 * 1024, "RSS {before} KiB → {after} KiB");
    // Everyone else is still served.
    let out = d.cli(&["status", "--json"]);
    assert!(out.status.success());
}

#[test]
fn a_flood_of_connections_is_refused_beyond_32_and_served_again_after() {
    let d = Daemon::start(Agent::None);
    let held: Vec<_> = (0..32)
        .map(|_| {
            let (mut s, mut r) = connect(&d);
            hello(&mut s, &mut r);
            (s, r)
        })
        .collect();
    let (_s, mut r) = connect(&d);
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    assert!(line.contains("serving 32 connections already"), "{line}");
    let threads = std::fs::read_dir(format!("/proc/{}/task", d.pid().unwrap()))
        .unwrap()
        .count();
    assert!(threads < 32 + 16, "{threads} threads");
    drop(held);
    // The slots come back once the flood is gone.
    common::wait_for(
        || d.cli(&["status"]).status.success(),
        "status served again",
    );
}

#[test]
fn a_huge_passkey_id_is_not_echoed_back() {
    let d = Daemon::start(Agent::None);
    let (mut s, mut r) = connect(&d);
    hello(&mut s, &mut r);
    let id = "ab".repeat(30_000);
    s.write_all(
        format!("{{\"type\":\"delete_passkey\",\"id\":\"{id}\",\"pin\":null}}\n").as_bytes(),
    )
    .unwrap();
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    assert!(line.contains("no passkey with id"), "{line}");
    assert!(line.len() < 300, "{} bytes: the id was echoed", line.len());
}

/// 32 connections that say nothing (issue 23: they used to hold every slot for as long as
/// they liked, locking out `status`, the CLI and the app's agent registration). Meanwhile
/// the CLI is told to try again, in words (it used to read "Broken pipe"); a few seconds
/// later the silent ones are closed, and status and an agent get in.
#[test]
fn silent_connections_are_closed_and_the_full_socket_says_try_again() {
    let d = Daemon::start(Agent::None);
    let silent: Vec<_> = (0..32).map(|_| connect(&d)).collect();
    for _ in 0..20 {
        let out = d.cli(&["status"]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success());
        assert!(err.contains("try again"), "{err}");
        assert!(!err.contains("Broken pipe"), "{err}");
    }
    common::wait_for(
        || d.cli(&["status"]).status.success(),
        "the silent connections closed",
    );
    // An agent registers now.
    let (mut s, mut r) = connect(&d);
    hello(&mut s, &mut r);
    s.write_all(b"{\"type\":\"register_agent\",\"kind\":\"terminal\",\"take_over\":null}\n")
        .unwrap();
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    assert!(line.contains("\"ok\""), "{line}");
    // And the agent's own connection is not closed for being quiet (it waits for prompts).
    std::thread::sleep(Duration::from_secs(4));
    let status: serde_json::Value = serde_json::from_str(&d.ok(&["status", "--json"])).unwrap();
    assert_eq!(status["agent"], true, "{status}");
    drop(silent);
}

/// The HID socket transport serves 32 clients at once, and hangs up on more, instead of a
/// thread pair for each of hundreds.
#[test]
fn the_hid_socket_is_capped_too() {
    use socket2::{Domain, SockAddr, Socket, Type};
    let d = Daemon::start(Agent::None);
    let threads = || {
        std::fs::read_dir(format!("/proc/{}/task", d.pid().unwrap()))
            .unwrap()
            .count()
    };
    let before = threads();
    let held: Vec<Socket> = (0..100)
        .map(|_| {
            let s = Socket::new(Domain::UNIX, Type::SEQPACKET, None).unwrap();
            s.connect(&SockAddr::unix(d.hid()).unwrap()).unwrap();
            s
        })
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    let during = threads();
    assert!(during <= before + 2 * 32 + 2, "{before} → {during} threads");
    // Those beyond the cap were hung up on: reading gives end of stream at once.
    let mut hung_up = 0;
    for s in &held {
        s.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
        let mut b = [std::mem::MaybeUninit::new(0u8); 64];
        if matches!(s.recv(&mut b), Ok(0)) {
            hung_up += 1;
        }
    }
    assert!(hung_up >= 100 - 32, "{hung_up} hung up on");
    drop(held);
    common::wait_for(|| threads() <= before + 2, "the client threads gone");
}
