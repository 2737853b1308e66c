//! Management from the user's session (control socket), outside CTAP: every refusal is
//! a `ManageError` whose text the user reads.
use crate::harness::*;
use tpm_passkey_core::ipc::Pin;
use tpm_passkey_core::wire::Status;
use tpm_passkey_core::{Engine, ManageError, Store};

fn pin(s: &str) -> Pin {
    Pin::new(s.into())
}

fn with_passkey() -> (TestEngine, String) {
    let mut e = engine();
    e.set_pin_local(&pin("2468")).unwrap();
    e.approver_mut().pin = Some("2468".into());
    call(&mut e, 0x01, Some(mc("example.com", 1, true, vec![]))).unwrap();
    let id = e.passkeys(None).unwrap()[0].id.clone();
    (e, id)
}

#[test]
fn list_shows_passkeys_without_key_material() {
    let (mut e, id) = with_passkey();
    let list = e.passkeys(None).unwrap();
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
    assert_eq!(e.delete_passkey(&id, None), Err(ManageError::PinRequired));
    assert_eq!(
        e.delete_passkey(&id, Some(&pin("0000"))),
        Err(ManageError::WrongPin { left: 7 })
    );
    assert_eq!(e.pin_retries_left(), Some(7));
    assert_eq!(
        e.delete_passkey("zz", Some(&pin("2468"))),
        Err(ManageError::NotAPasskeyId)
    );
    assert_eq!(e.delete_passkey(&id, Some(&pin("2468"))), Ok(()));
    let gone = e.delete_passkey(&id, Some(&pin("2468"))).unwrap_err();
    assert!(matches!(gone, ManageError::NoSuchPasskey { .. }), "{gone}");
    assert!(e.passkeys(None).unwrap().is_empty());
}

#[test]
fn pin_set_and_change_follow_the_policy() {
    let mut e = engine();
    assert_eq!(
        e.set_pin_local(&pin("12")),
        Err(ManageError::PinPolicy { min: 4 })
    );
    assert_eq!(
        e.set_pin_local(&pin(&"9".repeat(64))),
        Err(ManageError::PinPolicy { min: 4 })
    );
    assert_eq!(
        e.change_pin_local(&pin("1234"), &pin("5678")),
        Err(ManageError::PinNotSet)
    );
    e.set_pin_local(&pin("1234")).unwrap();
    assert_eq!(
        e.set_pin_local(&pin("5678")),
        Err(ManageError::PinAlreadySet)
    );
    assert_eq!(
        e.change_pin_local(&pin("0000"), &pin("5678")),
        Err(ManageError::WrongPin { left: 7 })
    );
    assert_eq!(
        e.change_pin_local(&pin("1234"), &pin("56")),
        Err(ManageError::PinPolicy { min: 4 })
    );
    e.change_pin_local(&pin("1234"), &pin("5678")).unwrap();
    assert!(
        matches!(
            e.delete_passkey("00", Some(&pin("1234"))),
            Err(ManageError::NoSuchPasskey { .. })
        ),
        "unknown id: nothing to check"
    );
    assert_eq!(
        e.set_settings_local(Some(false), None, Some(&pin("1234"))),
        Err(ManageError::WrongPin { left: 8 - 1 })
    );
    e.set_settings_local(Some(false), None, Some(&pin("5678")))
        .unwrap();
    assert!(!e.settings().always_uv);
}

#[test]
fn settings_never_lower_the_minimum_and_force_a_short_pin_to_change() {
    let (mut e, _) = with_passkey();
    assert_eq!(
        e.set_settings_local(Some(false), None, None),
        Err(ManageError::PinRequired)
    );
    assert_eq!(
        e.set_settings_local(None, Some(3), None),
        Err(ManageError::PinPolicy { min: 4 })
    );
    e.set_settings_local(None, Some(6), None).unwrap();
    assert!(e.settings().force_pin_change, "the 4-digit PIN must change");
    e.change_pin_local(&pin("2468"), &pin("246810")).unwrap();
    assert!(!e.settings().force_pin_change);
    // Turning alwaysUv back on needs nothing.
    e.set_settings_local(Some(true), None, None).unwrap();
}

