//! Behind tpm2-abrmd (the user-space resource manager, `--tcti tabrmd:`): it keeps each
//! client's sessions apart, so the key store keeps a satisfied PIN session there for the
//! signature that follows — and another client of the same broker cannot use it (issue 20,
//! E1/E2; docs/THREAT-MODEL.md "TPM paths"). A private D-Bus session bus and broker per test,
//! in front of a swtpm on TCP; a counting proxy between the broker and swtpm shows that the
//! session really waited (the Sign needed no second PolicySecret).
#![allow(clippy::unwrap_used)]
mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::attacker::{rc_text, sign_params, Attacker, CC_SIGN};
use tpm_passkey_core::{KeyStore, TpmPath};
use tpm_passkey_tpm::command_count::CommandCounter;
use tpm_passkey_tpm::{PinHash, Swtpm, TctiChoice, TctiSource, TpmKeyStore};

/// A D-Bus session bus and tpm2-abrmd on it, for this test process only.
struct Broker {
    bus: Child,
    abrmd: Child,
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.abrmd.kill();
        let _ = self.abrmd.wait();
        let _ = self.bus.kill();
        let _ = self.bus.wait();
    }
}

fn broker(tpm: &TctiChoice) -> Broker {
    let mut bus = Command::new("dbus-daemon")
        .args(["--session", "--print-address=1", "--nofork", "--nopidfile"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("dbus-daemon (apt install dbus)");
    let mut address = String::new();
    BufReader::new(bus.stdout.take().unwrap())
        .read_line(&mut address)
        .unwrap();
    // This test process, and the broker and clients it starts, use this bus.
    std::env::set_var("DBUS_SESSION_BUS_ADDRESS", address.trim());
    let abrmd = Command::new("tpm2-abrmd")
        .args([
            "--session",
            "--allow-root",
            "--flush-all",
            "--logger=stdout",
        ])
        .arg(format!("--tcti={}", tpm.as_str()))
        .stdout(Stdio::null())
        .spawn()
        .expect("tpm2-abrmd (apt install tpm2-abrmd libtss2-tcti-tabrmd0)");
    let b = Broker { bus, abrmd };
    let until = Instant::now() + Duration::from_secs(10);
    while tss_esapi::Context::new(tabrmd().name_conf().unwrap()).is_err() {
        assert!(Instant::now() < until, "tpm2-abrmd did not come up");
        std::thread::sleep(Duration::from_millis(50));
    }
    b
}

fn tabrmd() -> TctiChoice {
    TctiChoice::parse("tabrmd:bus_type=session", TctiSource::Explicit).unwrap()
}

#[test]
fn behind_tabrmd_a_waiting_session_is_kept_and_no_other_client_can_use_it() {
    let dir = tempfile::tempdir().unwrap();
    let swtpm = Swtpm::start(&dir.path().join("tpm")).unwrap();
    let counter = CommandCounter::start(swtpm.port()).unwrap();
    let _broker = broker(&counter.tcti());
    assert_eq!(tabrmd().path(), TpmPath::AccessBroker);

    let mut keys = TpmKeyStore::open(&tabrmd(), None, None).unwrap();
    let pin = PinHash::from_pin("4711");
    keys.set_pin(&pin).unwrap();
    let key = keys.create_key(true).unwrap();
    // getPinUvAuthTokenUsingUv's check: the satisfied session now waits for its signature.
    keys.verify_pin(&pin).unwrap();

    // Another client of the same broker names every session handle there could be, in
    // the Sign of a key of its own, and in a raw command (ESYS cannot name a session it did
    // not start).
    let mut a = Attacker::connect(tabrmd().as_str(), None);
    let own_key = a.own_signing_key();
    let kh = a.tpm_handle(own_key);
    let mut refused = 0;
    for slot in 0..16u32 {
        for session in [0x0200_0000 | slot, 0x0300_0000 | slot] {
            let rc = a.raw_with_session(CC_SIGN, &[kh], session, &sign_params(&[9; 32]));
            assert_ne!(rc, 0, "session {session:#x} of another client signed");
            refused += 1;
        }
    }
    // Control: its own session, in the same raw command, is evaluated by the TPM — a policy
    // failure (it is not satisfied), not an unknown session.
    let own = a.policy_session();
    let own = a.tpm_handle(tss_esapi::handles::SessionHandle::from(own));
    let rc = a.raw_with_session(CC_SIGN, &[kh], own, &sign_params(&[9; 32]));
    assert_eq!(rc, 0x99D, "control: {}", rc_text(rc));
    drop(a);
    assert_eq!(refused, 32);

    // The session did wait, untouched: the signature needs no second proof of the PIN.
    counter.take();
    let digest = [3u8; 32];
    keys.sign(&key.blob, &digest, Some(&pin)).unwrap();
    let sign = counter.take();
    assert_eq!(sign.get("PolicySecret"), None, "{sign:?}");
    assert_eq!(sign.get("Sign"), Some(&1), "{sign:?}");
}
