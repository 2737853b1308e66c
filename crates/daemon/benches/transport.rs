//! What a client waits for, end to end (issue 22): CTAPHID to the daemon through a
//! transport, the approval agent answering at once, each figure against the raw TPM floors
//! (R_up, R_pin; `crates/tpm/benches/floors.rs`) measured in the same run:
//!
//! * by default this bench starts the daemon (`--simulator`: the private simulator a user
//!   without a chip gets) on the **socket transport**, and measures the floors on an
//!   identical swtpm it starts beside it;
//! * with `--hidraw DEV --tcti STRING` it drives a daemon that is already running, through a
//!   **hidraw node** (the uhid transport: the kernel's HID path), its agent approving with the
//!   PIN set, and measures the floors on the TPM `STRING` names — in the qemu TPM guest,
//!   `device:/dev/tpmrm0`, the daemon's own TPM (tests/qemu/libfido2-sequence.sh).
//!
//! Nothing is asserted about time; a test asserts the transport's wake-up
//! (`crates/hid/tests/wake.rs`). Registrations are spaced so that the daemon's idle work (a
//! registration's counter step) is not in the next one's time, as a person's pace spaces
//! them.
//!
//! `cargo bench -p tpm-passkey --features scripted-agent --bench transport [-- --iterations N]`
#![allow(clippy::unwrap_used, clippy::print_stdout)]

#[path = "../../tpm/benches/floors.rs"]
mod floors;
#[path = "../../tpm/benches/platform.rs"]
mod platform;

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use floors::{median, raw_floors, Floors};
use platform::*;
use socket2::{Domain, SockAddr, Socket, Type};
use tpm_passkey_tpm::{Swtpm, TctiChoice};
use tpm_passkey_wire::ctaphid::{cmd, fragment, Packet, BROADCAST_CID, REPORT_LEN};

/// One HID device as a client sees it: 64-byte reports in and out.
trait Reports {
    fn send(&mut self, report: &[u8; REPORT_LEN]);
    fn recv(&mut self) -> [u8; REPORT_LEN];
}

/// The socket transport: one SEQPACKET datagram per report.
struct SocketDevice(Socket);

impl Reports for SocketDevice {
    fn send(&mut self, report: &[u8; REPORT_LEN]) {
        self.0.write_all(report).unwrap();
    }
    fn recv(&mut self) -> [u8; REPORT_LEN] {
        let mut b = [0u8; REPORT_LEN];
        assert_eq!(self.0.read(&mut b).unwrap(), REPORT_LEN);
        b
    }
}

/// A hidraw node: writes carry the report id (0) first, reads return the report.
struct Hidraw(File);

impl Reports for Hidraw {
    fn send(&mut self, report: &[u8; REPORT_LEN]) {
        let mut out = [0u8; REPORT_LEN + 1];
        out[1..].copy_from_slice(report);
        self.0.write_all(&out).unwrap();
    }
    fn recv(&mut self) -> [u8; REPORT_LEN] {
        let mut b = [0u8; REPORT_LEN];
        assert_eq!(self.0.read(&mut b).unwrap(), REPORT_LEN);
        b
    }
}

/// A CTAPHID channel on a device (CTAP 2.1 §11.2): INIT once, then messages.
struct Channel<D: Reports> {
    device: D,
    cid: u32,
    /// Time spent waiting for the device since the last [`Channel::take_waited`]: what the
    /// authenticator costs, without the client's own ECDH, HKDF and AES in between.
    waited: Duration,
}

impl<D: Reports> Channel<D> {
    fn open(mut device: D) -> Self {
        let nonce = [7u8; 8];
        device.send(&fragment(BROADCAST_CID, cmd::INIT, &nonce)[0]);
        loop {
            let r = device.recv();
            if let Some(Packet::Init { cmd: c, data, .. }) = Packet::parse(&r) {
                if c == cmd::INIT && data[..8] == nonce {
                    let cid = u32::from_be_bytes(data[8..12].try_into().unwrap());
                    return Channel {
                        device,
                        cid,
                        waited: Duration::ZERO,
                    };
                }
            }
        }
    }

    /// Sends `payload` as `command` and returns the answer's payload (keepalives skipped).
    fn call(&mut self, command: u8, payload: &[u8]) -> Vec<u8> {
        let start = Instant::now();
        let out = self.exchange(command, payload);
        self.waited += start.elapsed();
        out
    }

    fn take_waited(&mut self) -> Duration {
        std::mem::take(&mut self.waited)
    }

