//! Requests built with ciborium's own encoder (not ours), so that a codec bug cannot hide.
use super::*;
use ciborium::cbor;

fn enc(v: ciborium::value::Value) -> Vec<u8> {
    let mut out = Vec::new();
    ciborium::ser::into_writer(&v, &mut out).unwrap();
    out
}

fn make_credential_map() -> ciborium::value::Value {
    cbor!({
        1 => ciborium::value::Value::Bytes(vec![0x11; 32]),
        2 => { "id" => "example.com", "name" => "Example" },
        3 => { "id" => ciborium::value::Value::Bytes(vec![1, 2, 3]), "name" => "alice", "displayName" => "Alice" },
        4 => [ { "alg" => -8, "type" => "public-key" }, { "alg" => -7, "type" => "public-key" } ],
        5 => [ { "id" => ciborium::value::Value::Bytes(vec![9; 16]), "type" => "public-key" } ],
        6 => { "credProtect" => 2, "hmac-secret" => true, "unknownExt" => 5 },
        7 => { "rk" => true, "uv" => false },
        8 => ciborium::value::Value::Bytes(vec![0; 32]),
        9 => 2,
        99 => "ignored"
    })
    .unwrap()
}

#[test]
fn make_credential_parses_every_field() {
    let mut msg = vec![command::MAKE_CREDENTIAL];
    msg.extend(enc(make_credential_map()));
    let Request::MakeCredential(mc) = Request::parse(&msg).unwrap() else {
        panic!()
    };
    assert_eq!(mc.client_data_hash, vec![0x11; 32]);
    assert_eq!(
        mc.rp,
        RpEntity {
            id: "example.com".into(),
            name: Some("Example".into())
        }
    );
    assert_eq!(mc.user.id, vec![1, 2, 3]);
    assert_eq!(mc.user.display_name.as_deref(), Some("Alice"));
    assert_eq!(mc.algorithms, vec![(true, -8), (true, -7)]);
    assert_eq!(mc.exclude_list.len(), 1);
    assert_eq!(mc.extensions.cred_protect, Some(2));
    assert!(mc.extensions.hmac_secret);
    assert_eq!(
        mc.options,
        Options {
            rk: Some(true),
            up: None,
            uv: Some(false)
        }
    );
    assert_eq!(mc.pin_uv_auth_protocol, Some(2));
}

#[test]
fn make_credential_errors() {
    let parse = |v: ciborium::value::Value| {
        let mut msg = vec![command::MAKE_CREDENTIAL];
        msg.extend(enc(v));
        Request::parse(&msg).err()
    };
    let mut m = make_credential_map();
    if let ciborium::value::Value::Map(entries) = &mut m {
        entries.retain(|(k, _)| k != &ciborium::value::Value::from(1));
    }
    assert_eq!(parse(m), Some(Status::MissingParameter));
    // rp given as text instead of a map.
    let mut m = make_credential_map();
    if let ciborium::value::Value::Map(entries) = &mut m {
        entries[1].1 = ciborium::value::Value::Text("example.com".into());
    }
    assert_eq!(parse(m), Some(Status::CborUnexpectedType));
    // An option whose value is not a boolean.
    let mut m = make_credential_map();
    if let ciborium::value::Value::Map(entries) = &mut m {
        entries[6].1 = cbor!({ "rk" => 1 }).unwrap();
    }
    assert_eq!(parse(m), Some(Status::CborUnexpectedType));
    // Oversized exclude list.
    let mut m = make_credential_map();
    if let ciborium::value::Value::Map(entries) = &mut m {
        let one = cbor!({ "id" => ciborium::value::Value::Bytes(vec![1]), "type" => "public-key" })
            .unwrap();
        entries[4].1 = ciborium::value::Value::Array(vec![one; 65]);
    }
    assert_eq!(parse(m), Some(Status::RequestTooLarge));
    // user.id longer than 64 bytes.
    let mut m = make_credential_map();
    if let ciborium::value::Value::Map(entries) = &mut m {
        entries[2].1 = cbor!({ "id" => ciborium::value::Value::Bytes(vec![0; 65]) }).unwrap();
    }
    assert_eq!(parse(m), Some(Status::InvalidLength));
    // Trailing bytes after the map.
    let mut msg = vec![command::MAKE_CREDENTIAL];
    msg.extend(enc(make_credential_map()));
    msg.push(0);
    assert_eq!(Request::parse(&msg).err(), Some(Status::InvalidCbor));
    // Not a map at all.
    assert_eq!(
        Request::parse(&[command::MAKE_CREDENTIAL, 0x01]).err(),
        Some(Status::CborUnexpectedType)
    );
}

