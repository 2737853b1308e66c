use crate::harness::{platform::*, *};
use tpm_passkey_core::wire::Status;

#[test]
fn get_info_reports_always_uv_and_no_u2f_by_default() {
    let mut e = engine();
    let info = call(&mut e, 0x04, None).unwrap();
    let versions = get(&info, 1).unwrap();
    assert_eq!(versions, cbor!(["FIDO_2_0", "FIDO_2_1"]).unwrap());
    let opts = get(&info, 4).unwrap();
    assert_eq!(get_text(&opts, "alwaysUv"), Some(true.into()));
    assert_eq!(get_text(&opts, "clientPin"), Some(false.into()));
    assert_eq!(get_text(&opts, "makeCredUvNotRqd"), Some(false.into()));
    assert_eq!(get(&info, 6).unwrap(), cbor!([2, 1]).unwrap());
    assert_eq!(as_bytes(get(&info, 3)), tpm_passkey_core::AAGUID.to_vec());
    assert_eq!(as_int(get(&info, 0x0d)), 4);
}

#[test]
fn pin_retries_without_a_pin_is_pin_not_set() {
    let mut e = engine();
    assert_eq!(
        call(&mut e, 0x06, Some(cbor!({ 1 => 2, 2 => 1 }).unwrap())).err(),
        Some(Status::PinNotSet)
    );
    set_pin(&mut e, 2, "1234").unwrap();
    let r = call(&mut e, 0x06, Some(cbor!({ 1 => 2, 2 => 1 }).unwrap())).unwrap();
    assert_eq!(as_int(get(&r, 3)), 8);
}

#[test]
fn set_pin_both_protocols_and_policy() {
    for protocol in [1u8, 2] {
        let mut e = engine();
        assert_eq!(
            set_pin(&mut e, protocol, "123").err(),
            Some(Status::PinPolicyViolation)
        );
        set_pin(&mut e, protocol, "1234").unwrap();
        assert_eq!(
            set_pin(&mut e, protocol, "5678").err(),
            Some(Status::NotAllowed),
            "a PIN is already set"
        );
        let info = call(&mut e, 0x04, None).unwrap();
        assert_eq!(
            get_text(&get(&info, 4).unwrap(), "clientPin"),
            Some(true.into())
        );
        let r = call(
            &mut e,
            0x06,
            Some(cbor!({ 1 => protocol, 2 => 1 }).unwrap()),
        )
        .unwrap();
        assert_eq!(as_int(get(&r, 3)), 8);
    }
}

#[test]
fn set_pin_refuses_a_bad_auth_param_and_missing_fields() {
    let mut e = engine();
    let s = agree(&mut e, 2);
    let enc = s.encrypt(&padded("1234"));
    let mut auth = s.authenticate(&enc);
    auth[0] ^= 1;
    let r = call(
        &mut e,
        0x06,
        Some(
            cbor!({ 1 => 2, 2 => 3, 3 => s.cose(), 4 => bytes(&auth), 5 => bytes(&enc) }).unwrap(),
        ),
    );
    assert_eq!(r.err(), Some(Status::PinAuthInvalid));
    let r = call(
        &mut e,
        0x06,
        Some(cbor!({ 1 => 2, 2 => 3, 3 => s.cose(), 5 => bytes(&enc) }).unwrap()),
    );
    assert_eq!(r.err(), Some(Status::MissingParameter));
    let r = call(&mut e, 0x06, Some(cbor!({ 2 => 2 }).unwrap()));
    assert_eq!(
        r.err(),
        Some(Status::MissingParameter),
        "protocol is required"
    );
    let r = call(&mut e, 0x06, Some(cbor!({ 1 => 3, 2 => 2 }).unwrap()));
    assert_eq!(
        r.err(),
        Some(Status::InvalidParameter),
        "protocol 3 does not exist"
    );
}

#[test]
fn wrong_pins_count_in_the_key_store_and_block_after_three_per_boot() {
    let mut e = engine();
    set_pin(&mut e, 2, "1234").unwrap();
    assert_eq!(
        token(&mut e, 2, "0000", None, None).err(),
        Some(Status::PinInvalid)
    );
    assert_eq!(
        token(&mut e, 2, "0000", None, None).err(),
        Some(Status::PinInvalid)
    );
    let retries = call(&mut e, 0x06, Some(cbor!({ 1 => 2, 2 => 1 }).unwrap())).unwrap();
    assert_eq!(as_int(get(&retries, 3)), 6);
    // The right PIN restores every retry.
    token(&mut e, 2, "1234", None, None).unwrap();
    let retries = call(&mut e, 0x06, Some(cbor!({ 1 => 2, 2 => 1 }).unwrap())).unwrap();
    assert_eq!(as_int(get(&retries, 3)), 8);
    for _ in 0..2 {
        assert_eq!(
            token(&mut e, 2, "0000", None, None).err(),
            Some(Status::PinInvalid)
        );
    }
    assert_eq!(
        token(&mut e, 2, "0000", None, None).err(),
        Some(Status::PinAuthBlocked)
    );
    assert_eq!(
        token(&mut e, 2, "1234", None, None).err(),
        Some(Status::PinAuthBlocked),
        "until restart"
    );
    let r = call(&mut e, 0x06, Some(cbor!({ 1 => 2, 2 => 1 }).unwrap())).unwrap();
    assert_eq!(get(&r, 4), Some(true.into()), "powerCycleState");
}

