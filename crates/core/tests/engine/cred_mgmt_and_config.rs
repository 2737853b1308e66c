use crate::harness::{platform::*, *};
use ciborium::value::Value;
use sha2::{Digest, Sha256};
use tpm_passkey_core::wire::Status;
use tpm_passkey_core::{KeyStore, Operation, Refusal};

fn setup() -> TestEngine {
    let mut e = engine();
    set_pin(&mut e, 2, "1234").unwrap();
    e.approver_mut().pin = Some("1234".into());
    e
}

fn enc(v: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    ciborium::ser::into_writer(v, &mut out).unwrap();
    out
}

/// Sends `cmd` (credentialManagement or authenticatorConfig) with subcommand `sub`,
/// authenticated by a fresh token with `permission` over `prefix || sub || params` (§6.8,
/// §6.11).
fn authorized(
    e: &mut TestEngine,
    cmd: u8,
    permission: u64,
    prefix: &[u8],
    sub: u8,
    params: Option<Value>,
) -> Result<Value, Status> {
    let t = token(e, 2, "1234", Some(permission), None).unwrap();
    let mut msg = prefix.to_vec();
    msg.push(sub);
    if let Some(p) = &params {
        msg.extend(enc(p));
    }
    let auth = authenticate(2, &t, &msg);
    let mut m = vec![
        (Value::from(1), Value::from(sub)),
        (Value::from(3), Value::from(2)),
        (Value::from(4), bytes(&auth)),
    ];
    if let Some(p) = params {
        m.push((Value::from(2), p));
    }
    call(e, cmd, Some(Value::Map(m)))
}

/// credentialManagement with a fresh cm token.
fn cm(e: &mut TestEngine, sub: u8, params: Option<Value>) -> Result<Value, Status> {
    authorized(e, 0x0a, 0x04, &[], sub, params)
}

fn register(e: &mut TestEngine, rp: &str, user: u8) -> Vec<u8> {
    let r = call(e, 0x01, Some(mc(rp, user, true, vec![]))).unwrap();
    check_attestation(&r).0
}

#[test]
fn credential_management_lists_updates_and_deletes() {
    let mut e = setup();
    let a1 = register(&mut e, "a.example", 1);
    let _a2 = register(&mut e, "a.example", 2);
    let _b1 = register(&mut e, "b.example", 1);
    let meta = cm(&mut e, 0x01, None).unwrap();
    assert_eq!(as_int(get(&meta, 1)), 3);
    assert_eq!(
        as_int(get(&meta, 2)),
        i128::from(tpm_passkey_core::MAX_DISCOVERABLE) - 3
    );

    let first = cm(&mut e, 0x02, None).unwrap();
    assert_eq!(as_int(get(&first, 5)), 2, "totalRPs");
    let rp = get(&first, 3).unwrap();
    assert_eq!(get_text(&rp, "id"), Some(Value::Text("a.example".into())));
    assert_eq!(
        as_bytes(get(&first, 4)),
        Sha256::digest(b"a.example").to_vec()
    );
    let next = call(&mut e, 0x0a, Some(cbor!({ 1 => 3 }).unwrap())).unwrap();
    assert_eq!(
        get_text(&get(&next, 3).unwrap(), "id"),
        Some(Value::Text("b.example".into()))
    );
    assert_eq!(
        call(&mut e, 0x0a, Some(cbor!({ 1 => 3 }).unwrap())).err(),
        Some(Status::NotAllowed)
    );

    let hash = Sha256::digest(b"a.example").to_vec();
    let c = cm(&mut e, 0x04, Some(cbor!({ 1 => bytes(&hash) }).unwrap())).unwrap();
    assert_eq!(as_int(get(&c, 9)), 2, "totalCredentials");
    assert!(get(&c, 8).is_some(), "public key");
    let c2 = call(&mut e, 0x0a, Some(cbor!({ 1 => 5 }).unwrap())).unwrap();
    let ids = [
        as_bytes(get_text(&get(&c, 7).unwrap(), "id")),
        as_bytes(get_text(&get(&c2, 7).unwrap(), "id")),
    ];
    assert!(ids.contains(&a1));

    // updateUserInformation: the user handle must match.
    let desc = cbor!({ "id" => bytes(&a1), "type" => "public-key" }).unwrap();
    let wrong_user =
        cbor!({ 2 => desc.clone(), 3 => { "id" => bytes(&[9]), "name" => "x" } }).unwrap();
    assert_eq!(
        cm(&mut e, 0x07, Some(wrong_user)).err(),
        Some(Status::InvalidParameter)
    );
    let update =
        cbor!({ 2 => desc.clone(), 3 => { "id" => bytes(&[1]), "name" => "renamed" } }).unwrap();
    cm(&mut e, 0x07, Some(update)).unwrap();
    assert_eq!(
        e.store()
            .credential(&a1)
            .unwrap()
            .unwrap()
            .user_name
            .as_deref(),
        Some("renamed")
    );

    cm(&mut e, 0x06, Some(cbor!({ 2 => desc.clone() }).unwrap())).unwrap();
    assert_eq!(
        cm(&mut e, 0x06, Some(cbor!({ 2 => desc }).unwrap())).err(),
        Some(Status::NoCredentials)
    );
    // The deleted credential can no longer sign in: deletion revokes it.
    assert_eq!(
        call(&mut e, 0x02, Some(ga("a.example", &[&a1], vec![]))).err(),
        Some(Status::NoCredentials)
    );
    let empty = Sha256::digest(b"none.example").to_vec();
    assert_eq!(
        cm(&mut e, 0x04, Some(cbor!({ 1 => bytes(&empty) }).unwrap())).err(),
        Some(Status::NoCredentials)
    );
}

