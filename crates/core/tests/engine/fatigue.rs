//! The approval-fatigue defence, played as a program that floods prompts: after too many
//! unanswered prompts for one site, or too many denials in a row, requests are refused
//! without a prompt for the cool-down; the log says why and the person is told once.

use crate::harness::{platform::*, *};
use std::time::Duration;
use tpm_passkey_core::ipc::Pin;
use tpm_passkey_core::wire::Status;
use tpm_passkey_core::{FatigueLimits, ManageError, Refusal};

fn setup() -> TestEngine {
    let mut e = engine();
    set_pin(&mut e, 2, "1234").unwrap();
    e.approver_mut().pin = Some("1234".into());
    e
}

/// A registration for `rp` with built-in UV: one prompt, answered from the script.
fn register(e: &mut TestEngine, rp: &str) -> Result<(), Status> {
    call(e, 0x01, Some(mc(rp, 1, true, vec![]))).map(|_| ())
}

fn prompts(e: &mut TestEngine) -> usize {
    e.approver_mut().seen.len()
}

#[test]
fn unanswered_prompts_for_a_site_cool_it_down_unseen() {
    let mut e = setup();
    let clock = e.clock().clone();
    for _ in 0..4 {
        e.approver_mut().answers.push_back(Err(Refusal::Timeout));
        assert_eq!(
            register(&mut e, "flood.example"),
            Err(Status::UserActionTimeout)
        );
        clock.advance(Duration::from_secs(5));
    }
    assert_eq!(prompts(&mut e), 4);
    // The flood goes on: refused at once, and nobody is asked.
    for _ in 0..10 {
        assert_eq!(
            register(&mut e, "flood.example"),
            Err(Status::OperationDenied)
        );
    }
    assert_eq!(prompts(&mut e), 4, "no prompt during the cool-down");
    // Told once, logged once, and only this site is cooled.
    assert_eq!(e.approver_mut().notices.len(), 1);
    assert!(e.approver_mut().notices[0].contains("flood.example"));
    let log = e.store().audit_tail(50).unwrap();
    assert_eq!(
        log.iter()
            .filter(|r| r.event.as_str() == "prompt_flood")
            .count(),
        1
    );
    let status = e.cooldowns();
    assert_eq!(status.len(), 1);
    assert_eq!(status[0].site.as_deref(), Some("flood.example"));
    register(&mut e, "other.example").unwrap();
    assert_eq!(prompts(&mut e), 5);
    // After the cool-down the site may ask again.
    clock.advance(Duration::from_secs(301));
    register(&mut e, "flood.example").unwrap();
    assert_eq!(prompts(&mut e), 6);
}

#[test]
fn approvals_never_count_and_a_slow_trickle_stays_under_the_limit() {
    let mut e = setup();
    let clock = e.clock().clone();
    for _ in 0..12 {
        register(&mut e, "busy.example").unwrap();
    }
    for _ in 0..6 {
        e.approver_mut().answers.push_back(Err(Refusal::Timeout));
        assert_eq!(
            register(&mut e, "busy.example"),
            Err(Status::UserActionTimeout)
        );
        clock.advance(Duration::from_secs(30));
    }
    assert!(
        e.cooldowns().is_empty(),
        "3 in any 60 s: under the limit of 4"
    );
    assert_eq!(prompts(&mut e), 18);
}

#[test]
fn denials_in_a_row_cool_every_site() {
    let mut e = setup();
    for i in 0..5 {
        e.approver_mut().answers.push_back(Err(Refusal::Denied));
        assert_eq!(
            register(&mut e, &format!("site{i}.example")),
            Err(Status::OperationDenied)
        );
    }
    assert_eq!(prompts(&mut e), 5);
    assert_eq!(
        register(&mut e, "new.example"),
        Err(Status::OperationDenied)
    );
    assert_eq!(prompts(&mut e), 5, "every site cooled");
    let c = e.cooldowns();
    assert_eq!(c[0].site, None);
}

#[test]
fn lifting_a_cool_down_or_weakening_the_limits_needs_the_pin() {
    let mut e = setup();
    for _ in 0..4 {
        e.approver_mut().answers.push_back(Err(Refusal::Cancelled));
        let _ = register(&mut e, "flood.example");
    }
    assert_eq!(
        register(&mut e, "flood.example"),
        Err(Status::OperationDenied)
    );
    // A program on the user's session cannot lift it or switch the defence off.
    assert!(matches!(
        e.lift_cooldowns_local(None),
        Err(ManageError::PinRequired)
    ));
    let off = FatigueLimits {
        enabled: false,
        ..FatigueLimits::default()
    };
    assert!(matches!(
        e.set_fatigue_limits_local(off, None),
        Err(ManageError::PinRequired)
    ));
    let looser = FatigueLimits {
        unapproved_per_site: 10,
        ..FatigueLimits::default()
    };
    assert!(matches!(
        e.set_fatigue_limits_local(looser, None),
        Err(ManageError::PinRequired)
    ));
    assert!(matches!(
        e.set_fatigue_limits_local(looser, Some(&Pin::new("0000".into()))),
        Err(ManageError::WrongPin { .. })
    ));
    // Stricter needs nothing; the person lifts with the PIN.
    let stricter = FatigueLimits {
        unapproved_per_site: 2,
        cooldown_secs: 600,
        ..FatigueLimits::default()
    };
    e.set_fatigue_limits_local(stricter, None).unwrap();
    assert_eq!(e.settings().fatigue, stricter);
    e.lift_cooldowns_local(Some(&Pin::new("1234".into())))
        .unwrap();
    register(&mut e, "flood.example").unwrap();
}

#[test]
fn with_the_defence_off_every_prompt_is_shown() {
    let mut e = setup();
    let off = FatigueLimits {
        enabled: false,
        ..FatigueLimits::default()
    };
    e.set_fatigue_limits_local(off, Some(&Pin::new("1234".into())))
        .unwrap();
    for _ in 0..10 {
        e.approver_mut().answers.push_back(Err(Refusal::Denied));
        assert_eq!(
            register(&mut e, "flood.example"),
            Err(Status::OperationDenied)
        );
    }
    assert_eq!(prompts(&mut e), 10);
}
