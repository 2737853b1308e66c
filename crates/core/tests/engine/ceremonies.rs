use crate::harness::{platform::*, *};
use ciborium::value::Value;
use tpm_passkey_core::wire::Status;
use tpm_passkey_core::{Operation, Refusal};

const CDH_MC: [u8; 32] = [0xcd; 32];
const CDH_GA: [u8; 32] = [0xab; 32];

fn setup() -> TestEngine {
    let mut e = engine();
    set_pin(&mut e, 2, "1234").unwrap();
    e.approver_mut().pin = Some("1234".into());
    e
}

fn register(
    e: &mut TestEngine,
    rp: &str,
    user: u8,
    rk: bool,
) -> (Vec<u8>, p256::ecdsa::VerifyingKey) {
    let t = token(e, 2, "1234", Some(0x03), Some(rp)).unwrap();
    let r = call(e, 0x01, Some(mc(rp, user, rk, with_token(2, &t, &CDH_MC)))).unwrap();
    let (id, key, auth_data) = check_attestation(&r);
    assert_eq!(auth_data[32] & 0x05, 0x05, "UP and UV");
    (id, key)
}

#[test]
fn always_uv_without_a_pin_refuses_to_register() {
    let mut e = engine();
    assert_eq!(
        call(&mut e, 0x01, Some(mc("example.com", 1, true, vec![]))).err(),
        Some(Status::PinNotSet)
    );
}

#[test]
fn register_and_sign_in_with_tokens() {
    let mut e = setup();
    let (id, key) = register(&mut e, "example.com", 1, true);
    assert_eq!(id.len(), 32, "discoverable: a random store id");
    let t = token(&mut e, 2, "1234", Some(0x02), Some("example.com")).unwrap();
    let r = call(
        &mut e,
        0x02,
        Some(ga("example.com", &[], with_token_ga(2, &t, &CDH_GA))),
    )
    .unwrap();
    let (auth_data, got_id) = check_assertion(&r, &key);
    assert_eq!(got_id, id);
    assert_eq!(auth_data[32], 0x05);
    assert_eq!(u32::from_be_bytes(auth_data[33..37].try_into().unwrap()), 1);
    let prompts = e.approver_mut().seen.clone();
    assert!(
        !prompts.last().unwrap().pin_required,
        "the token carried the verification"
    );
    let user = get(&r, 4).unwrap();
    assert_eq!(
        get_text(&user, "name"),
        Some(Value::Text("user1".into())),
        "identifying fields after UV"
    );
    // The token's permissions were cleared by the assertion (§6.2.2, up = true).
    let r = call(
        &mut e,
        0x02,
        Some(ga("example.com", &[], with_token_ga(2, &t, &CDH_GA))),
    );
    assert_eq!(r.err(), Some(Status::PinAuthInvalid));
}

/// A sign-in's writes — its sign count, the site now known, its audit entry — are one
/// commit (one fsync with synchronous=FULL), made before the answer (issue 22).
#[test]
fn a_sign_in_commits_once() {
    let mut e = setup();
    let (id, _) = register(&mut e, "example.com", 1, true);
    let t = token(&mut e, 2, "1234", Some(0x02), Some("example.com")).unwrap();
    let before = e.store().commits();
    let audit_before = e.store().audit_tail(1000).unwrap().len();
    call(
        &mut e,
        0x02,
        Some(ga("example.com", &[&id], with_token_ga(2, &t, &CDH_GA))),
    )
    .unwrap();
    assert_eq!(e.store().commits() - before, 1);
    assert_eq!(
        e.store().audit_tail(1000).unwrap().len(),
        audit_before + 1,
        "the audit entry is in that commit"
    );
}

#[test]
fn built_in_uv_under_always_uv_signs_with_the_typed_pin() {
    let mut e = setup();
    let r = call(&mut e, 0x01, Some(mc("example.com", 1, false, vec![]))).unwrap();
    let (id, key, _) = check_attestation(&r);
    assert!(id.len() > 32, "non-discoverable: a wrapped id");
    let prompt = e.approver_mut().seen.last().unwrap().clone();
    assert_eq!(prompt.operation, Operation::Register);
    assert!(prompt.pin_required);
    assert_eq!(prompt.rp_id.as_deref(), Some("example.com"));
    assert_eq!(prompt.user.as_deref(), Some("user1 (User 1)"));
    let r = call(&mut e, 0x02, Some(ga("example.com", &[&id], vec![]))).unwrap();
    check_assertion(&r, &key);
    assert!(
        get(&r, 4).is_none(),
        "no user entity for a non-discoverable credential"
    );
}