    fn exchange(&mut self, command: u8, payload: &[u8]) -> Vec<u8> {
        for r in fragment(self.cid, command, payload) {
            self.device.send(&r);
        }
        let (len, mut out) = loop {
            let r = self.device.recv();
            match Packet::parse(&r) {
                Some(Packet::Init { cid, .. }) if cid != self.cid => continue,
                Some(Packet::Init { cmd: c, .. }) if c == cmd::KEEPALIVE => continue,
                Some(Packet::Init {
                    cmd: c, len, data, ..
                }) => {
                    assert_eq!(
                        c, command,
                        "CTAPHID answered command 0x{c:02x}: {data:02x?}"
                    );
                    let n = usize::from(len).min(data.len());
                    break (usize::from(len), data[..n].to_vec());
                }
                _ => continue,
            }
        };
        while out.len() < len {
            let r = self.device.recv();
            if let Some(Packet::Cont { cid, data, .. }) = Packet::parse(&r) {
                if cid == self.cid {
                    let n = (len - out.len()).min(data.len());
                    out.extend_from_slice(&data[..n]);
                }
            }
        }
        out
    }
}

impl<D: Reports> Ctap for Channel<D> {
    fn process(&mut self, request: &[u8]) -> Vec<u8> {
        self.call(cmd::CBOR, request)
    }
}

/// A daemon this bench started, with its approval agent; both stop with it.
struct Daemon {
    dir: tempfile::TempDir,
    daemon: Child,
    agent: Child,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.agent.kill();
        let _ = self.daemon.kill();
        let _ = self.agent.wait();
        let _ = self.daemon.wait();
    }
}

const BIN: &str = env!("CARGO_BIN_EXE_tpm-passkey");

impl Daemon {
    /// The daemon on its private simulator and the socket transport, a PIN set, and the
    /// scripted agent approving with it.
    fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let control = dir.path().join("control.sock");
        let mut daemon = Command::new(BIN)
            .arg("daemon")
            .arg("--simulator")
            .arg("--state-dir")
            .arg(dir.path().join("state"))
            .arg("--control")
            .arg(&control)
            .arg("--hid")
            .arg(format!("socket:{}", dir.path().join("hid.sock").display()))
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(daemon.stderr.take().unwrap()).lines();
        let deadline = Instant::now() + Duration::from_secs(60);
        while !lines
            .next()
            .and_then(Result::ok)
            .is_some_and(|l| l.contains("tpm-passkey: ready"))
        {
            assert!(Instant::now() < deadline, "the daemon did not get ready");
        }
        // The rest of its log is drained, so that it never blocks on a full pipe.
        std::thread::spawn(move || lines.for_each(drop));
        let pin = dir.path().join("pin");
        std::fs::write(&pin, format!("{PIN}\n")).unwrap();
        let set = Command::new(BIN)
            .args(["pin", "set", "--new-pin-file"])
            .arg(&pin)
            .arg("--control")
            .arg(&control)
            .output()
            .unwrap();
        assert!(set.status.success(), "{set:?}");
        let agent = Command::new(BIN)
            .args(["agent", "--approve-all", "--pin-file"])
            .arg(&pin)
            .arg("--control")
            .arg(&control)
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        // Registered once the status names it.
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let status = Command::new(BIN)
                .args(["status", "--json", "--control"])
                .arg(&control)
                .output()
                .unwrap();
            let v: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap_or_default();
            if v["agent"] == true {
                break;
            }
            assert!(Instant::now() < deadline, "the agent did not register");
            std::thread::sleep(Duration::from_millis(50));
        }
        Daemon { dir, daemon, agent }
    }

    fn hid(&self) -> PathBuf {
        self.dir.path().join("hid.sock")
    }
}