#[test]
fn local_reset_needs_the_pin_and_erases() {
    let (mut e, _) = with_passkey();
    assert_eq!(e.reset_local(None), Err(ManageError::PinRequired));
    e.reset_local(Some(&pin("2468"))).unwrap();
    assert!(e.passkeys(None).unwrap().is_empty());
    assert_eq!(e.pin_retries_left(), None);
    let events: Vec<String> = e
        .audit_tail(50, None)
        .unwrap()
        .into_iter()
        .map(|r| r.event.as_str().to_owned())
        .collect();
    // Listing the passkeys revealed accounts: that read is in the log too.
    assert_eq!(events, ["pin_set", "register", "read_passkeys", "reset"]);
}

#[test]
fn a_blocked_site_is_refused_before_any_prompt() {
    use tpm_passkey_core::SiteRule;
    let (mut e, _) = with_passkey();
    e.set_site_rule_local("Example.com", Some(SiteRule::Block), None)
        .unwrap();
    assert_eq!(
        e.site_rules().unwrap(),
        [tpm_passkey_core::ipc::SiteRuleEntry {
            rp_id: "example.com".to_owned(),
            rule: SiteRule::Block
        }]
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
    let audit = e.audit_tail(5, None).unwrap();
    assert!(audit
        .iter()
        .any(|a| a.event == "sign_in" && a.outcome == "blocked_site"));
    // Other sites are unaffected.
    call(&mut e, 0x01, Some(mc("other.example", 3, true, vec![]))).unwrap();
    // Lifting the block weakens protection: it needs the PIN.
    assert_eq!(
        e.set_site_rule_local("example.com", None, None),
        Err(ManageError::PinRequired)
    );
    e.set_site_rule_local("example.com", None, Some(&pin("2468")))
        .unwrap();
    call(&mut e, 0x02, Some(ga("example.com", &[], vec![]))).unwrap();
    assert_eq!(
        e.set_site_rule_local("bad site", Some(SiteRule::Block), None),
        Err(ManageError::NotASite)
    );
}

#[test]
fn a_require_pin_site_gets_the_pin_even_with_always_uv_off() {
    use tpm_passkey_core::SiteRule;
    let mut e = engine();
    e.set_pin_local(&pin("2468")).unwrap();
    e.approver_mut().pin = Some("2468".into());
    e.set_settings_local(Some(false), None, Some(&pin("2468")))
        .unwrap();
    // (Step-up by risk would also ask for the PIN on a new site: off for this test.)
    let off = tpm_passkey_core::ipc::StepUp {
        enabled: false,
        ..Default::default()
    };
    e.set_step_up_local(off, Some(&pin("2468"))).unwrap();
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
        e.passkeys(None).unwrap().len(),
        0,
        "non-discoverable: nothing stored"
    );
}

#[test]
fn three_wrong_pins_pause_pin_checks_until_restart() {
    let (mut e, id) = with_passkey();
    assert!(!e.pin_auth_blocked());
    for left in [7, 6] {
        assert_eq!(
            e.delete_passkey(&id, Some(&pin("0000"))),
            Err(ManageError::WrongPin { left })
        );
    }
    assert_eq!(
        e.delete_passkey(&id, Some(&pin("0000"))),
        Err(ManageError::PinPaused)
    );
    assert!(
        e.pin_auth_blocked(),
        "status tells the app to say: restart the service"
    );
    assert_eq!(
        e.delete_passkey(&id, Some(&pin("2468"))),
        Err(ManageError::PinPaused),
        "even the right PIN waits for the restart"
    );
}

#[test]
fn reads_that_reveal_accounts_are_audited_once_a_minute_per_reader() {
    let (mut e, _) = with_passkey();
    let count = |e: &mut TestEngine| {
        e.store()
            .audit_tail(100)
            .unwrap()
            .iter()
            .filter(|r| r.event == "read_passkeys")
            .count()
    };
    let before = count(&mut e);
    e.passkeys(Some("evil".into())).unwrap();
    e.passkeys(Some("evil".into())).unwrap();
    assert_eq!(count(&mut e), before + 1, "one read a minute per reader");
    e.passkeys(Some("tpm-passkey-app".into())).unwrap();
    assert_eq!(count(&mut e), before + 2, "another reader is recorded");
    e.clock().advance(std::time::Duration::from_secs(61));
    e.passkeys(Some("tpm-passkey-app".into())).unwrap();
    assert_eq!(count(&mut e), before + 3);
    let last = e.store().audit_tail(1).unwrap().pop().unwrap();
    assert_eq!(last.client.as_deref(), Some("tpm-passkey-app"));
    e.audit_tail(10, Some("cat".into())).unwrap();
    assert_eq!(e.store().audit_tail(1).unwrap()[0].event, "read_audit");
}