#[test]
fn refusals_map_to_ctap_errors_and_store_nothing() {
    let mut e = setup();
    e.approver_mut().answers.push_back(Err(Refusal::Denied));
    assert_eq!(
        call(&mut e, 0x01, Some(mc("example.com", 1, true, vec![]))).err(),
        Some(Status::OperationDenied)
    );
    e.approver_mut().answers.push_back(Err(Refusal::Timeout));
    assert_eq!(
        call(&mut e, 0x01, Some(mc("example.com", 1, true, vec![]))).err(),
        Some(Status::UserActionTimeout)
    );
    e.approver_mut().answers.push_back(Err(Refusal::Cancelled));
    assert_eq!(
        call(&mut e, 0x01, Some(mc("example.com", 1, true, vec![]))).err(),
        Some(Status::KeepaliveCancel)
    );
    assert_eq!(e.store().credential_count().unwrap(), 0);
    assert_eq!(e.keys_mut().signatures, 0);
    let log = e.store().audit_tail(10).unwrap();
    let outcomes: Vec<&str> = log.iter().map(|r| r.outcome.as_str()).collect();
    assert_eq!(outcomes, ["ok", "denied", "timeout", "cancelled"]);
}

#[test]
fn option_and_algorithm_errors() {
    let mut e = setup();
    let bad_alg = {
        let mut m = mc("example.com", 1, true, vec![]);
        if let Value::Map(entries) = &mut m {
            entries[3].1 = cbor!([{ "alg" => -8, "type" => "public-key" }]).unwrap();
        }
        m
    };
    assert_eq!(
        call(&mut e, 0x01, Some(bad_alg)).err(),
        Some(Status::UnsupportedAlgorithm)
    );
    let mut up_false = mc("example.com", 1, true, vec![]);
    if let Value::Map(entries) = &mut up_false {
        entries[4].1 = cbor!({ "up" => false }).unwrap();
    }
    assert_eq!(
        call(&mut e, 0x01, Some(up_false)).err(),
        Some(Status::InvalidOption)
    );
    let rk_in_ga = ga(
        "example.com",
        &[],
        vec![(Value::from(5), cbor!({ "rk" => true }).unwrap())],
    );
    assert_eq!(
        call(&mut e, 0x02, Some(rk_in_ga)).err(),
        Some(Status::UnsupportedOption)
    );
    let no_protocol = mc(
        "example.com",
        1,
        true,
        vec![(Value::from(8), bytes(&[0; 32]))],
    );
    assert_eq!(
        call(&mut e, 0x01, Some(no_protocol)).err(),
        Some(Status::MissingParameter)
    );
    // The zero-length pinUvAuthParam probe: touch, then PIN_INVALID since a PIN is set.
    let probe = mc(
        "example.com",
        1,
        true,
        vec![
            (Value::from(8), bytes(&[])),
            (Value::from(9), Value::from(2)),
        ],
    );
    assert_eq!(
        call(&mut e, 0x01, Some(probe)).err(),
        Some(Status::PinInvalid)
    );
    assert_eq!(
        e.approver_mut().seen.last().unwrap().operation,
        Operation::Select
    );
}

#[test]
fn exclude_list_and_no_credentials() {
    let mut e = setup();
    let (id, _) = register(&mut e, "example.com", 1, false);
    let excl = mc(
        "example.com",
        2,
        false,
        vec![(
            Value::from(5),
            cbor!([{ "id" => bytes(&id), "type" => "public-key" }]).unwrap(),
        )],
    );
    assert_eq!(
        call(&mut e, 0x01, Some(excl)).err(),
        Some(Status::CredentialExcluded)
    );
    assert_eq!(
        call(&mut e, 0x02, Some(ga("nothing.example", &[], vec![]))).err(),
        Some(Status::NoCredentials)
    );
}

