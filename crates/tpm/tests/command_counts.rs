//! TPM commands per CTAP operation, counted on the wire: by the private simulator's relay
//! (where sessions are isolated, as behind the kernel's resource manager) and by a proxy in
//! front of swtpm on TCP (where they are not) (`command_count`). Counts are deterministic, unlike times: this is where the minimum
//! TPM work per operation (docs/PERFORMANCE.md) is held to. Each operation runs as a
//! browser runs it, through the engine over the real key store.
#![allow(clippy::unwrap_used)]

#[path = "../benches/platform.rs"]
mod platform;

use platform::*;
use tpm_passkey_core::{Engine, KeyStore, PinHash, Store};
use tpm_passkey_tpm::command_count::{total, CommandCounter, Counts};
use tpm_passkey_tpm::{Swtpm, TpmKeyStore};

fn show(what: &str, c: &Counts) -> String {
    format!("{what}: {} commands {c:?}", total(c))
}

/// What each operation sent, in the order the scenario runs them.
struct Observed {
    up: Counts,
    first_token: Counts,
    make: Counts,
    make_idle: Counts,
    uv_token: Counts,
    uv_assert: Counts,
    inline: Counts,
    checkpoint: Counts,
    closing: Counts,
}

/// Runs every operation as a browser runs it, through the engine over the real key store
/// on `counter`'s TPM, and counts the commands of each.
fn observe(counter: &CommandCounter) -> Observed {
    let keys = TpmKeyStore::open(&counter.tcti(), None, None).unwrap();
    let mut e = Engine::new(keys, Approve, Store::open_in_memory().unwrap()).unwrap();
    // alwaysUv off while no PIN is set, for a user-presence credential.
    ok(&mut e, &cbor(0x0d, map(vec![(1.into(), 2.into())])));
    let up_id = credential_id(&ok(
        &mut e,
        &make_credential("up.example", b"u", false, false, None),
    ));
    // The counter step the alwaysUv change owes, taken now as the daemon would once idle.
    assert!(e.do_idle_work());
    counter.take();

    ok(
        &mut e,
        &get_assertion("up.example", std::slice::from_ref(&up_id), false, None),
    );
    let up = counter.take();
    println!("{}", show("UP getAssertion", &up));

    e.keys_mut().set_pin(&PinHash::from_pin(PIN)).unwrap();
    let shared = agree(&mut e);
    counter.take();
    let token = token_using_uv(&mut e, &shared, "bench.example");
    let first_token = counter.take();
    println!("{}", show("getPinUvAuthTokenUsingUv", &first_token));
    let id = credential_id(&ok(
        &mut e,
        &make_credential("bench.example", b"b", true, false, Some(&token)),
    ));
    let make = counter.take();
    println!("{}", show("makeCredential with a token", &make));
    // What the daemon does once idle after it: the seal's counter step.
    assert!(e.idle_work_due());
    assert!(e.do_idle_work());
    let make_idle = counter.take();
    println!("{}", show("after makeCredential, once idle", &make_idle));

    // A whole UV sign-in as browsers run it: a token by built-in UV, then the assertion.
    let shared = agree(&mut e);
    counter.take();
    let token = token_using_uv(&mut e, &shared, "bench.example");
    let uv_token = counter.take();
    ok(
        &mut e,
        &get_assertion(
            "bench.example",
            std::slice::from_ref(&id),
            false,
            Some(&token),
        ),
    );
    let uv_assert = counter.take();
    println!("{}", show("sign-in: token", &uv_token));
    println!("{}", show("sign-in: getAssertion", &uv_assert));

    // CTAP 2.0's built-in UV inside getAssertion (no token): the PIN check and the
    // signature in one request.
    ok(
        &mut e,
        &get_assertion("bench.example", std::slice::from_ref(&id), true, None),
    );
    let inline = counter.take();
    println!("{}", show("built-in UV getAssertion", &inline));
    // An audit checkpoint; the first one also derives the attestation key once for its
    // public part, kept from then on.
    e.checkpoint_audit();
    counter.take();
    e.audit(tpm_passkey_core::AuditEvent::new(
        tpm_passkey_core::AuditKind::Config,
        None,
        tpm_passkey_core::Outcome::Ok,
    ));
    assert!(e.checkpoint_audit());
    let checkpoint = counter.take();
    drop(e);
    let closing = counter.take();
    Observed {
        up,
        first_token,
        make,
        make_idle,
        uv_token,
        uv_assert,
        inline,
        checkpoint,
        closing,
    }
}