#[test]
fn get_assertion_with_hmac_secret() {
    let ka = cbor!({ 1 => 2, 3 => -25, -1 => 1, -2 => ciborium::value::Value::Bytes(vec![1; 32]), -3 => ciborium::value::Value::Bytes(vec![2; 32]) }).unwrap();
    let v = cbor!({
        1 => "example.com",
        2 => ciborium::value::Value::Bytes(vec![0x22; 32]),
        3 => [ { "id" => ciborium::value::Value::Bytes(vec![7; 40]), "type" => "public-key" }, { "id" => ciborium::value::Value::Bytes(vec![8]), "type" => "other" } ],
        4 => { "hmac-secret" => { 1 => ka, 2 => ciborium::value::Value::Bytes(vec![3; 32]), 3 => ciborium::value::Value::Bytes(vec![4; 32]), 4 => 2 } },
        5 => { "up" => false }
    })
    .unwrap();
    let mut msg = vec![command::GET_ASSERTION];
    msg.extend(enc(v));
    let Request::GetAssertion(ga) = Request::parse(&msg).unwrap() else {
        panic!()
    };
    assert_eq!(ga.rp_id, "example.com");
    assert_eq!(ga.allow_list.len(), 2);
    assert!(!ga.allow_list[1].public_key);
    let hs = ga.hmac_secret.unwrap();
    assert_eq!(hs.protocol, 2);
    assert_eq!(hs.key_agreement.y, [2; 32]);
    assert_eq!(ga.options.up, Some(false));
}

#[test]
fn client_pin_and_unknown_commands() {
    let v = cbor!({ 1 => 2, 2 => 1 }).unwrap();
    let mut msg = vec![command::CLIENT_PIN];
    msg.extend(enc(v));
    let Request::ClientPin(cp) = Request::parse(&msg).unwrap() else {
        panic!()
    };
    assert_eq!(cp.sub_command, PinSubCommand::GetPinRetries);
    let v = cbor!({ 1 => 2, 2 => 8 }).unwrap();
    let mut msg = vec![command::CLIENT_PIN];
    msg.extend(enc(v));
    assert_eq!(Request::parse(&msg).err(), Some(Status::InvalidSubcommand));
    assert_eq!(Request::parse(&[0x42]).err(), Some(Status::InvalidCommand));
    assert_eq!(Request::parse(&[]).err(), Some(Status::InvalidLength));
    assert!(matches!(
        Request::parse(&[command::GET_INFO]),
        Ok(Request::GetInfo)
    ));
}

#[test]
fn cred_mgmt_keeps_the_authenticated_param_bytes() {
    let v = cbor!({ 1 => 4, 2 => { 1 => ciborium::value::Value::Bytes(vec![5; 32]) }, 3 => 1, 4 => ciborium::value::Value::Bytes(vec![0; 16]) }).unwrap();
    let mut msg = vec![command::CREDENTIAL_MANAGEMENT];
    msg.extend(enc(v));
    let Request::CredentialManagement(cm) = Request::parse(&msg).unwrap() else {
        panic!()
    };
    assert_eq!(
        cm.sub_command,
        CredMgmtSubCommand::EnumerateCredentialsBegin
    );
    assert_eq!(cm.params.rp_id_hash, Some([5; 32]));
    assert_eq!(
        cm.params_bytes,
        enc(cbor!({ 1 => ciborium::value::Value::Bytes(vec![5; 32]) }).unwrap())
    );
}

#[test]
fn a_client_data_hash_of_another_length_is_refused() {
    use crate::cbor;
    for len in [0usize, 16, 31, 33, 64] {
        let cdh = vec![0x11u8; len];
        let mut mc = vec![0x01];
        mc.extend(cbor::encode(
            cbor::MapBuilder::new()
                .put(1, cbor::Value::Bytes(cdh.clone()))
                .put(
                    2,
                    cbor::MapBuilder::new()
                        .put_text("id", "example.com")
                        .build(),
                )
                .put(
                    3,
                    cbor::MapBuilder::new()
                        .put_text("id", cbor::Value::Bytes(vec![1]))
                        .build(),
                )
                .put(
                    4,
                    cbor::Value::Array(vec![cbor::MapBuilder::new()
                        .put_text("alg", -7i64)
                        .put_text("type", "public-key")
                        .build()]),
                )
                .build(),
        ));
        assert_eq!(
            Request::parse(&mc).err(),
            Some(Status::InvalidLength),
            "mc {len}"
        );
        let mut ga = vec![0x02];
        ga.extend(cbor::encode(
            cbor::MapBuilder::new()
                .put(1, "example.com")
                .put(2, cbor::Value::Bytes(cdh))
                .build(),
        ));
        assert_eq!(
            Request::parse(&ga).err(),
            Some(Status::InvalidLength),
            "ga {len}"
        );
    }
}
