use super::*;

#[test]
fn decode_rejects_trailing_bytes_and_garbage() {
    assert_eq!(decode(&[0xa0, 0x00]), Err(Status::InvalidCbor));
    assert_eq!(decode(&[0xff]), Err(Status::InvalidCbor));
    assert_eq!(decode(&[]), Err(Status::InvalidCbor));
    assert_eq!(
        decode(&[0x5a, 0xff, 0xff, 0xff, 0xff]),
        Err(Status::InvalidCbor)
    );
    assert_eq!(decode(&[0xa0]), Ok(Value::Map(vec![])));
}

#[test]
fn map_rejects_duplicate_keys_and_non_maps() {
    // {1: 1, 1: 2}
    assert_eq!(
        Map::decode(&[0xa2, 0x01, 0x01, 0x01, 0x02]).err(),
        Some(Status::InvalidCbor)
    );
    assert_eq!(Map::decode(&[0x80]).err(), Some(Status::CborUnexpectedType));
}

#[test]
fn encode_sorts_keys_canonically() {
    // Canonical order (§8): 1, 3, -1 (0x20), "a" (0x61 0x61), "up" (0x62 ...), then "aaa".
    let v = Value::Map(vec![
        (Value::Text("aaa".into()), Value::from(0)),
        (Value::Text("up".into()), Value::from(0)),
        (Value::from(-1), Value::from(0)),
        (Value::Text("a".into()), Value::from(0)),
        (Value::from(3), Value::from(0)),
        (Value::from(1), Value::from(0)),
    ]);
    let out = encode(v);
    let expected = [
        0xa6, 0x01, 0x00, 0x03, 0x00, 0x20, 0x00, 0x61, b'a', 0x00, 0x62, b'u', b'p', 0x00, 0x63,
        b'a', b'a', b'a', 0x00,
    ];
    assert_eq!(out, expected);
}

#[test]
fn typed_getters_refuse_wrong_types() {
    assert_eq!(bytes(Value::from(1)), Err(Status::CborUnexpectedType));
    assert_eq!(text(Value::Bytes(vec![])), Err(Status::CborUnexpectedType));
    assert_eq!(uint(Value::from(-1)), Err(Status::CborUnexpectedType));
    assert_eq!(
        fixed_bytes::<2>(Value::Bytes(vec![1])),
        Err(Status::InvalidLength)
    );
    assert_eq!(boolean(Value::Null), Err(Status::CborUnexpectedType));
}