fn counts(pairs: &[(&'static str, u32)]) -> Counts {
    pairs.iter().copied().collect()
}

/// `base` with `extra` added.
fn plus(base: &Counts, extra: &[(&'static str, u32)]) -> Counts {
    let mut c = base.clone();
    for (k, n) in extra {
        *c.entry(k).or_default() += n;
    }
    c
}

fn load_sign_flush() -> Counts {
    counts(&[("Load", 1), ("Sign", 1), ("FlushContext", 1)])
}

/// Registration, in the answer time: the key is made (Create, Load), its self-attestation
/// signed with the token's PIN (Sign), the key flushed; a discoverable one is stored, so the
/// store is sealed in the same transaction (docs/DESIGN.md "Rollback counter and store
/// seal"): the MAC only — the HMAC key in, HMAC in a password session (the MAC is no
/// secret), out. No counter read: the engine knows the value it sealed last.
fn make_with_kept_session() -> Counts {
    counts(&[
        ("Create", 1),
        ("Load", 2),
        ("Sign", 1),
        ("FlushContext", 2),
        ("HMAC", 1),
    ])
}

/// The seal's counter step, once the engine is idle after the change: the step through
/// branch N (policy session, PolicyCommandCode, PolicyNvWritten, PolicyOR, NV_Increment;
/// the TPM flushes the session) and the counter read back (another program may have
/// advanced it too).
fn counter_step() -> Counts {
    counts(&[
        ("StartAuthSession", 1),
        ("PolicyCommandCode", 1),
        ("PolicyNvWritten", 1),
        ("PolicyOR", 1),
        ("NV_Increment", 1),
        ("NV_Read", 1),
    ])
}

/// The extend through branch N (policy session, PolicyCommandCode, PolicyNvWritten,
/// PolicyOR, NV_Extend), the attestation key derived, NV_Certify, the key flushed.
fn checkpoint() -> Counts {
    counts(&[
        ("StartAuthSession", 1),
        ("PolicyCommandCode", 1),
        ("PolicyNvWritten", 1),
        ("PolicyOR", 1),
        ("NV_Extend", 1),
        ("CreatePrimary", 1),
        ("NV_Certify", 1),
        ("FlushContext", 1),
    ])
}

/// Where no other program can name our sessions (here the private simulator; the kernel's
/// resource manager in the TPM guest), the token's satisfied session waits for the
/// signature that follows: a UV sign-in proves the PIN once.
#[test]
fn each_operation_sends_the_fewest_tpm_commands_where_sessions_are_isolated() {
    let dir = tempfile::tempdir().unwrap();
    let swtpm = Swtpm::start_private(dir.path()).unwrap();
    let counter = CommandCounter::of(&swtpm).unwrap();
    assert!(counter.tcti().path().isolates_sessions());
    let o = observe(&counter);
    // A user-presence signature: the key in, the signature, the key out.
    assert_eq!(o.up, load_sign_flush(), "{}", show("UP", &o.up));
    // The token: one policy session and the PIN proven in it through the kept salted
    // session. No salted session is started again, and the prompt's retry count is the one
    // the last PIN check left (no NV_Read before it).
    assert_eq!(
        o.uv_token,
        counts(&[("StartAuthSession", 1), ("PolicySecret", 1)]),
        "{}",
        show("token", &o.uv_token)
    );
    // The assertion that follows uses the token's satisfied session: no second PolicySecret,
    // and the TPM flushes the session itself (continueSession clear).
    assert_eq!(
        o.uv_assert,
        load_sign_flush(),
        "{}",
        show("assertion", &o.uv_assert)
    );
    assert_eq!(
        o.make,
        make_with_kept_session(),
        "{}",
        show("makeCredential", &o.make)
    );
    assert_eq!(
        o.make_idle,
        counter_step(),
        "{}",
        show("after makeCredential", &o.make_idle)
    );
    // The kept salted session was started when the engine opened (the seal's counter
    // read), so even the first token starts no salted session of its own.
    assert_eq!(
        o.first_token,
        o.uv_token,
        "{}",
        show("first token", &o.first_token)
    );
    // Built-in UV inside getAssertion: the PIN check and the signature, one PolicySecret.
    assert_eq!(
        o.inline,
        plus(
            &load_sign_flush(),
            &[("StartAuthSession", 1), ("PolicySecret", 1)]
        ),
        "{}",
        show("built-in UV getAssertion", &o.inline)
    );
    assert_eq!(
        o.checkpoint,
        checkpoint(),
        "{}",
        show("checkpoint", &o.checkpoint)
    );
    // Closing flushes the kept salted session and the root, and nothing the TPM already
    // flushed (the used policy sessions are forgotten, not flushed again).
    assert_eq!(
        o.closing,
        counts(&[("FlushContext", 2)]),
        "{}",
        show("drop", &o.closing)
    );
}

/// On a TPM other programs reach directly (swtpm on a socket: tests, `--tcti swtpm:`), no
/// satisfied session waits: a PIN check is bound to no command and flushed at once, and the
/// signature proves the PIN again, bound to that one Sign (docs/DESIGN.md "Sessions kept
/// between requests"). This is what each of those costs, and no more.
#[test]
fn on_a_shared_tpm_no_satisfied_session_waits_and_each_signature_proves_the_pin_for_itself() {
    let dir = tempfile::tempdir().unwrap();
    let swtpm = Swtpm::start(dir.path()).unwrap();
    let counter = CommandCounter::start(swtpm.port()).unwrap();
    assert!(!counter.tcti().path().isolates_sessions());
    let o = observe(&counter);
    let prove = [("StartAuthSession", 1), ("PolicySecret", 1)];
    assert_eq!(o.up, load_sign_flush(), "{}", show("UP", &o.up));
    // The token's check, then its session flushed.
    assert_eq!(
        o.uv_token,
        counts(&[
            ("StartAuthSession", 1),
            ("PolicySecret", 1),
            ("FlushContext", 1)
        ]),
        "{}",
        show("token", &o.uv_token)
    );
    // The assertion proves the PIN for its own Sign.
    assert_eq!(
        o.uv_assert,
        plus(&load_sign_flush(), &prove),
        "{}",
        show("assertion", &o.uv_assert)
    );
    assert_eq!(
        o.make,
        plus(&make_with_kept_session(), &prove),
        "{}",
        show("makeCredential", &o.make)
    );
    assert_eq!(
        o.make_idle,
        counter_step(),
        "{}",
        show("after makeCredential", &o.make_idle)
    );
    assert_eq!(
        o.first_token,
        o.uv_token,
        "{}",
        show("first token", &o.first_token)
    );
    assert_eq!(
        o.inline,
        plus(
            &load_sign_flush(),
            &[
                ("StartAuthSession", 2),
                ("PolicySecret", 2),
                ("FlushContext", 1)
            ]
        ),
        "{}",
        show("built-in UV getAssertion", &o.inline)
    );
    assert_eq!(
        o.checkpoint,
        checkpoint(),
        "{}",
        show("checkpoint", &o.checkpoint)
    );
    assert_eq!(
        o.closing,
        counts(&[("FlushContext", 2)]),
        "{}",
        show("drop", &o.closing)
    );
}

/// A wrong PIN fails a command in the kept salted session: it is flushed, and the next
/// check starts a fresh one and works.
#[test]
fn a_wrong_pin_costs_the_kept_session_and_the_next_check_still_works() {
    let dir = tempfile::tempdir().unwrap();
    let swtpm = Swtpm::start_private(dir.path()).unwrap();
    let counter = CommandCounter::of(&swtpm).unwrap();
    let mut keys = TpmKeyStore::open(&counter.tcti(), None, None).unwrap();
    keys.set_pin(&PinHash::from_pin(PIN)).unwrap();
    keys.verify_pin(&PinHash::from_pin(PIN)).unwrap();
    counter.take();
    assert!(keys.verify_pin(&PinHash::from_pin("wrong")).is_err());
    let wrong = counter.take();
    // Flushed: the satisfied session of the check before, the kept salted session, and the
    // failed check's policy session.
    assert_eq!(
        wrong.get("FlushContext"),
        Some(&3),
        "{}",
        show("wrong PIN", &wrong)
    );
    assert_eq!(keys.pin_retries().unwrap(), 7);
    keys.verify_pin(&PinHash::from_pin(PIN)).unwrap();
    assert_eq!(keys.pin_retries().unwrap(), 8);
    let after = counter.take();
    assert_eq!(
        after.get("StartAuthSession"),
        Some(&2),
        "{}",
        show("after", &after)
    );
}
