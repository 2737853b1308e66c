//! TPM faults that heal themselves (issue 23): a proxy between the key store and swtpm
//! drops, fails or stalls exactly the k-th TPM command — of a start, of a request, of a
//! reconnection — for every k; and a TPM reset and a TPM2_Clear under an idle key store.
//!
//! What must hold: a start either works or fails as "TPM unreachable", never with the
//! store refused as tampered (and the next start is fine); a request either works or fails
//! with 0xF0 (TPM unreachable) or, for a TPM that answered TPM_RC_FAILURE, that one request
//! fails — and the next ones are served, never CTAP1_ERR_OTHER for ever; a hang costs the
//! deadline, not more; a TPM reset while idle is healed by the request that finds it; a
//! cleared TPM shows as replaced.
#![allow(clippy::unwrap_used)]

mod common;
#[path = "../benches/platform.rs"]
mod platform;

use std::path::Path;
use std::time::{Duration, Instant};

use common::fault::{Fault, Mode};
use platform::*;
use tpm_passkey_core::{Engine, KeyStore, Store, StoreError, TpmHealth};
use tpm_passkey_tpm::{Swtpm, TctiChoice, TpmKeyStore};

const DEADLINE: Duration = Duration::from_millis(1500);
/// CTAP 2.1 §8.2: 0xF0 is ours, "TPM unreachable".
const TPM_UNREACHABLE: u8 = 0xF0;
const CTAP1_ERR_OTHER: u8 = 0x7F;

type E = Engine<TpmKeyStore, Approve>;

#[derive(Debug)]
enum Start {
    Ok(Box<E>),
    Unreachable,
    /// The TPM answered with an error of its own (TPM_RC_FAILURE): the start fails, saying
    /// so — but it is not a verdict on the store.
    TpmError(String),
}

/// A start as the daemon's: the store from disk, the key store from its saved state, the
/// engine (which checks the seal).
fn start(tcti: &TctiChoice, store: &Path) -> Start {
    let store = Store::open(store).unwrap();
    let state = E::saved_key_store_state(&store).unwrap();
    let keys = match TpmKeyStore::open_with_deadline(tcti, None, state.as_ref(), DEADLINE) {
        Ok(k) => k,
        Err(e) if e.is_unreachable() => return Start::Unreachable,
        Err(e) => return Start::TpmError(e.to_string()),
    };
    match E::new(keys, Approve, store) {
        Ok(e) => Start::Ok(Box::new(e)),
        Err(StoreError::TpmUnreachable) => Start::Unreachable,
        Err(e @ StoreError::SealKey(_)) => Start::TpmError(e.to_string()),
        Err(e) => panic!("the store was refused after a TPM fault: {e}"),
    }
}

/// A store on disk with a PIN, a discoverable PIN-bound passkey and its seal; returns its
/// credential id.
fn enrol(tcti: &TctiChoice, store: &Path) -> Vec<u8> {
    let Start::Ok(mut e) = start(tcti, store) else {
        panic!("no TPM")
    };
    e.set_pin_local(&tpm_passkey_core::ipc::Pin::new(PIN.into()))
        .unwrap();
    let shared = agree(&mut *e);
    let token = token_using_uv(&mut *e, &shared, "fault.example");
    credential_id(&ok(
        &mut *e,
        &make_credential("fault.example", b"f", true, false, Some(&token)),
    ))
}

/// A whole UV sign-in (token, then assertion); the first non-success status, if any.
fn sign_in(e: &mut E, id: &[u8]) -> Result<(), u8> {
    let shared = try_agree(e)?;
    let token = try_token_with(e, &shared, 0x02, "fault.example")?;
    let out = e.process(&get_assertion(
        "fault.example",
        std::slice::from_ref(&id.to_vec()),
        false,
        Some(&token),
    ));
    match out[0] {
        0 => Ok(()),
        s => Err(s),
    }
}

