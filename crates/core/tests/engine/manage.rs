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

#[test]
fn a_blocked_site_is_refused_before_any_prompt() {
    use tpm_passkey_core::SiteRule;
    let (mut e, _) = with_passkey();
    e.set_site_rule_local("Example.com", Some(SiteRule::Block), None)
        .unwrap();
    assert_eq!(
        e.site_rules().unwrap(),
        [("example.com".to_owned(), SiteRule::Block)]
    );
    let seen = e.approver_mut().seen.len();
    let r = call(&mut e, 0x02, Some(ga("example.com", &[], vec![])));
    assert_eq!(r, Err(Status::OperationDenied));
    let r = call(&mut e, 0x01, Some(mc("example.com", 2, true, vec![])));
    assert_eq!(r, Err(Status::OperationDenied));
    assert_eq!(
        e.approver_mut().seen.len(),
        seen,
        "no prompt for a blocked site"
    );
    let audit = e.audit_tail(5).unwrap();
    assert!(audit
        .iter()
        .any(|a| a.event == "sign_in" && a.outcome == "blocked_site"));
    // Other sites are unaffected.
    call(&mut e, 0x01, Some(mc("other.example", 3, true, vec![]))).unwrap();
    // Lifting the block weakens protection: it needs the PIN.
    assert_eq!(
        e.set_site_rule_local("example.com", None, None),
        Err(Status::PuatRequired)
    );
    e.set_site_rule_local("example.com", None, Some("2468"))
        .unwrap();
    call(&mut e, 0x02, Some(ga("example.com", &[], vec![]))).unwrap();
    assert_eq!(
        e.set_site_rule_local("bad site", Some(SiteRule::Block), None),
        Err(Status::InvalidParameter)
    );
}

#[test]
fn a_require_pin_site_gets_the_pin_even_with_always_uv_off() {
    use tpm_passkey_core::SiteRule;
    let mut e = engine();
    e.set_pin_local("2468").unwrap();
    e.approver_mut().pin = Some("2468".into());
    e.set_settings_local(Some(false), None, Some("2468"))
        .unwrap();
    // Without the rule, a non-discoverable credential needs only presence.
    call(&mut e, 0x01, Some(mc("plain.example", 1, false, vec![]))).unwrap();
    assert!(!e.approver_mut().seen.last().unwrap().pin_required);
    e.set_site_rule_local("bank.example", Some(SiteRule::RequirePin), None)
        .unwrap();
    call(&mut e, 0x01, Some(mc("bank.example", 1, false, vec![]))).unwrap();
    assert!(
        e.approver_mut().seen.last().unwrap().pin_required,
        "the rule asks for the PIN"
    );
    assert_eq!(
        e.passkeys().unwrap().len(),
        0,
        "non-discoverable: nothing stored"
    );
}

#[test]
fn three_wrong_pins_pause_pin_checks_until_restart() {
    let (mut e, id) = with_passkey();
    assert!(!e.pin_auth_blocked());
    for _ in 0..2 {
        assert_eq!(e.delete_passkey(&id, Some("0000")), Err(Status::PinInvalid));
    }
    assert_eq!(
        e.delete_passkey(&id, Some("0000")),
        Err(Status::PinAuthBlocked)
    );
    assert!(
        e.pin_auth_blocked(),
        "status tells the app to say: restart the service"
    );
    assert_eq!(
        e.delete_passkey(&id, Some("2468")),
        Err(Status::PinAuthBlocked),
        "even the right PIN waits for the restart"
    );
}
