//! A request whose caller is gone ends (issue 23): `pam enroll` (a PIN prompt, then a
//! PIN-bound credential) whose CLI is killed while its prompt waits has the prompt closed
//! as cancelled within a second or two, and stores nothing — even if the agent approves
//! afterwards. (It used to wait out the prompt, and store a credential the CLI had reported
//! as failed.)
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Agent, Daemon, PIN};

#[test]
fn a_request_whose_caller_hangs_up_is_cancelled_and_stores_nothing() {
    let d = Daemon::start_with_timeout(Agent::None, 60);
    let pin = d.dir.path().join("pin");
    d.ok(&["pin", "set", "--new-pin-file", pin.to_str().unwrap()]);
    // An agent that reads prompts and answers only when told.
    let mut agent = UnixStream::connect(d.control()).unwrap();
    agent
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut lines = BufReader::new(agent.try_clone().unwrap());
    let mut next = || {
        let mut l = String::new();
        lines.read_line(&mut l).unwrap();
        serde_json::from_str::<serde_json::Value>(&l).unwrap()
    };
    agent
        .write_all(b"{\"type\":\"hello\",\"protocol\":2}\n{\"type\":\"register_agent\",\"kind\":\"terminal\",\"take_over\":null}\n")
        .unwrap();
    assert_eq!(next()["type"], "hello");
    assert_eq!(next()["type"], "ok");

    let authfile = d.dir.path().join("u2f_keys");
    let mut cli = Command::new(env!("CARGO_BIN_EXE_tpm-passkey"))
        .args([
            "pam",
            "enroll",
            "--user",
            "nobody",
            "--origin",
            "pam://abandoned",
        ])
        .arg("--authfile")
        .arg(&authfile)
        .arg("--control")
        .arg(d.control())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let prompt = next();
    assert_eq!(prompt["type"], "prompt", "{prompt}");
    let id = prompt["id"].as_u64().unwrap();
    cli.kill().unwrap();
    cli.wait().unwrap();
    let t = Instant::now();
    let closed = next();
    assert_eq!(closed["type"], "prompt_closed", "{closed}");
    assert_eq!(closed["id"], id);
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    // A late approval changes nothing.
    agent
        .write_all(
            format!("{{\"type\":\"answer\",\"id\":{id},\"approve\":true,\"pin\":\"{PIN}\"}}\n")
                .as_bytes(),
        )
        .unwrap();
    let refused = next();
    assert_eq!(refused["type"], "error", "{refused}");
    let list: serde_json::Value = serde_json::from_str(&d.ok(&["list", "--json"])).unwrap();
    assert!(
        !list.to_string().contains("pam://abandoned"),
        "stored after its caller was gone: {list}"
    );
    assert!(!authfile.exists());
}
