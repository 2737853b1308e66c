//! A running daemon for end-to-end tests: its own state dir, its own embedded swtpm (own
//! port and state), a HID socket, a control socket, and a scripted agent.
#![allow(dead_code, clippy::unwrap_used)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const PIN: &str = "4711";

pub struct Daemon {
    pub dir: tempfile::TempDir,
    daemon: Option<Child>,
    agent: Option<Child>,
    prompt_timeout_secs: u64,
    extra_args: Vec<String>,
    /// `--tcti` of a TPM the test runs itself (it then outlives the daemon), else the
    /// embedded simulator.
    tcti: Option<String>,
    /// TPM_PASSKEY_LOG for the daemon.
    log_level: String,
}

pub enum Agent {
    ApproveAll,
    /// Approves everything but types no PIN.
    ApproveWithoutPin,
    DenyAll,
    /// Approves everything with the PIN and, when a prompt lists accounts, chooses the Nth.
    ApproveChoosing(u32),
    None,
}

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_tpm-passkey")
}

impl Daemon {
    pub fn start(agent: Agent) -> Self {
        Self::start_with_timeout(agent, 10)
    }

    /// With `--prompt-timeout-secs secs`.
    pub fn start_with_timeout(agent: Agent, secs: u64) -> Self {
        Self::launch(agent, secs, &[])
    }

    /// With extra `daemon` arguments and no agent.
    pub fn start_with_args(args: &[&str]) -> Self {
        Self::launch(Agent::None, 10, args)
    }

    /// On a TPM the test started (`swtpm:…`), which survives the daemon being killed.
    pub fn start_on(tcti: &str, agent: Agent) -> Self {
        Self::launch_on(agent, 10, &[], Some(tcti.to_owned()))
    }

    /// [`Daemon::start_on`] with extra `daemon` arguments.
    pub fn start_on_with(tcti: &str, agent: Agent, extra: &[&str]) -> Self {
        Self::launch_on(agent, 10, extra, Some(tcti.to_owned()))
    }