/// The cap getInfo reports is the one enforced: with one place left, one more discoverable
/// credential is stored and the next is KEY_STORE_FULL (§6.1.2 step 15); enumeration still
/// finds a site among a thousand.
#[test]
fn the_discoverable_cap_is_reported_and_enforced() {
    let mut e = setup();
    let first = register(&mut e, "site0.example", 1);
    let model = e.store().credential(&first).unwrap().unwrap();
    let max = tpm_passkey_core::MAX_DISCOVERABLE;
    let seeded: Vec<_> = (1..max - 1)
        .map(|i| {
            let mut c = model.clone();
            c.id = format!("seeded-{i}").into_bytes();
            c.rp_id = format!("site{}.example", i % 1000);
            c.user_id = i.to_be_bytes().to_vec();
            c
        })
        .collect();
    e.import_credentials(&seeded).unwrap();
    let info = call(&mut e, 0x04, None).unwrap();
    assert_eq!(
        as_int(get(&info, 0x14)),
        1,
        "remainingDiscoverableCredentials"
    );
    register(&mut e, "last.example", 1);
    assert_eq!(
        call(&mut e, 0x01, Some(mc("full.example", 1, true, vec![]))).err(),
        Some(Status::KeyStoreFull)
    );
    let meta = cm(&mut e, 0x01, None).unwrap();
    assert_eq!(as_int(get(&meta, 1)), i128::from(max));
    assert_eq!(as_int(get(&meta, 2)), 0);
    let rps = cm(&mut e, 0x02, None).unwrap();
    assert_eq!(as_int(get(&rps, 5)), 1001, "totalRPs");
    let hash = Sha256::digest(b"site7.example").to_vec();
    let creds = cm(&mut e, 0x04, Some(cbor!({ 1 => bytes(&hash) }).unwrap())).unwrap();
    assert_eq!(as_int(get(&creds, 9)), 10, "totalCredentials");
}

