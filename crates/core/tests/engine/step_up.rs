//! Step-up by risk, with alwaysUv off: a request that does not ask for user verification
//! still gets the PIN prompt for a site never verified here, and for any site once the last
//! PIN proof is older than the set age or predates a restart. Played as a relying party that
//! asks for presence only.

use crate::harness::*;
use std::time::Duration;
use tpm_passkey_core::ipc::{Pin, StepUp};
use tpm_passkey_core::ManageError;

fn pin() -> Pin {
    Pin::new("2468".into())
}

/// alwaysUv off, PIN set and just proven (turning alwaysUv off needs it).
fn setup() -> TestEngine {
    let mut e = engine();
    e.set_pin_local(&pin()).unwrap();
    e.approver_mut().pin = Some("2468".into());
    e.set_settings_local(Some(false), None, Some(&pin()))
        .unwrap();
    e
}

/// A presence-only registration for `rp`; whether our prompt asked for the PIN, and
/// whether the authenticator data says the user was verified.
fn register_up(e: &mut TestEngine, rp: &str) -> (bool, bool) {
    let r = call(e, 0x01, Some(mc(rp, 1, false, vec![]))).unwrap();
    let (_, _, auth_data) = check_attestation(&r);
    let asked = e.approver_mut().seen.last().unwrap().pin_required;
    (asked, auth_data[32] & 0x04 != 0)
}

#[test]
fn a_new_site_gets_the_pin_once_then_presence_is_enough() {
    let mut e = setup();
    assert_eq!(
        register_up(&mut e, "new.example"),
        (true, true),
        "new site: PIN"
    );
    assert_eq!(
        register_up(&mut e, "new.example"),
        (false, false),
        "known and fresh"
    );
    assert_eq!(
        register_up(&mut e, "other.example"),
        (true, true),
        "another new site"
    );
}

#[test]
fn a_stale_or_missing_pin_proof_steps_up_every_site() {
    let mut e = setup();
    let clock = e.clock().clone();
    register_up(&mut e, "a.example");
    assert_eq!(register_up(&mut e, "a.example"), (false, false));
    // Eight hours and a second later: the PIN again, then fresh for another eight hours.
    clock.advance(Duration::from_secs(8 * 3600 + 1));
    assert_eq!(register_up(&mut e, "a.example"), (true, true), "stale");
    assert_eq!(register_up(&mut e, "a.example"), (false, false));
    // A restart forgets when the PIN was proven: the first request asks for it.
    let (keys, approver, store, clock) = e.into_parts();
    let mut e = TestEngine::with_clock(keys, approver, store, clock).unwrap();
    assert_eq!(
        register_up(&mut e, "a.example"),
        (true, true),
        "after a restart"
    );
}

#[test]
fn loosening_step_up_needs_the_pin_and_off_means_presence_only() {
    let mut e = setup();
    let off = StepUp {
        enabled: false,
        ..StepUp::default()
    };
    assert!(matches!(
        e.set_step_up_local(off, None),
        Err(ManageError::PinRequired)
    ));
    let shorter = StepUp {
        uv_max_age_secs: 60,
        ..StepUp::default()
    };
    e.set_step_up_local(shorter, None).unwrap();
    e.set_step_up_local(off, Some(&pin())).unwrap();
    assert_eq!(register_up(&mut e, "new.example"), (false, false));
}

#[test]
fn without_a_pin_there_is_nothing_to_step_up_to() {
    let mut e = engine();
    e.set_settings_local(Some(false), None, None).unwrap();
    let r = call(&mut e, 0x01, Some(mc("new.example", 1, false, vec![]))).unwrap();
    let (_, _, auth_data) = check_attestation(&r);
    assert_eq!(auth_data[32] & 0x04, 0);
}