    /// With the daemon logging at `level` (e.g. "trace"); no agent yet.
    pub fn start_logging(level: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("pin"), format!("{PIN}\n")).unwrap();
        let mut d = Daemon {
            dir,
            daemon: None,
            agent: None,
            prompt_timeout_secs: 10,
            extra_args: Vec::new(),
            tcti: None,
            log_level: level.into(),
        };
        d.spawn_daemon();
        d
    }

    fn launch(agent: Agent, secs: u64, extra: &[&str]) -> Self {
        Self::launch_on(agent, secs, extra, None)
    }

    fn launch_on(agent: Agent, secs: u64, extra: &[&str], tcti: Option<String>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("pin"), format!("{PIN}\n")).unwrap();
        let mut d = Daemon {
            dir,
            daemon: None,
            agent: None,
            prompt_timeout_secs: secs,
            extra_args: extra.iter().map(|a| a.to_string()).collect(),
            tcti,
            log_level: "info".into(),
        };
        d.spawn_daemon();
        d.spawn_agent(agent);
        d
    }

    /// Starts the daemon (and an agent) again on the same state, after [`Daemon::stop`].
    pub fn restart(&mut self, agent: Agent) {
        self.spawn_daemon();
        self.spawn_agent(agent);
    }

    pub fn state(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    pub fn hid(&self) -> PathBuf {
        self.dir.path().join("hid.sock")
    }

    pub fn control(&self) -> PathBuf {
        self.dir.path().join("control.sock")
    }

    /// The daemon's command line, as [`Daemon::restart`] runs it, plus `extra`: for a start
    /// that is expected to fail.
    pub fn daemon_command(&self, extra: &[&str]) -> Command {
        let mut cmd = Command::new(bin());
        cmd.arg("daemon");
        match &self.tcti {
            Some(t) => cmd.args(["--tcti", t]),
            None => cmd.arg("--simulator"),
        };
        cmd.arg("--prompt-timeout-secs")
            .arg(self.prompt_timeout_secs.to_string())
            .arg("--state-dir")
            .arg(self.state())
            .arg("--hid")
            .arg(format!("socket:{}", self.hid().display()))
            .arg("--control")
            .arg(self.control())
            .args(&self.extra_args)
            .args(extra)
            .env("TPM_PASSKEY_LOG", &self.log_level);
        cmd
    }

    /// Extra daemon arguments for the next [`Daemon::restart`].
    pub fn set_extra_args(&mut self, args: &[&str]) {
        self.extra_args = args.iter().map(|a| a.to_string()).collect();
    }

    fn spawn_daemon(&mut self) {
        let mut child = self
            .daemon_command(&[])
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Wait for "ready", keeping the rest of stderr flowing into a log file.
        let stderr = child.stderr.take().unwrap();
        let log_path = self.dir.path().join("daemon.log");
        let _ = std::fs::remove_file(&log_path);
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut log = std::fs::File::create(log_path).unwrap();
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                use std::io::Write;
                let _ = writeln!(log, "{line}");
                if line.contains("tpm-passkey: ready") {
                    let _ = tx.send(());
                }
            }
        });
        if rx.recv_timeout(Duration::from_secs(60)).is_err() {
            let _ = child.kill();
            panic!("daemon did not get ready:\n{}", self.log());
        }
        self.daemon = Some(child);
    }

    pub fn spawn_agent(&mut self, agent: Agent) {
        let (mode, pin, choose) = match agent {
            Agent::ApproveAll => ("--approve-all", true, None),
            Agent::ApproveWithoutPin => ("--approve-all", false, None),
            Agent::DenyAll => ("--deny-all", true, None),
            Agent::ApproveChoosing(n) => ("--approve-all", true, Some(n)),
            Agent::None => return,
        };
        let out = std::fs::File::create(self.dir.path().join("agent.jsonl")).unwrap();
        let mut cmd = Command::new(bin());
        cmd.args(["agent", mode]);
        if let Some(n) = choose {
            cmd.args(["--choose", &n.to_string()]);
        }
        if pin {
            cmd.arg("--pin-file").arg(self.dir.path().join("pin"));
        }
        let child = cmd
            .arg("--control")
            .arg(self.control())
            .stdout(out)
            .spawn()
            .unwrap();
        self.agent = Some(child);
        // Registered once the daemon logs it.
        wait_for(
            || self.log().contains("scripted approval agent registered"),
            "agent registration",
        );
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("daemon.log")).unwrap_or_default()
    }

    /// The prompts the agent saw, one JSON object each.
    pub fn prompts(&self) -> Vec<serde_json::Value> {
        self.agent_lines()
            .into_iter()
            .filter(|l| l.get("prompt").is_some())
            .collect()
    }

    /// Everything the agent printed, one JSON object per line.
    pub fn agent_lines(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(self.dir.path().join("agent.jsonl"))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// Kills the daemon with SIGKILL (no clean-up at all) and waits for it to be gone.
    pub fn kill(&mut self) {
        if let Some(mut a) = self.agent.take() {
            let _ = a.kill();
            let _ = a.wait();
        }
        if let Some(mut d) = self.daemon.take() {
            let _ = d.kill();
            let _ = d.wait();
        }
    }

    /// The daemon's pid, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.daemon.as_ref().map(Child::id)
    }

    /// Runs the CLI against this daemon.
    pub fn cli(&self, args: &[&str]) -> std::process::Output {
        Command::new(bin())
            .args(args)
            .arg("--control")
            .arg(self.control())
            .output()
            .unwrap()
    }

    /// Runs the CLI against this daemon; it must succeed. Its standard output.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.cli(args);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Stops the daemon with SIGTERM, as systemd does, waits for it, and checks that it
    /// exited cleanly.
    pub fn stop(&mut self) {
        if let Some(status) = self.terminate(Duration::from_secs(20)) {
            assert!(
                status.success(),
                "daemon exit status {status}:\n{}",
                self.log()
            );
        }
    }

    /// Kills the agent, sends the daemon SIGTERM and waits up to `patience` for it (then
    /// SIGKILL). The daemon's exit status, if it exited on its own.
    fn terminate(&mut self, patience: Duration) -> Option<std::process::ExitStatus> {
        if let Some(mut a) = self.agent.take() {
            let _ = a.kill();
            let _ = a.wait();
        }
        let mut d = self.daemon.take()?;
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(d.id().to_string())
            .status();
        let deadline = Instant::now() + patience;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = d.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = d.kill();
        let _ = d.wait();
        panic!("daemon ignored SIGTERM:\n{}", self.log());
    }

    /// Runs one scenario of tests/python/fido2_e2e.py (or another script) against us.
    pub fn python(&self, script: &str, scenario: &str) -> std::process::Output {
        self.python_with(Command::new("python3"), script, scenario)
    }

    /// The python client as a process named `name` (as /proc shows it: what the daemon
    /// knows of a requester) — the real interpreter run through a link of that name.
    pub fn python_named(
        &self,
        name: &str,
        script: &str,
        scenario: &str,
        env: &[(&str, &str)],
    ) -> std::process::Output {
        let real = Command::new("python3")
            .args(["-c", "import sys; print(sys.executable)"])
            .output()
            .unwrap();
        let link = self.dir.path().join(name);
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(String::from_utf8_lossy(&real.stdout).trim(), &link).unwrap();
        let mut cmd = Command::new(link);
        cmd.envs(env.iter().copied());
        self.python_with(cmd, script, scenario)
    }

    fn python_with(&self, mut cmd: Command, script: &str, scenario: &str) -> std::process::Output {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/python");
        cmd.arg(dir.join(script))
            .arg(scenario)
            .env("TPM_PASSKEY_HID", self.hid())
            .env("TPM_PASSKEY_PIN", PIN)
            .env("TPM_PASSKEY_OUT", self.dir.path().join("python.out"))
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .output()
            .unwrap()
    }

    pub fn assert_python(&self, script: &str, scenario: &str) {
        let out = self.python(script, scenario);
        assert!(
            out.status.success(),
            "{script} {scenario} failed\n--- stdout\n{}\n--- stderr\n{}\n--- daemon\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            self.log()
        );
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            self.terminate(Duration::from_secs(10));
        } else {
            // Already failing: no second panic, just make sure nothing is left running.
            for mut child in [self.agent.take(), self.daemon.take()]
                .into_iter()
                .flatten()
            {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}

pub fn wait_for(mut f: impl FnMut() -> bool, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if f() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("timed out waiting for {what}");
}

/// The processes whose parent is `pid` (any of its threads).
pub fn children(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    for t in std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .flatten()
    {
        let c = std::fs::read_to_string(t.path().join("children")).unwrap_or_default();
        out.extend(c.split_whitespace().filter_map(|p| p.parse::<u32>().ok()));
    }
    out
}

pub fn comm(pid: u32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .unwrap_or_default()
        .trim()
        .to_owned()
}