#[test]
fn credential_ids_are_bound_to_rp_and_integrity_protected() {
    let mut e = setup();
    let (id, key) = register(&mut e, "example.com", 1, false);
    assert_eq!(
        call(&mut e, 0x02, Some(ga("evil.example", &[&id], vec![]))).err(),
        Some(Status::NoCredentials)
    );
    let mut tampered = id.clone();
    tampered[25] ^= 0x80;
    assert_eq!(
        call(&mut e, 0x02, Some(ga("example.com", &[&tampered], vec![]))).err(),
        Some(Status::NoCredentials)
    );
    // Unknown ids are skipped; a good one later in the list is used.
    let r = call(
        &mut e,
        0x02,
        Some(ga("example.com", &[&[1, 2, 3], &id], vec![])),
    )
    .unwrap();
    check_assertion(&r, &key);
}

#[test]
fn several_discoverable_credentials_come_most_recent_first() {
    let mut e = setup();
    let (id1, k1) = register(&mut e, "example.com", 1, true);
    std::thread::sleep(std::time::Duration::from_millis(5));
    let (id2, k2) = register(&mut e, "example.com", 2, true);
    let t = token(&mut e, 2, "1234", Some(0x02), Some("example.com")).unwrap();
    let r = call(
        &mut e,
        0x02,
        Some(ga("example.com", &[], with_token_ga(2, &t, &CDH_GA))),
    )
    .unwrap();
    assert_eq!(as_int(get(&r, 5)), 2, "numberOfCredentials");
    let (_, first) = check_assertion(&r, &k2);
    assert_eq!(first, id2);
    let r = call(&mut e, 0x08, None).unwrap();
    let (_, second) = check_assertion(&r, &k1);
    assert_eq!(second, id1);
    assert_eq!(call(&mut e, 0x08, None).err(), Some(Status::NotAllowed));
}

#[test]
fn get_next_assertion_needs_a_preceding_get_assertion() {
    let mut e = setup();
    assert_eq!(call(&mut e, 0x08, None).err(), Some(Status::NotAllowed));
}

#[test]
fn pin_bound_credentials_are_unusable_silently_without_a_token() {
    let mut e = setup();
    let (id, _) = register(&mut e, "example.com", 1, false);
    // Turn alwaysUv off so the request is not upgraded to built-in UV by policy.
    let t = token(&mut e, 2, "1234", Some(0x20), None).unwrap();
    let mut msg = vec![0xffu8; 32];
    msg.extend([0x0d, 0x02]);
    let auth = authenticate(2, &t, &msg);
    call(
        &mut e,
        0x0d,
        Some(cbor!({ 1 => 2, 3 => 2, 4 => bytes(&auth) }).unwrap()),
    )
    .unwrap();
    let silent = ga(
        "example.com",
        &[&id],
        vec![(Value::from(5), cbor!({ "up" => false }).unwrap())],
    );
    assert_eq!(
        call(&mut e, 0x02, Some(silent)).err(),
        Some(Status::PuatRequired)
    );
    let before = e.keys_mut().signatures;
    // With user presence, the prompt asks for the PIN the key needs.
    let r = call(&mut e, 0x02, Some(ga("example.com", &[&id], vec![]))).unwrap();
    assert!(e.approver_mut().seen.last().unwrap().pin_required);
    assert_eq!(as_bytes(get(&r, 2))[32] & 0x05, 0x05);
    assert_eq!(e.keys_mut().signatures, before + 1);
}

#[test]
fn cred_protect_required_hides_credentials_without_uv() {
    let mut e = engine();
    // No PIN, alwaysUv off (config needs no token before a PIN exists).
    call(&mut e, 0x0d, Some(cbor!({ 1 => 2 }).unwrap())).unwrap();
    let ext = vec![(Value::from(6), cbor!({ "credProtect" => 3 }).unwrap())];
    let r = call(&mut e, 0x01, Some(mc("example.com", 1, true, ext))).unwrap();
    let (_, _, auth_data) = check_attestation(&r);
    assert_eq!(auth_data[32] & 0x04, 0, "no UV");
    assert_eq!(
        call(&mut e, 0x02, Some(ga("example.com", &[], vec![]))).err(),
        Some(Status::NoCredentials)
    );
    let r = call(&mut e, 0x01, Some(mc("example.com", 2, true, vec![]))).unwrap();
    let (_, key, _) = check_attestation(&r);
    let r = call(&mut e, 0x02, Some(ga("example.com", &[], vec![]))).unwrap();
    check_assertion(&r, &key);
    assert!(
        get(&r, 5).is_none(),
        "only the level-1 credential is visible"
    );
}