#[test]
fn credential_management_requires_a_cm_token() {
    let mut e = setup();
    assert_eq!(
        call(&mut e, 0x0a, Some(cbor!({ 1 => 1 }).unwrap())).err(),
        Some(Status::PuatRequired)
    );
    let t = token(&mut e, 2, "1234", Some(0x03), Some("a.example")).unwrap();
    let auth = authenticate(2, &t, &[1]);
    let r = call(
        &mut e,
        0x0a,
        Some(cbor!({ 1 => 1, 3 => 2, 4 => bytes(&auth) }).unwrap()),
    );
    assert_eq!(
        r.err(),
        Some(Status::PinAuthInvalid),
        "mc|ga token lacks cm"
    );
    // An rp-bound cm token cannot read the metadata of every rp.
    let t = token(&mut e, 2, "1234", Some(0x04), Some("a.example")).unwrap();
    let auth = authenticate(2, &t, &[1]);
    let r = call(
        &mut e,
        0x0a,
        Some(cbor!({ 1 => 1, 3 => 2, 4 => bytes(&auth) }).unwrap()),
    );
    assert_eq!(r.err(), Some(Status::PinAuthInvalid));
}

/// authenticatorConfig with a fresh acfg token (message prefix: 32 × 0xff || 0x0d).
fn config(e: &mut TestEngine, sub: u8, params: Option<Value>) -> Result<Value, Status> {
    let prefix = [[0xffu8; 32].as_slice(), &[0x0d]].concat();
    authorized(e, 0x0d, 0x20, &prefix, sub, params)
}

#[test]
fn config_toggles_always_uv_and_sets_min_pin_length() {
    let mut e = setup();
    assert_eq!(
        call(&mut e, 0x0d, Some(cbor!({ 1 => 2 }).unwrap())).err(),
        Some(Status::PuatRequired)
    );
    config(&mut e, 0x02, None).unwrap();
    let info = call(&mut e, 0x04, None).unwrap();
    assert_eq!(
        get_text(&get(&info, 4).unwrap(), "alwaysUv"),
        Some(false.into())
    );
    assert_eq!(
        get(&info, 1).unwrap(),
        cbor!(["U2F_V2", "FIDO_2_0", "FIDO_2_1"]).unwrap()
    );
    assert_eq!(
        config(&mut e, 0x03, Some(cbor!({ 1 => 3 }).unwrap())).err(),
        Some(Status::PinPolicyViolation),
        "never lower"
    );
    config(
        &mut e,
        0x03,
        Some(cbor!({ 1 => 6, 2 => ["example.com"] }).unwrap()),
    )
    .unwrap();
    let info = call(&mut e, 0x04, None).unwrap();
    assert_eq!(as_int(get(&info, 0x0d)), 6);
    assert_eq!(
        get(&info, 0x0c),
        Some(true.into()),
        "the 4-digit PIN must now change"
    );
    assert_eq!(
        token(&mut e, 2, "1234", Some(0x01), None).err(),
        Some(Status::PinPolicyViolation)
    );
    // §6.5.5.7.1: the legacy getPinToken says PIN_INVALID while the change is forced.
    assert_eq!(
        token(&mut e, 2, "1234", None, None).err(),
        Some(Status::PinInvalid)
    );
}

#[test]
fn min_pin_length_extension_only_for_listed_rps() {
    let mut e = setup();
    config(
        &mut e,
        0x03,
        Some(cbor!({ 2 => ["listed.example"] }).unwrap()),
    )
    .unwrap();
    let ext = || vec![(Value::from(6), cbor!({ "minPinLength" => true }).unwrap())];
    for (rp, expected) in [("listed.example", Some(4)), ("other.example", None)] {
        let r = call(&mut e, 0x01, Some(mc(rp, 1, false, ext()))).unwrap();
        let (id, _, auth_data) = check_attestation(&r);
        let key_start = 55 + id.len();
        let mut rest = &auth_data[key_start..];
        let _key: Value = ciborium::de::from_reader(&mut rest).unwrap();
        let got = if rest.is_empty() {
            None
        } else {
            let ext: Value = ciborium::de::from_reader(&mut rest).unwrap();
            Some(as_int(get_text(&ext, "minPinLength")))
        };
        assert_eq!(got, expected, "{rp}");
    }
}

