//! The daemon's own figures (docs/PERFORMANCE.md), with the release binary on one swtpm:
//! cold start to ready on an existing store, against the raw floor of what a start must ask
//! of the TPM (CreatePrimary of the root, timed through tss-esapi on the same swtpm); idle
//! RSS; idle wake-ups. Nothing is asserted about time (the wake-up count is asserted by the
//! `idle` test).
//!
//! `cargo bench -p tpm-passkey --bench daemon [-- --iterations N]`
#![allow(clippy::unwrap_used, clippy::print_stdout)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tpm_passkey_tpm::Swtpm;
use tss_esapi::{
    attributes::ObjectAttributesBuilder,
    interface_types::{
        algorithm::{HashingAlgorithm, PublicAlgorithm},
        ecc::EccCurve,
        resource_handles::Hierarchy,
        session_handles::AuthSession,
    },
    structures::{EccPoint, PublicBuilder, PublicEccParametersBuilder, SymmetricDefinitionObject},
    Context,
};

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// CreatePrimary of a restricted P-256 storage key in the owner hierarchy, then flush.
fn raw_create_primary(tcti: &str, n: usize) -> Duration {
    let mut ctx = Context::new(tcti.parse().unwrap()).unwrap();
    let attrs = ObjectAttributesBuilder::new()
        .with_fixed_tpm(true)
        .with_fixed_parent(true)
        .with_sensitive_data_origin(true)
        .with_user_with_auth(true)
        .with_no_da(true)
        .with_restricted(true)
        .with_decrypt(true)
        .build()
        .unwrap();
    let samples = (0..n)
        .map(|i| {
            let public = PublicBuilder::new()
                .with_public_algorithm(PublicAlgorithm::Ecc)
                .with_name_hashing_algorithm(HashingAlgorithm::Sha256)
                .with_object_attributes(attrs)
                .with_ecc_parameters(
                    PublicEccParametersBuilder::new_restricted_decryption_key(
                        SymmetricDefinitionObject::AES_128_CFB,
                        EccCurve::NistP256,
                    )
                    .build()
                    .unwrap(),
                )
                // A different unique each time, as each install's seed differs.
                .with_ecc_unique_identifier(EccPoint::new(
                    vec![u8::try_from(i % 250).unwrap(); 32].try_into().unwrap(),
                    Default::default(),
                ))
                .build()
                .unwrap();
            let t = Instant::now();
            let h = ctx
                .execute_with_session(Some(AuthSession::Password), |c| {
                    c.create_primary(Hierarchy::Owner, public, None, None, None, None)
                })
                .unwrap()
                .key_handle;
            let d = t.elapsed();
            ctx.flush_context(h.into()).unwrap();
            d
        })
        .collect();
    median(samples)
}

fn spawn(tcti: &str, dir: &Path) -> (Child, Duration) {
    let t = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_tpm-passkey"))
        .args(["daemon", "--tcti", tcti, "--state-dir"])
        .arg(dir.join("state"))
        .arg("--hid")
        .arg(format!("socket:{}", dir.join("hid.sock").display()))
        .arg("--control")
        .arg(dir.join("control.sock"))
        .env("TPM_PASSKEY_LOG", "warn")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    loop {
        match lines.next() {
            Some(Ok(l)) if l.contains("tpm-passkey: ready") => break,
            Some(_) => {}
            None => panic!("the daemon ended before it was ready"),
        }
    }
    let ready = t.elapsed();
    std::thread::spawn(move || lines.for_each(drop));
    (child, ready)
}

fn stop(mut child: Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
}

/// Context switches of all threads, RSS in kB, threads.
fn sample(pid: u32) -> (u64, u64, usize) {
    let mut switches = 0;
    let mut threads = 0;
    for task in std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .flatten()
    {
        if let Ok(s) = std::fs::read_to_string(task.path().join("status")) {
            threads += 1;
            switches += s
                .lines()
                .filter(|l| l.contains("ctxt_switches:"))
                .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
                .sum::<u64>();
        }
    }
    let rss = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        .unwrap();
    (switches, rss, threads)
}

fn main() {
    let n = tpm_passkey_testkit::iterations_arg(15);
    let dir = tempfile::tempdir().unwrap();
    let swtpm = Swtpm::start(&dir.path().join("tpm")).unwrap();
    let tcti = swtpm.tcti().as_str().to_owned();
    let raw_before = raw_create_primary(&tcti, n);

    // The first start makes the store; the cold starts below open it.
    let (child, first) = spawn(&tcti, dir.path());
    stop(child);
    let mut starts = Vec::new();
    for _ in 0..n {
        let (child, ready) = spawn(&tcti, dir.path());
        starts.push(ready);
        stop(child);
    }
    let cold = median(starts);

    let (child, _) = spawn(&tcti, dir.path());
    let pid = child.id();
    let status = Command::new(env!("CARGO_BIN_EXE_tpm-passkey"))
        .arg("status")
        .arg("--control")
        .arg(dir.path().join("control.sock"))
        .output()
        .unwrap();
    assert!(status.status.success(), "{status:?}");
    std::thread::sleep(Duration::from_secs(1));
    let (s0, _, threads) = sample(pid);
    std::thread::sleep(Duration::from_secs(5));
    let (s1, rss, _) = sample(pid);
    stop(child);
    let raw_after = raw_create_primary(&tcti, n);
    let raw = raw_before.min(raw_after);

    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let build = if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    };
    println!("tpm-passkey daemon ({build}) on swtpm, median of {n}");
    println!(
        "{:<52} {:>8.3} ms   (runs before/after: {:.3} / {:.3})",
        "R_start raw CreatePrimary (P-256 root) + Flush",
        ms(raw),
        ms(raw_before),
        ms(raw_after)
    );
    println!(
        "{:<52} {:>8.3} ms   {:.2} x R_start   (first start, new store: {:.1} ms)",
        "cold start to ready, existing store",
        ms(cold),
        ms(cold) / ms(raw),
        ms(first)
    );
    println!("{:<52} {:>8} kB", "idle RSS after a request", rss);
    println!(
        "{:<52} {:>8.2} /s   ({} context switches in 5 s, {threads} threads)",
        "idle wake-ups",
        (s1 - s0) as f64 / 5.0,
        s1 - s0
    );
}
