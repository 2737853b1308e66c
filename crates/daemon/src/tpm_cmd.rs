//! `tpm-passkey tpm`: the TPM in use, its lockout state, and a self-test.
//!
//! While the daemon runs it owns the TPM (the embedded swtpm takes one client at a time), so
//! without `--tcti`/`--simulator` the command asks the daemon over the control socket and
//! skips the self-test; otherwise it opens the TPM itself.

use std::time::Instant;

use clap::Args;
use p256::ecdsa::signature::hazmat::PrehashVerifier;
use serde::Serialize;
use sha2::{Digest, Sha256};
use tpm_passkey_tpm::{KeyAuth, RootSeed, Tpm};

use crate::tpm_choice::{TpmSelect, SIMULATED_WARNING};
use tpm_passkey_core::ipc::{control_path, Client, ClientMessage, DaemonMessage};
use tpm_passkey_core::TpmPath;

#[derive(Debug, Args)]
pub struct TpmArgs {
    #[command(flatten)]
    select: TpmSelect,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
    /// Control socket of a running daemon [default: $XDG_RUNTIME_DIR/tpm-passkey/control.sock].
    #[arg(long)]
    control: Option<std::path::PathBuf>,
}

#[derive(Debug, Serialize)]
struct Report {
    tcti: String,
    /// Which way the TPM is reached, and so who else can reach it.
    path: TpmPath,
    simulated: bool,
    warning: Option<&'static str>,
    manufacturer: String,
    vendor: String,
    firmware: String,
    lockout: Lockout,
    /// None when the daemon owns the TPM.
    self_test: Option<SelfTest>,
}

#[derive(Debug, Serialize)]
struct Lockout {
    counter: u32,
    max_tries: u32,
    recovery_secs: u32,
    in_lockout: bool,
}

#[derive(Debug, Serialize)]
struct SelfTest {
    passed: bool,
    create_ms: f64,
    sign_ms: f64,
}

/// The daemon's view of its TPM, when a daemon answers and no TPM was named.
fn from_daemon(args: &TpmArgs) -> Option<Report> {
    if args.select.tcti.is_some() || args.select.simulator {
        return None;
    }
    let path = control_path(args.control.as_deref()).ok()?;
    let mut client = Client::connect(&path, Some(std::time::Duration::from_secs(10))).ok()?;
    let Ok(DaemonMessage::TpmInfo(t)) = client.call(&ClientMessage::TpmInfo) else {
        return None;
    };
    Some(Report {
        tcti: t.tcti,
        path: t.path,
        simulated: t.simulated,
        warning: t.simulated.then_some(SIMULATED_WARNING),
        manufacturer: t.manufacturer,
        vendor: t.vendor,
        firmware: t.firmware,
        lockout: Lockout {
            counter: t.lockout_counter,
            max_tries: t.lockout_max_tries,
            recovery_secs: t.lockout_recovery_secs,
            in_lockout: t.in_lockout,
        },
        self_test: None,
    })
}

fn output(report: &Report, json: bool) -> Result<(), Box<dyn std::error::Error>> {
    if json {
        println!("{}", serde_json::to_string_pretty(report)?);
    } else {
        print_text(report);
    }
    Ok(())
}

pub fn run(args: &TpmArgs) -> Result<(), Box<dyn std::error::Error>> {
    if let Some(report) = from_daemon(args) {
        return output(&report, args.json);
    }
    let chosen = args.select.choose(tpm_passkey_tpm::DEFAULT_DEADLINE)?;
    // The self-test's key hangs off a throw-away root: it leaves nothing behind.
    let mut tpm = Tpm::open(&chosen.tcti, &RootSeed::generate()?, None)?;
    let info = tpm.info()?;
    let da = tpm.da_state()?;
    let self_test = self_test(&mut tpm)?;
    let simulated = chosen.simulator.is_some() || info.simulated;
    let report = Report {
        tcti: chosen.tcti.as_str().to_owned(),
        path: chosen.tcti.path(),
        simulated,
        warning: simulated.then_some(SIMULATED_WARNING),
        manufacturer: info.manufacturer,
        vendor: info.vendor,
        firmware: info.firmware,
        lockout: Lockout {
            counter: da.counter,
            max_tries: da.max_tries,
            recovery_secs: da.recovery_secs,
            in_lockout: da.in_lockout,
        },
        self_test: Some(self_test),
    };
    output(&report, args.json)?;
    if report.self_test.as_ref().is_some_and(|t| !t.passed) {
        return Err("self-test failed: the TPM's signature did not verify".into());
    }
    Ok(())
}

fn self_test(tpm: &mut Tpm) -> Result<SelfTest, tpm_passkey_tpm::Error> {
    let t0 = Instant::now();
    let key = tpm.create_key(None)?;
    let t1 = Instant::now();
    let digest: [u8; 32] = Sha256::digest(b"tpm-passkey self-test").into();
    let sig = tpm.sign(&key.blob, &digest, KeyAuth::None)?;
    let t2 = Instant::now();
    Ok(SelfTest {
        passed: key.public.verify_prehash(&digest, &sig).is_ok(),
        create_ms: (t1 - t0).as_secs_f64() * 1e3,
        sign_ms: (t2 - t1).as_secs_f64() * 1e3,
    })
}

fn print_text(r: &Report) {
    if let Some(w) = r.warning {
        println!("WARNING: {w}");
    }
    let lockout = if r.lockout.in_lockout {
        "LOCKED OUT".to_owned()
    } else {
        format!("{}/{} failures", r.lockout.counter, r.lockout.max_tries)
    };
    let rows = [
        ("TPM", format!("{} {}", r.manufacturer, r.vendor)),
        ("firmware", r.firmware.clone()),
        ("path", r.path.explain().to_owned()),
        ("interface", r.tcti.clone()),
        (
            "lockout",
            format!(
                "{lockout}, one forgiven every {} s",
                r.lockout.recovery_secs
            ),
        ),
        (
            "self-test",
            match &r.self_test {
                Some(t) => format!(
                    "{} (create {:.1} ms, sign {:.1} ms)",
                    if t.passed { "passed" } else { "FAILED" },
                    t.create_ms,
                    t.sign_ms
                ),
                None => "not run: the daemon owns the TPM (stop it, or pass --tcti)".into(),
            },
        ),
    ];
    for (k, v) in rows {
        println!("{k:<10} {v}");
    }
}