#[test]
fn hmac_secret_is_stable_per_credential_and_uv_state() {
    let mut e = setup();
    let ext = vec![(Value::from(6), cbor!({ "hmac-secret" => true }).unwrap())];
    let t = token(&mut e, 2, "1234", Some(0x01), Some("example.com")).unwrap();
    let mut extra = with_token(2, &t, &CDH_MC);
    extra.extend(ext);
    let r = call(&mut e, 0x01, Some(mc("example.com", 1, false, extra))).unwrap();
    let (id, key, auth_data) = check_attestation(&r);
    assert!(
        auth_data[32] & 0x80 != 0,
        "ED flag for the hmac-secret output"
    );
    let mut outputs = Vec::new();
    for salt in [[1u8; 32], [1u8; 32], [2u8; 32]] {
        let s = agree(&mut e, 2);
        let salt_enc = s.encrypt(&salt);
        let salt_auth = s.authenticate(&salt_enc);
        let input = cbor!({ "hmac-secret" => { 1 => s.cose(), 2 => bytes(&salt_enc), 3 => bytes(&salt_auth), 4 => 2 } }).unwrap();
        let r = call(
            &mut e,
            0x02,
            Some(ga("example.com", &[&id], vec![(Value::from(4), input)])),
        )
        .unwrap();
        let (auth_data, _) = check_assertion(&r, &key);
        let mut rd = &auth_data[37..];
        let ext: Value = ciborium::de::from_reader(&mut rd).unwrap();
        outputs.push(s.decrypt(&as_bytes(get_text(&ext, "hmac-secret"))));
    }
    assert_eq!(outputs[0], outputs[1], "same salt, same secret");
    assert_ne!(outputs[0], outputs[2], "another salt, another secret");
    assert_eq!(outputs[0].len(), 32);
    // A saltAuth that does not verify is refused.
    let s = agree(&mut e, 2);
    let salt_enc = s.encrypt(&[1u8; 32]);
    let input = cbor!({ "hmac-secret" => { 1 => s.cose(), 2 => bytes(&salt_enc), 3 => bytes(&[0u8; 32]), 4 => 2 } }).unwrap();
    assert_eq!(
        call(
            &mut e,
            0x02,
            Some(ga("example.com", &[&id], vec![(Value::from(4), input)]))
        )
        .err(),
        Some(Status::ExtensionFirst)
    );
}

/// A silent (up = false) assertion with a token: it uses the token without clearing its
/// permissions, so the same token can be tried again later.
fn silent_with_token(e: &mut TestEngine, id: &[u8], t: &[u8]) -> Result<Value, Status> {
    let mut extra = with_token_ga(2, t, &CDH_GA);
    extra.push((Value::from(5), cbor!({ "up" => false }).unwrap()));
    call(e, 0x02, Some(ga("example.com", &[id], extra)))
}

/// §6.5.2.2 on the engine's clock: a token not used within 30 s of its issue expires, and
/// one in use expires 10 minutes after its issue whatever happens.
#[test]
fn tokens_expire_unused_after_30_s_and_in_use_after_10_min() {
    use std::time::Duration;
    let mut e = setup();
    let (id, _) = register(&mut e, "example.com", 1, false);
    let clock = e.clock().clone();

    let t = token(&mut e, 2, "1234", Some(0x02), Some("example.com")).unwrap();
    clock.advance(Duration::from_secs(31));
    assert_eq!(
        silent_with_token(&mut e, &id, &t).err(),
        Some(Status::PinAuthInvalid),
        "unused for 31 s: expired"
    );

    let t = token(&mut e, 2, "1234", Some(0x02), Some("example.com")).unwrap();
    clock.advance(Duration::from_secs(29));
    silent_with_token(&mut e, &id, &t).expect("used within 30 s");
    clock.advance(Duration::from_secs(9 * 60));
    silent_with_token(&mut e, &id, &t).expect("in use, 9.5 min after issue");
    clock.advance(Duration::from_secs(32));
    assert_eq!(
        silent_with_token(&mut e, &id, &t).err(),
        Some(Status::PinAuthInvalid),
        "10 min after issue: expired however it is used"
    );
}

