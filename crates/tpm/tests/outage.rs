//! TPM outages: a TPM that dies, hangs, or comes back cleared. The key store must fail at
//! once while the TPM is away (no prompt for what cannot be done, no request held), cut a
//! hung command at its deadline, use the TPM again as soon as it is back (same PIN, same
//! keys, no restart), and recognise a cleared TPM instead of listing keys that can never
//! work.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use tpm_passkey_core::{KeyError, KeyStore, PinProtection, TpmHealth};
use tpm_passkey_tpm::{PinHash, Swtpm, TpmKeyStore};
use tss_esapi::{
    handles::AuthHandle, interface_types::session_handles::AuthSession, tcti_ldr::TctiNameConf,
    Context,
};

const DEADLINE: Duration = Duration::from_millis(1500);

fn signal(pid: u32, sig: rustix::process::Signal) {
    let pid = rustix::process::Pid::from_raw(i32::try_from(pid).unwrap()).unwrap();
    rustix::process::kill_process(pid, sig).unwrap();
}

/// Until the key store's next reconnection attempt (the gap doubles after each failed one,
/// up to 4 s) brings the TPM back: `op` fails with Unreachable until then, and never takes
/// long to say so.
fn until_back<T>(mut op: impl FnMut() -> Result<T, KeyError>) -> T {
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        let t = Instant::now();
        match op() {
            Ok(v) => return v,
            Err(KeyError::Unreachable) if Instant::now() < until => {
                assert!(t.elapsed() < Duration::from_secs(1), "{:?}", t.elapsed());
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(e) => panic!("{e}"),
        }
    }
}

#[test]
fn a_dead_tpm_fails_at_once_and_the_returning_one_is_used_again() {
    let mut fx = common::Fixture::new();
    let (port, dir) = (fx.swtpm.port(), fx.swtpm.state_dir().to_owned());
    let pin = PinHash::from_pin("1234");
    let mut ks = TpmKeyStore::open_with_deadline(&fx.swtpm.tcti(), None, None, DEADLINE).unwrap();
    ks.set_pin(&pin).unwrap();
    let up = ks.create_key(false).unwrap();
    let bound = ks.create_key(true).unwrap();
    let d = common::digest(b"outage");

    // swtpm dies (its process is gone, the port closed).
    fx.swtpm = {
        let placeholder = Swtpm::start(&fx.dir.path().join("other")).unwrap();
        drop(std::mem::replace(&mut fx.swtpm, placeholder));
        Swtpm::start(&fx.dir.path().join("other2")).unwrap()
    };
    // A status probe sees it (swtpm's TCTI keeps no socket open to watch while idle).
    assert_eq!(ks.probe(), TpmHealth::Unreachable);
    for _ in 0..3 {
        let t = Instant::now();
        assert_eq!(
            ks.sign(&up.blob, &d, None).err(),
            Some(KeyError::Unreachable)
        );
        assert!(
            t.elapsed() < Duration::from_millis(500),
            "failed at once, not after {:?}",
            t.elapsed()
        );
        assert_eq!(ks.health(), TpmHealth::Unreachable);
        assert_eq!(ks.ensure_ready(), Err(KeyError::Unreachable));
    }

    // It comes back where it was, with its NV state (the PIN index).
    let back = Swtpm::start_at(&dir, port).unwrap();
    until_back(|| ks.sign(&up.blob, &d, None));
    assert_eq!(ks.health(), TpmHealth::Ready);
    ks.sign(&bound.blob, &d, Some(&pin))
        .expect("the PIN index was reopened");
    assert_eq!(ks.pin_retries().unwrap(), 8);
    assert_eq!(ks.pin_protection(), PinProtection::Anchored);
    assert_eq!(ks.deadlines_missed(), 0);
    drop(back);
}

#[test]
fn a_hung_tpm_is_cut_at_the_deadline_and_used_again_when_it_answers() {
    let fx = common::Fixture::new();
    let mut ks = TpmKeyStore::open_with_deadline(&fx.swtpm.tcti(), None, None, DEADLINE).unwrap();
    let up = ks.create_key(false).unwrap();
    let d = common::digest(b"hang");

    signal(fx.swtpm.pid(), rustix::process::Signal::STOP);
    let t = Instant::now();
    assert_eq!(
        ks.sign(&up.blob, &d, None).err(),
        Some(KeyError::Unreachable)
    );
    let took = t.elapsed();
    assert!(
        took >= DEADLINE && took < DEADLINE + Duration::from_secs(2),
        "cut at the deadline, took {took:?}"
    );
    assert_eq!(ks.deadlines_missed(), 1);
    // Meanwhile: at once.
    let t = Instant::now();
    assert_eq!(
        ks.sign(&up.blob, &d, None).err(),
        Some(KeyError::Unreachable)
    );
    assert!(t.elapsed() < Duration::from_millis(200));

    // Attempts while it is stopped cost at most the probe's bound.
    std::thread::sleep(Duration::from_millis(300));
    let t = Instant::now();
    assert_eq!(
        ks.sign(&up.blob, &d, None).err(),
        Some(KeyError::Unreachable)
    );
    assert!(
        t.elapsed() < Duration::from_millis(1200),
        "{:?}",
        t.elapsed()
    );

    signal(fx.swtpm.pid(), rustix::process::Signal::CONT);
    until_back(|| ks.sign(&up.blob, &d, None));
    assert_eq!(ks.health(), TpmHealth::Ready);
}