fn socket_device(path: &Path) -> SocketDevice {
    let s = Socket::new(Domain::UNIX, Type::SEQPACKET, None).unwrap();
    s.connect(&SockAddr::unix(path).unwrap()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    SocketDevice(s)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn timed(f: &mut dyn FnMut()) -> Duration {
    let t = Instant::now();
    f();
    t.elapsed()
}

/// A figure: its name, its median, the floor it is compared with (None: no TPM work).
type Figure = (&'static str, Duration, Option<&'static str>);

/// Every figure through `ch`, `n` times each.
fn figures<D: Reports>(ch: &mut Channel<D>, n: usize) -> Vec<Figure> {
    let mut out: Vec<Figure> = Vec::new();
    let small = [0x5a; 8];
    out.push((
        "CTAPHID PING, 8 bytes",
        median(n, || timed(&mut || drop(ch.call(cmd::PING, &small)))),
        None,
    ));
    let large = vec![0x5a; 1024];
    out.push((
        "CTAPHID PING, 1 KB",
        median(n, || timed(&mut || drop(ch.call(cmd::PING, &large)))),
        None,
    ));
    out.push((
        "getInfo (no TPM work)",
        median(n, || timed(&mut || drop(ok(ch, &[0x04])))),
        None,
    ));
    // A passkey to sign in with.
    let shared = agree(ch);
    let token = token_using_uv(ch, &shared, "bench.example");
    let id = credential_id(&ok(
        ch,
        &make_credential("bench.example", b"transport", true, false, Some(&token)),
    ));
    out.push((
        "getPinUvAuthTokenUsingUv (built-in UV)",
        median(n, || {
            let shared = agree(ch);
            timed(&mut || drop(token_using_uv(ch, &shared, "bench.example")))
        }),
        Some("R_pin"),
    ));
    out.push((
        "getAssertion with a pinUvAuthToken in hand",
        median(n, || {
            let shared = agree(ch);
            let token = token_using_uv(ch, &shared, "bench.example");
            let request = get_assertion(
                "bench.example",
                std::slice::from_ref(&id),
                false,
                Some(&token),
            );
            timed(&mut || drop(ok(ch, &request)))
        }),
        Some("R_pin"),
    ));
    // The whole sign-in as a browser makes it, and the part of it spent waiting for the
    // authenticator (the three round trips; the client's own ECDH, HKDF and AES between
    // them are what any authenticator would cost it too).
    let mut waited = Vec::new();
    out.push((
        "whole UV sign-in (key agreement + token + assertion)",
        median(n, || {
            ch.take_waited();
            let t = timed(&mut || {
                let shared = agree(ch);
                let token = token_using_uv(ch, &shared, "bench.example");
                ok(
                    ch,
                    &get_assertion(
                        "bench.example",
                        std::slice::from_ref(&id),
                        false,
                        Some(&token),
                    ),
                );
            });
            waited.push(ch.take_waited());
            t
        }),
        Some("R_pin"),
    ));
    waited.sort();
    out.push((
        "  of which waiting for the authenticator (3 round trips)",
        waited[waited.len() / 2],
        Some("R_pin"),
    ));
    let mut user = 0u32;
    out.push((
        "makeCredential with a token (discoverable, sealed)",
        median(n, || {
            let shared = agree(ch);
            let token = token_using_uv(ch, &shared, "bench.example");
            user += 1;
            let request = make_credential(
                "bench.example",
                &user.to_be_bytes(),
                true,
                false,
                Some(&token),
            );
            // The last registration's counter step is done once the daemon is idle (300 ms).
            std::thread::sleep(Duration::from_millis(500));
            timed(&mut || drop(ok(ch, &request)))
        }),
        Some("R_pin"),
    ));
    out
}

fn print(title: &str, before: Floors, after: Floors, figures: &[Figure]) {
    println!("{title}");
    let floors = Floors::print(before, after);
    for (name, time, floor) in figures {
        let ratio = floor.map(|f| floors.ratio(*time, f)).unwrap_or_default();
        println!("{name:<58} {:>8.3}   {ratio}", ms(*time));
    }
}

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn main() {
    let n = tpm_passkey_testkit::iterations_arg(30);
    if let Some(dev) = arg("--hidraw") {
        let tcti = TctiChoice::resolve(Some(&arg("--tcti").expect("--tcti with --hidraw")))
            .unwrap()
            .unwrap();
        let before = raw_floors(&tcti, n, &timed);
        let device = Hidraw(File::options().read(true).write(true).open(&dev).unwrap());
        let figures = figures(&mut Channel::open(device), n);
        let after = raw_floors(&tcti, n, &timed);
        print(
            &format!(
                "tpm-passkey through hidraw {dev} (the uhid transport), the daemon on {} ({}); floors there; median of {n} (ms)",
                tcti.as_str(),
                tcti.path().explain()
            ),
            before,
            after,
            &figures,
        );
        return;
    }
    let floor_dir = tempfile::tempdir().unwrap();
    let floor_tpm = Swtpm::start_private(floor_dir.path()).unwrap();
    let daemon = Daemon::start();
    let before = raw_floors(&floor_tpm.tcti(), n, &timed);
    let figures = figures(&mut Channel::open(socket_device(&daemon.hid())), n);
    let after = raw_floors(&floor_tpm.tcti(), n, &timed);
    print(
        &format!(
            "tpm-passkey through the socket transport, the daemon on its private simulator; floors on an identical private simulator ({}); median of {n} (ms)",
            floor_tpm.tcti().path().explain()
        ),
        before,
        after,
        &figures,
    );
}