#[test]
fn the_forgotten_pin_reset_needs_the_typed_phrase_and_is_audited() {
    let (mut e, _) = with_passkey();
    assert_eq!(
        e.reset_forgotten_pin("erase"),
        Err(ManageError::NotConfirmed)
    );
    assert_eq!(e.passkeys(None).unwrap().len(), 1, "nothing erased");
    e.reset_forgotten_pin(tpm_passkey_core::ipc::FORGOTTEN_PIN_PHRASE)
        .unwrap();
    assert!(e.passkeys(None).unwrap().is_empty());
    assert_eq!(e.pin_retries_left(), None);
    let r = e
        .store()
        .audit_tail(10)
        .unwrap()
        .into_iter()
        .find(|r| r.event == "reset")
        .unwrap();
    assert_eq!(r.detail.as_deref(), Some("forgotten PIN"));
}

#[test]
fn management_errors_read_as_advice_and_never_echo_a_huge_id() {
    let (mut e, _) = with_passkey();
    let long = "ab".repeat(500_000);
    let err = e.delete_passkey(&long, Some(&pin("2468"))).unwrap_err();
    let text = err.to_string();
    assert!(text.len() < 200, "{} bytes", text.len());
    assert!(text.starts_with("no passkey with id abab"), "{text}");
    assert_eq!(
        ManageError::WrongPin { left: 3 }.to_string(),
        "wrong PIN: 3 attempts left before the TPM blocks it"
    );
    assert!(ManageError::Failed(Status::Other)
        .to_string()
        .contains("daemon's log"));
}

/// Regression: the audit vocabulary documented in docs/CONTROL.md used to list outcomes
/// never emitted and omit ones that were. Now both are enums; the doc lists exactly them.
#[test]
fn the_documented_audit_vocabulary_is_the_emitted_one() {
    use tpm_passkey_core::{AuditKind, Outcome};
    let doc = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/CONTROL.md"
    ))
    .unwrap();
    let section = |name: &str| -> Vec<String> {
        let start = doc
            .find(&format!("<!-- audit {name} -->"))
            .unwrap_or_else(|| panic!("docs/CONTROL.md has no audit {name} list"));
        let rest = &doc[start..];
        let end = rest.find("<!-- end -->").unwrap();
        rest[..end]
            .lines()
            .filter_map(|l| l.strip_prefix("| `"))
            .map(|l| l.split('`').next().unwrap().to_owned())
            .collect()
    };
    let events: Vec<String> = AuditKind::ALL
        .iter()
        .map(|k| k.as_str().to_owned())
        .collect();
    let outcomes: Vec<String> = Outcome::ALL.iter().map(|o| o.as_str().to_owned()).collect();
    assert_eq!(section("events"), events);
    assert_eq!(section("outcomes"), outcomes);
}

/// A settings change whose save fails (another connection holds the store's write lock:
/// "database is locked") is reported, and the settings in force stay those the store has —
/// they used to be changed in memory first, kept until a restart (issue 23).
#[test]
fn a_settings_change_that_cannot_be_saved_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.sqlite");
    let mut e = Engine::with_clock(
        SoftKeys::new(),
        Script::default(),
        Store::open(&path).unwrap(),
        ManualClock::new(),
    )
    .unwrap();
    e.set_pin_local(&pin("2468")).unwrap();
    let before = e.settings().clone();
    let holder = rusqlite::Connection::open(&path).unwrap();
    holder.execute_batch("BEGIN EXCLUSIVE").unwrap();
    let r = e.set_settings_local(Some(false), Some(8), Some(&pin("2468")));
    assert!(r.is_err(), "{r:?}");
    assert_eq!(e.settings(), &before, "the unsaved change is not in force");
    let r = e.set_step_up_local(
        tpm_passkey_core::ipc::StepUp {
            enabled: false,
            ..before.step_up
        },
        Some(&pin("2468")),
    );
    assert!(r.is_err(), "{r:?}");
    assert_eq!(e.settings(), &before);
    holder.execute_batch("ROLLBACK").unwrap();
    // Saved, it takes effect.
    e.set_settings_local(Some(false), None, Some(&pin("2468")))
        .unwrap();
    assert!(!e.settings().always_uv);
}