#[test]
fn reset_needs_approval_and_erases_everything() {
    let mut e = setup();
    let id = register(&mut e, "a.example", 1);
    let wrapped = {
        let r = call(&mut e, 0x01, Some(mc("a.example", 2, false, vec![]))).unwrap();
        check_attestation(&r).0
    };
    e.approver_mut().answers.push_back(Err(Refusal::Denied));
    assert_eq!(
        call(&mut e, 0x07, None).err(),
        Some(Status::OperationDenied)
    );
    assert_eq!(
        e.store().credential_count().unwrap(),
        1,
        "a denied reset erases nothing"
    );
    // With a PIN set, the reset prompt takes the PIN and the TPM checks it: an approval
    // without it, or with a wrong one, erases nothing.
    e.approver_mut().answers.push_back(Ok(None));
    assert_eq!(call(&mut e, 0x07, None).err(), Some(Status::UvInvalid));
    for _ in 0..3 {
        e.approver_mut().answers.push_back(Ok(Some("0000".into())));
    }
    assert_eq!(call(&mut e, 0x07, None).err(), Some(Status::PinAuthBlocked));
    assert_eq!(
        e.store().credential_count().unwrap(),
        1,
        "still nothing erased"
    );
    assert_eq!(
        e.keys_mut().pin_retries().unwrap(),
        5,
        "each wrong PIN counted"
    );
    // (Three wrong PINs pause PIN checks until the daemon restarts: a new engine on
    // the same key store stands for that.)
    let mut e = restarted(e);
    call(&mut e, 0x07, None).unwrap();
    let last = e.approver_mut().seen.last().unwrap().clone();
    assert_eq!(last.operation, Operation::Reset);
    assert!(last.pin_required, "the reset prompt asks for the PIN");
    assert_eq!(e.store().credential_count().unwrap(), 0);
    let info = call(&mut e, 0x04, None).unwrap();
    assert_eq!(
        get_text(&get(&info, 4).unwrap(), "clientPin"),
        Some(false.into())
    );
    // Old ids, discoverable or wrapped, are dead (and so would the TPM's blobs be).
    set_pin(&mut e, 2, "1234").unwrap();
    assert_eq!(
        call(&mut e, 0x02, Some(ga("a.example", &[&id], vec![]))).err(),
        Some(Status::NoCredentials)
    );
    assert_eq!(
        call(&mut e, 0x02, Some(ga("a.example", &[&wrapped], vec![]))).err(),
        Some(Status::NoCredentials)
    );
    assert!(e.store().verify_audit_chain().unwrap());
}

/// The engine after a daemon restart: same key store, store and approver, fresh PIN state.
fn restarted(e: TestEngine) -> TestEngine {
    let (keys, approver, store, clock) = e.into_parts();
    TestEngine::with_clock(keys, approver, store, clock).unwrap()
}

#[test]
fn without_a_pin_reset_needs_presence_only() {
    let mut e = engine();
    e.set_settings_local(Some(false), None, None).unwrap();
    register(&mut e, "a.example", 1);
    call(&mut e, 0x07, None).unwrap();
    assert!(!e.approver_mut().seen.last().unwrap().pin_required);
    assert_eq!(e.store().credential_count().unwrap(), 0);
}