/// Sign-ins until one works, within a few seconds (the key store reconnects at most every
/// 4 s after repeated failures); none of those that fail may answer CTAP1_ERR_OTHER.
fn heals(e: &mut E, id: &[u8], what: &str) {
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        match sign_in(e, id) {
            Ok(()) => return,
            Err(s) => {
                assert_ne!(
                    s, CTAP1_ERR_OTHER,
                    "{what}: a later request failed with CTAP1_ERR_OTHER"
                );
                assert!(Instant::now() < until, "{what}: still failing ({s:#04x})");
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
}

fn setup() -> (tempfile::TempDir, Swtpm, Fault, Vec<u8>) {
    // The key store's own account of each fault, in the output of a failing test.
    let _ = tracing_subscriber::fmt()
        .with_test_writer()
        .with_env_filter("warn")
        .try_init();
    let dir = tempfile::tempdir().unwrap();
    let swtpm = Swtpm::start(&dir.path().join("tpm")).unwrap();
    let fault = Fault::new(swtpm.port());
    let id = enrol(&fault.tcti(), &dir.path().join("store.sqlite"));
    (dir, swtpm, fault, id)
}

#[test]
fn a_lost_or_failed_command_at_start_is_never_a_tampered_store() {
    let (dir, _swtpm, fault, id) = setup();
    let store = dir.path().join("store.sqlite");
    // How many commands a clean start sends.
    fault.count();
    let Start::Ok(e) = start(&fault.tcti(), &store) else {
        panic!()
    };
    drop(e);
    let n = fault.seen();
    assert!(n > 5, "{n}");
    for mode in [Mode::Drop, Mode::Fail] {
        for k in 1..=n {
            fault.arm(k, mode);
            match start(&fault.tcti(), &store) {
                Start::Ok(mut e) => {
                    fault.count();
                    heals(&mut e, &id, &format!("{mode:?} at start command {k}"))
                }
                Start::Unreachable => {}
                Start::TpmError(why) => assert_eq!(
                    mode,
                    Mode::Fail,
                    "a lost response at start command {k} read as a TPM error: {why}"
                ),
            }
            // Whatever happened, the next start is fine and serves.
            fault.count();
            let Start::Ok(mut e) = start(&fault.tcti(), &store) else {
                panic!("{mode:?} at start command {k}: the next start failed")
            };
            heals(&mut e, &id, &format!("after {mode:?} at start command {k}"));
        }
    }
}

#[test]
fn a_hung_command_at_start_costs_the_deadline_and_no_more() {
    let (dir, _swtpm, fault, _id) = setup();
    let store = dir.path().join("store.sqlite");
    fault.count();
    drop(start(&fault.tcti(), &store));
    let n = fault.seen();
    // Every third command (each costs a deadline).
    for k in (1..=n).step_by(3) {
        fault.arm(k, Mode::Stall(DEADLINE * 3));
        let t = Instant::now();
        let outcome = start(&fault.tcti(), &store);
        let took = t.elapsed();
        assert!(
            took < DEADLINE * 2 + Duration::from_millis(500),
            "a hang at start command {k} took {took:?}"
        );
        if let Start::Ok(e) = outcome {
            drop(e);
        }
        // Let the stalled answer drain before the next start.
        std::thread::sleep(DEADLINE * 2);
    }
}

#[test]
fn a_lost_or_failed_command_in_a_request_or_a_reconnection_heals() {
    let (dir, _swtpm, fault, id) = setup();
    let Start::Ok(mut e) = start(&fault.tcti(), &dir.path().join("store.sqlite")) else {
        panic!()
    };
    // A sign-in as they come once the PIN's retries are known (the first one also reads
    // them).
    sign_in(&mut e, &id).unwrap();
    fault.count();
    sign_in(&mut e, &id).unwrap();
    let n = fault.seen();
    let names = fault.names();
    for mode in [Mode::Drop, Mode::Fail] {
        for k in 1..=n {
            fault.arm(k, mode);
            if let Err(s) = sign_in(&mut e, &id) {
                assert!(
                    s == TPM_UNREACHABLE || mode == Mode::Fail,
                    "{mode:?} at request command {k}: {s:#04x}"
                );
            }
            assert!(
                fault.fired(),
                "{mode:?} at request command {k} did not happen"
            );
            fault.count();
            heals(
                &mut e,
                &id,
                &format!(
                    "{mode:?} at request command {k} ({})",
                    names[k as usize - 1]
                ),
            );
        }
    }
    // A lost response, then one lost during the reconnection that follows.
    for k in 1..=12 {
        fault.arm(1, Mode::Drop);
        let _ = sign_in(&mut e, &id);
        fault.arm(k, Mode::Drop);
        heals(&mut e, &id, &format!("drop at reconnection command {k}"));
    }
}

#[test]
fn a_tpm_reset_or_clear_while_idle_is_noticed_by_the_next_request() {
    let _ = tracing_subscriber::fmt()
        .with_test_writer()
        .with_env_filter("warn")
        .try_init();
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("tpm");
    let swtpm = Swtpm::start(&state).unwrap();
    let port = swtpm.port();
    let tcti = swtpm.tcti();
    let id = enrol(&tcti, &dir.path().join("store.sqlite"));
    let Start::Ok(mut e) = start(&tcti, &dir.path().join("store.sqlite")) else {
        panic!()
    };
    sign_in(&mut e, &id).unwrap();
    // A reset (swtpm restarted on its state: a reboot, for the TPM): the root, the kept
    // sessions are gone. The next request is served.
    drop(swtpm);
    let swtpm = Swtpm::start_at(&state, port).unwrap();
    sign_in(&mut e, &id).expect("the request after a reset");
    assert_eq!(e.keys_mut().probe(), TpmHealth::Ready);

    // A TPM2_Clear while idle (the owner hierarchy's seed changes: every key is dead): the
    // next request fails, but not for ever as "other", and status says replaced.
    let mut a = common::attacker::Attacker::connect(swtpm.tcti().as_str(), None);
    a.ctx
        .execute_with_session(
            Some(tss_esapi::interface_types::session_handles::AuthSession::Password),
            |c| c.clear(tss_esapi::handles::AuthHandle::Lockout),
        )
        .unwrap();
    drop(a);
    assert!(sign_in(&mut e, &id).is_err());
    assert_eq!(e.keys_mut().probe(), TpmHealth::Replaced);
    assert_eq!(e.keys_mut().health(), TpmHealth::Replaced);
}