#[test]
fn pin_blocks_at_the_key_store_limit() {
    let mut e = engine();
    set_pin(&mut e, 1, "1234").unwrap();
    // Simulate restarts by resetting the per-boot counter through fresh failures: drive the
    // key store directly to seven failures, then one more through clientPIN.
    use tpm_passkey_core::{KeyStore, PinHash};
    for _ in 0..7 {
        let _ = e.keys_mut().verify_pin(&PinHash::from_pin("bad"));
    }
    assert_eq!(
        token(&mut e, 1, "0000", None, None).err(),
        Some(Status::PinBlocked)
    );
    assert_eq!(
        token(&mut e, 1, "1234", None, None).err(),
        Some(Status::PinBlocked)
    );
}

#[test]
fn change_pin_checks_the_old_pin() {
    let mut e = engine();
    set_pin(&mut e, 2, "1234").unwrap();
    let change = |e: &mut TestEngine, old: &str, new: &str| {
        let s = agree(e, 2);
        let new_enc = s.encrypt(&padded(new));
        let hash_enc = s.encrypt(&pin_hash(old));
        let auth = s.authenticate(&[new_enc.as_slice(), &hash_enc].concat());
        call(e, 0x06, Some(cbor!({ 1 => 2, 2 => 4, 3 => s.cose(), 4 => bytes(&auth), 5 => bytes(&new_enc), 6 => bytes(&hash_enc) }).unwrap()))
    };
    assert_eq!(
        change(&mut e, "9999", "5678").err(),
        Some(Status::PinInvalid)
    );
    assert_eq!(
        change(&mut e, "1234", "56").err(),
        Some(Status::PinPolicyViolation)
    );
    change(&mut e, "1234", "5678").unwrap();
    assert_eq!(
        token(&mut e, 2, "1234", None, None).err(),
        Some(Status::PinInvalid)
    );
    token(&mut e, 2, "5678", None, None).unwrap();
}

#[test]
fn token_permissions_are_checked() {
    let mut e = engine();
    set_pin(&mut e, 2, "1234").unwrap();
    let platform_key = agree(&mut e, 2).cose();
    let r = call(
        &mut e,
        0x06,
        Some(cbor!({ 1 => 2, 2 => 9, 3 => platform_key, 6 => bytes(&[0; 32]) }).unwrap()),
    );
    assert_eq!(
        r.err(),
        Some(Status::MissingParameter),
        "permissions are required"
    );
    assert_eq!(
        token(&mut e, 2, "1234", Some(0), None).err(),
        Some(Status::InvalidParameter)
    );
    assert_eq!(
        token(&mut e, 2, "1234", Some(0x08), None).err(),
        Some(Status::UnauthorizedPermission)
    );
    // A token with only ga cannot make a credential.
    let t = token(&mut e, 2, "1234", Some(0x02), Some("example.com")).unwrap();
    let r = call(
        &mut e,
        0x01,
        Some(mc("example.com", 1, true, with_token(2, &t, &[0xcd; 32]))),
    );
    assert_eq!(r.err(), Some(Status::PinAuthInvalid));
    // A token bound to another relying party cannot either.
    let t = token(&mut e, 2, "1234", Some(0x01), Some("other.example")).unwrap();
    let r = call(
        &mut e,
        0x01,
        Some(mc("example.com", 1, true, with_token(2, &t, &[0xcd; 32]))),
    );
    assert_eq!(r.err(), Some(Status::PinAuthInvalid));
    // getPinToken takes no permissions.
    let s = agree(&mut e, 2);
    let enc = s.encrypt(&pin_hash("1234"));
    let r = call(
        &mut e,
        0x06,
        Some(cbor!({ 1 => 2, 2 => 5, 3 => s.cose(), 6 => bytes(&enc), 9 => 1 }).unwrap()),
    );
    assert_eq!(r.err(), Some(Status::InvalidParameter));
}

#[test]
fn built_in_uv_token_asks_the_approver_for_the_pin() {
    let mut e = engine();
    set_pin(&mut e, 2, "1234").unwrap();
    e.approver_mut().answers.push_back(Ok(Some("0000".into())));
    e.approver_mut().pin = Some("1234".into());
    let s = agree(&mut e, 2);
    let r = call(
        &mut e,
        0x06,
        Some(cbor!({ 1 => 2, 2 => 6, 3 => s.cose(), 9 => 1, 0x0a => "example.com" }).unwrap()),
    )
    .unwrap();
    let t = s.decrypt(&as_bytes(get(&r, 2)));
    assert_eq!(t.len(), 32);
    let seen = &e.approver_mut().seen;
    assert_eq!(seen.len(), 2, "asked again after the wrong PIN");
    assert!(seen[1].pin_was_wrong && seen[1].pin_required);
    assert_eq!(seen[1].pin_retries, Some(7));
    // The token works for makeCredential, without a second prompt: the UV prompt saw the
    // user (userPresent), and that flag is spent by this ceremony.
    let r = call(
        &mut e,
        0x01,
        Some(mc("example.com", 1, true, with_token(2, &t, &[0xcd; 32]))),
    )
    .unwrap();
    check_attestation(&r);
    assert_eq!(e.approver_mut().seen.len(), 2, "no second prompt");
}

#[test]
fn malformed_requests_get_precise_errors() {
    let mut e = engine();
    assert_eq!(e.process(&[0x01, 0xff])[..], [Status::InvalidCbor.code()]);
    assert_eq!(
        e.process(&[0x01, 0xa0])[..],
        [Status::MissingParameter.code()]
    );
    assert_eq!(e.process(&[0x55])[..], [Status::InvalidCommand.code()]);
    assert_eq!(e.process(&[])[..], [Status::InvalidLength.code()]);
    assert_eq!(
        e.process(&[0x06, 0xa1, 0x02, 0x08])[..],
        [Status::InvalidSubcommand.code()]
    );
}