/// §6.3: getNextAssertion within 30 s of the previous response, not after.
#[test]
fn get_next_assertion_has_a_30_s_window() {
    use std::time::Duration;
    let mut e = setup();
    register(&mut e, "example.com", 1, true);
    register(&mut e, "example.com", 2, true);
    register(&mut e, "example.com", 3, true);
    let clock = e.clock().clone();
    let t = token(&mut e, 2, "1234", Some(0x02), Some("example.com")).unwrap();
    call(
        &mut e,
        0x02,
        Some(ga("example.com", &[], with_token_ga(2, &t, &CDH_GA))),
    )
    .unwrap();
    clock.advance(Duration::from_secs(29));
    call(&mut e, 0x08, None).expect("29 s later: still open");
    clock.advance(Duration::from_secs(31));
    assert_eq!(
        call(&mut e, 0x08, None).err(),
        Some(Status::NotAllowed),
        "31 s after the previous response: closed"
    );
}

/// A token requested through our own UV prompt without an rpId can be used for any site:
/// the prompt says so, instead of naming none.
#[test]
fn a_uv_token_without_an_rp_id_is_shown_as_for_any_site() {
    let mut e = setup();
    let s = agree(&mut e, 2);
    call(
        &mut e,
        0x06,
        Some(cbor!({ 1 => 2, 2 => 6, 3 => s.cose(), 9 => 2 }).unwrap()),
    )
    .unwrap();
    let p = e.approver_mut().seen.last().unwrap().clone();
    assert!(p.any_site && p.rp_id.is_none() && p.pin_required);
    let s = agree(&mut e, 2);
    call(
        &mut e,
        0x06,
        Some(cbor!({ 1 => 2, 2 => 6, 3 => s.cose(), 9 => 2, 0x0a => "example.com" }).unwrap()),
    )
    .unwrap();
    let p = e.approver_mut().seen.last().unwrap().clone();
    assert!(!p.any_site);
    assert_eq!(p.rp_id.as_deref(), Some("example.com"));
}

/// userSelected (0x06) only to a client known to read it (issue 24): a Chromium-family
/// requester gets it for the one account the person approved; an unknown requester, a
/// Firefox under any name, or none (a node several processes hold) gets the same account
/// without it. With an allowList, nobody gets it.
#[test]
fn user_selected_goes_only_to_the_chromium_family_named_positively() {
    let mut e = setup();
    let (id, key) = register(&mut e, "example.com", 1, true);
    let discoverable = |e: &mut TestEngine, who: Option<&str>| {
        e.approver_mut().requester = who.map(str::to_owned);
        let r = call(e, 0x02, Some(ga("example.com", &[], vec![]))).unwrap();
        check_assertion(&r, &key);
        assert_eq!(as_bytes(get_text(&get(&r, 1).unwrap(), "id")), id);
        get(&r, 6)
    };
    for chromium in ["chromium", "chrome", "msedge", "brave"] {
        assert_eq!(
            discoverable(&mut e, Some(chromium)),
            Some(Value::Bool(true)),
            "{chromium}"
        );
    }
    for other in [
        None,
        Some("firefox"),
        Some("firefox-esr"),
        Some("waterfox"),
        Some("mullvadbrowser"),
        Some("python3"),
        Some("chromium-evil"),
        Some("tpm-passkey-moz"),
    ] {
        assert_eq!(discoverable(&mut e, other), None, "{other:?}");
    }
    e.approver_mut().requester = Some("chromium".into());
    let r = call(&mut e, 0x02, Some(ga("example.com", &[&id], vec![]))).unwrap();
    assert_eq!(get(&r, 6), None, "not with an allowList");
}
