//! Management from the user's session (control socket), outside CTAP.
use crate::harness::*;
use tpm_passkey_core::wire::Status;

fn with_passkey() -> (TestEngine, String) {
    let mut e = engine();
    e.set_pin_local("2468").unwrap();
    e.approver_mut().pin = Some("2468".into());
    call(&mut e, 0x01, Some(mc("example.com", 1, true, vec![]))).unwrap();
    let id = e.passkeys().unwrap()[0].id.clone();
    (e, id)
}

#[test]
fn list_shows_passkeys_without_key_material() {
    let (e, id) = with_passkey();
    let list = e.passkeys().unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].rp_id, "example.com");
    assert_eq!(list[0].user_name.as_deref(), Some("user1"));
    assert!(list[0].pin_bound);
    assert_eq!(id.len(), 64, "hex of a 32-byte id");
    let json = serde_json::to_string(&list).unwrap();
    assert!(!json.contains("blob") && !json.contains("key"), "{json}");
}

#[test]
fn delete_needs_the_pin_once_one_is_set() {
    let (mut e, id) = with_passkey();
    assert_eq!(e.delete_passkey(&id, None), Err(Status::PuatRequired));
    assert_eq!(e.delete_passkey(&id, Some("0000")), Err(Status::PinInvalid));
    assert_eq!(e.pin_retries_left().unwrap(), Some(7));
    assert_eq!(
        e.delete_passkey("zz", Some("2468")),
        Err(Status::InvalidParameter)
    );
    assert_eq!(e.delete_passkey(&id, Some("2468")), Ok(true));
    assert_eq!(e.delete_passkey(&id, Some("2468")), Ok(false));
    assert!(e.passkeys().unwrap().is_empty());
}

#[test]
fn pin_set_and_change_follow_the_policy() {
    let mut e = engine();
    assert_eq!(e.set_pin_local("12"), Err(Status::PinPolicyViolation));
    assert_eq!(
        e.set_pin_local(&"9".repeat(64)),
        Err(Status::PinPolicyViolation)
    );
    assert_eq!(e.change_pin_local("1234", "5678"), Err(Status::PinNotSet));
    e.set_pin_local("1234").unwrap();
    assert_eq!(e.set_pin_local("5678"), Err(Status::NotAllowed));
    assert_eq!(e.change_pin_local("0000", "5678"), Err(Status::PinInvalid));
    assert_eq!(
        e.change_pin_local("1234", "56"),
        Err(Status::PinPolicyViolation)
    );
    e.change_pin_local("1234", "5678").unwrap();
    assert_eq!(
        e.delete_passkey("00", Some("1234")),
        Ok(false),
        "unknown id: nothing to check"
    );
    assert_eq!(
        e.set_settings_local(Some(false), None, Some("1234")),
        Err(Status::PinInvalid)
    );
    e.set_settings_local(Some(false), None, Some("5678"))
        .unwrap();
    assert!(!e.settings().always_uv);
}

#[test]
fn settings_never_lower_the_minimum_and_force_a_short_pin_to_change() {
    let (mut e, _) = with_passkey();
    assert_eq!(
        e.set_settings_local(Some(false), None, None),
        Err(Status::PuatRequired)
    );
    assert_eq!(
        e.set_settings_local(None, Some(3), None),
        Err(Status::PinPolicyViolation)
    );
    e.set_settings_local(None, Some(6), None).unwrap();
    assert!(e.settings().force_pin_change, "the 4-digit PIN must change");
    e.change_pin_local("2468", "246810").unwrap();
    assert!(!e.settings().force_pin_change);
    // Turning alwaysUv back on needs nothing.
    e.set_settings_local(Some(true), None, None).unwrap();
}

#[test]
fn local_reset_needs_the_pin_and_erases() {
    let (mut e, _) = with_passkey();
    assert_eq!(e.reset_local(None), Err(Status::PuatRequired));
    e.reset_local(Some("2468")).unwrap();
    assert!(e.passkeys().unwrap().is_empty());
    assert_eq!(e.pin_retries_left().unwrap(), None);
    let events: Vec<String> = e
        .audit_tail(50)
        .unwrap()
        .into_iter()
        .map(|r| r.event)
        .collect();
    assert_eq!(events, ["pin_set", "register", "reset"]);
}