/// TPM2_Clear with the lockout authorization (empty on swtpm): what a user does in the
/// firmware menu, or what happens when the disk moves to another machine.
fn clear(fx: &common::Fixture) {
    let conf: TctiNameConf = fx.swtpm.tcti().as_str().parse().unwrap();
    let mut ctx = Context::new(conf).unwrap();
    ctx.execute_with_session(Some(AuthSession::Password), |c| {
        c.clear(AuthHandle::Lockout)
    })
    .unwrap();
}

#[test]
fn a_cleared_tpm_is_recognised_and_only_its_dead_keys_are_unusable() {
    let fx = common::Fixture::new();
    let tcti = fx.swtpm.tcti();
    let pin = PinHash::from_pin("1234");
    let (up, bound, state) = {
        let mut ks = TpmKeyStore::open(&tcti, None, None).unwrap();
        ks.set_pin(&pin).unwrap();
        let up = ks.create_key(false).unwrap();
        let bound = ks.create_key(true).unwrap();
        assert!(ks.key_usable(&up.blob).unwrap());
        assert!(ks.key_usable(&bound.blob).unwrap());
        (up, bound, ks.state())
    };
    // Not cleared: reopening says nothing is wrong.
    {
        let ks = TpmKeyStore::open(&tcti, None, Some(&state)).unwrap();
        assert_eq!(ks.health(), TpmHealth::Ready);
    }

    clear(&fx);
    let mut ks = TpmKeyStore::open(&tcti, None, Some(&state)).unwrap();
    assert_eq!(ks.health(), TpmHealth::Replaced);
    assert_eq!(ks.pin_protection(), PinProtection::Lost);
    assert!(
        !ks.key_usable(&up.blob).unwrap(),
        "made under the old owner seed"
    );
    assert!(
        !ks.key_usable(&bound.blob).unwrap(),
        "its PIN index is gone"
    );
    let d = common::digest(b"after clear");
    assert!(ks.sign(&up.blob, &d, None).is_err());

    // A new PIN and a new key work; the old ones stay dead.
    ks.set_pin(&PinHash::from_pin("5678")).unwrap();
    let fresh = ks.create_key(true).unwrap();
    assert!(ks.key_usable(&fresh.blob).unwrap());
    assert!(
        !ks.key_usable(&bound.blob).unwrap(),
        "bound to the old index"
    );
    ks.accept_device();
    assert_eq!(ks.health(), TpmHealth::Ready);
    let reopened = TpmKeyStore::open(&tcti, None, Some(&ks.state())).unwrap();
    assert_eq!(
        reopened.health(),
        TpmHealth::Ready,
        "the new root is recorded"
    );
}

/// The private simulator (the daemon's embedded one) hung: its relay cuts the command at
/// the deadline and stops it; the key store then finds it gone, the reviver starts it again
/// on the same state, and the same PIN and keys work — no restart of the caller.
#[test]
fn a_hung_private_simulator_is_cut_at_the_deadline_and_started_again() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("tpm");
    let sim = std::sync::Arc::new(std::sync::Mutex::new(
        Swtpm::start_private_with_deadline(&state, DEADLINE).unwrap(),
    ));
    let tcti = sim.lock().unwrap().tcti();
    let mut keys = TpmKeyStore::open_with_deadline(&tcti, None, None, DEADLINE).unwrap();
    let s = sim.clone();
    keys.set_reviver(Box::new(move || s.lock().unwrap().revive().ok().flatten()));
    let pin = PinHash::from_pin("4711");
    keys.set_pin(&pin).unwrap();
    let made = keys.create_key(true).unwrap();
    let first = sim.lock().unwrap().pid();

    signal(first, rustix::process::Signal::STOP);
    let t = Instant::now();
    assert_eq!(keys.verify_pin(&pin), Err(KeyError::Unreachable));
    assert!(
        t.elapsed() < DEADLINE + Duration::from_secs(2),
        "{:?}",
        t.elapsed()
    );
    // The relay stopped the hung swtpm; the next attempts bring a new one up.
    let digest = [5u8; 32];
    until_back(|| keys.sign(&made.blob, &digest, Some(&pin)));
    assert_ne!(sim.lock().unwrap().pid(), first);
    assert_eq!(keys.pin_retries().unwrap(), 8);
}