/// Regression: enumeration state used to survive a reset, so getNextRP /
/// getNextCredential returned users that no longer existed (the fido2-tests
/// `test_rpnext_without_rpbegin` class of bug).
#[test]
fn a_reset_ends_any_enumeration() {
    for local in [false, true] {
        let mut e = setup();
        register(&mut e, "a.example", 1);
        register(&mut e, "b.example", 1);
        let a = Sha256::digest(b"a.example").to_vec();
        register(&mut e, "a.example", 2);
        cm(&mut e, 0x02, None).unwrap();
        if local {
            e.reset_local(Some(&tpm_passkey_core::ipc::Pin::new("1234".into())))
                .unwrap();
        } else {
            call(&mut e, 0x07, None).unwrap();
        }
        assert_eq!(
            call(&mut e, 0x0a, Some(cbor!({ 1 => 3 }).unwrap())).err(),
            Some(Status::NotAllowed),
            "no next RP after a reset (local: {local})"
        );
        set_pin(&mut e, 2, "1234").unwrap();
        register(&mut e, "a.example", 1);
        register(&mut e, "a.example", 2);
        cm(&mut e, 0x04, Some(cbor!({ 1 => bytes(&a) }).unwrap())).unwrap();
        if local {
            e.reset_local(Some(&tpm_passkey_core::ipc::Pin::new("1234".into())))
                .unwrap();
        } else {
            call(&mut e, 0x07, None).unwrap();
        }
        assert_eq!(
            call(&mut e, 0x0a, Some(cbor!({ 1 => 5 }).unwrap())).err(),
            Some(Status::NotAllowed),
            "no next credential after a reset (local: {local})"
        );
    }
}

#[test]
fn an_enumeration_ends_at_a_local_deletion_or_any_other_command() {
    let mut e = setup();
    let a1 = register(&mut e, "a.example", 1);
    register(&mut e, "a.example", 2);
    register(&mut e, "a.example", 3);
    let hash = Sha256::digest(b"a.example").to_vec();
    let first = cm(&mut e, 0x04, Some(cbor!({ 1 => bytes(&hash) }).unwrap())).unwrap();
    let first_id = as_bytes(get_text(&get(&first, 7).unwrap(), "id"));
    // Delete one of the two remaining ones locally (the sealed tables change only through
    // the engine): the enumeration ends rather than name what is gone.
    let victim = e
        .store()
        .credentials_for_rp("a.example")
        .unwrap()
        .into_iter()
        .map(|c| c.id)
        .find(|id| *id != first_id)
        .unwrap();
    let victim_hex: String = victim.iter().map(|b| format!("{b:02x}")).collect();
    e.delete_passkey(
        &victim_hex,
        Some(&tpm_passkey_core::ipc::Pin::new("1234".into())),
    )
    .unwrap();
    assert_eq!(
        call(&mut e, 0x0a, Some(cbor!({ 1 => 5 }).unwrap())).err(),
        Some(Status::NotAllowed)
    );
    // A new enumeration names the one left besides the first, then ends.
    let again = cm(&mut e, 0x04, Some(cbor!({ 1 => bytes(&hash) }).unwrap())).unwrap();
    let again_id = as_bytes(get_text(&get(&again, 7).unwrap(), "id"));
    let next = call(&mut e, 0x0a, Some(cbor!({ 1 => 5 }).unwrap())).unwrap();
    let next_id = as_bytes(get_text(&get(&next, 7).unwrap(), "id"));
    assert!(![&again_id, &next_id].contains(&&victim));
    assert_eq!(
        call(&mut e, 0x0a, Some(cbor!({ 1 => 5 }).unwrap())).err(),
        Some(Status::NotAllowed)
    );
    // getInfo in between ends an enumeration.
    cm(&mut e, 0x04, Some(cbor!({ 1 => bytes(&hash) }).unwrap())).unwrap();
    call(&mut e, 0x04, None).unwrap();
    assert_eq!(
        call(&mut e, 0x0a, Some(cbor!({ 1 => 5 }).unwrap())).err(),
        Some(Status::NotAllowed)
    );
    let _ = a1;
}

#[test]
fn selection_asks_for_presence() {
    let mut e = engine();
    call(&mut e, 0x0b, None).unwrap();
    e.approver_mut().answers.push_back(Err(Refusal::Timeout));
    assert_eq!(
        call(&mut e, 0x0b, None).err(),
        Some(Status::UserActionTimeout)
    );
}
