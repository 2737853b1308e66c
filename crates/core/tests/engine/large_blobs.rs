//! authenticatorLargeBlobs (§6.10) at the engine: the initial array, fragment order, the
//! size limit, and that only a whole, hash-checked array replaces the stored one.

use crate::harness::{platform::*, *};
use ciborium::value::Value;
use sha2::Digest;
use tpm_passkey_core::wire::Status;

/// The array before anything is written: an empty CBOR array and its truncated SHA-256.
const INITIAL: [u8; 17] = [
    0x80, 0x76, 0xbe, 0x8b, 0x52, 0x8d, 0x00, 0x75, 0xf7, 0xaa, 0xe9, 0x8d, 0x6f, 0xa5, 0x7a, 0x6d,
    0x3c,
];

fn array_of(body: &[u8]) -> Vec<u8> {
    let mut a = body.to_vec();
    a.extend_from_slice(&sha2::Sha256::digest(body)[..16]);
    a
}

fn read(e: &mut TestEngine) -> Vec<u8> {
    as_bytes(get(
        &call(e, 0x0c, Some(cbor!({ 1 => 1024, 3 => 0 }).unwrap())).unwrap(),
        1,
    ))
}

/// One `set` fragment at `offset`, authorized by `token` (protocol 2).
fn set(
    e: &mut TestEngine,
    token: &[u8],
    offset: u32,
    fragment: &[u8],
    length: Option<usize>,
) -> Result<Value, Status> {
    let mut msg = vec![0xff; 32];
    msg.extend_from_slice(&[0x0c, 0x00]);
    msg.extend_from_slice(&offset.to_le_bytes());
    msg.extend_from_slice(&sha2::Sha256::digest(fragment));
    let mut m = vec![
        (Value::from(2), bytes(fragment)),
        (Value::from(3), Value::from(offset)),
        (Value::from(5), bytes(&authenticate(2, token, &msg))),
        (Value::from(6), Value::from(2)),
    ];
    if let Some(l) = length {
        m.push((Value::from(4), Value::from(l as u64)));
    }
    call(e, 0x0c, Some(Value::Map(m)))
}

#[test]
fn fragments_in_order_and_only_a_whole_checked_array_is_stored() {
    let mut e = engine();
    assert_eq!(read(&mut e), INITIAL.to_vec());
    set_pin(&mut e, 2, "1234").unwrap();
    let t = token(&mut e, 2, "1234", Some(0x10), None).unwrap();
    let array = array_of(&[0x81, 0x43, 1, 2, 3]);
    let (a, b) = array.split_at(10);
    // A first fragment without the total length; a second before any first.
    assert_eq!(
        set(&mut e, &t, 0, a, None).err(),
        Some(Status::InvalidParameter)
    );
    assert_eq!(set(&mut e, &t, 10, b, None).err(), Some(Status::InvalidSeq));
    // Too long for the authenticator; too short to be an array.
    assert_eq!(
        set(&mut e, &t, 0, a, Some(1 << 20)).err(),
        Some(Status::LargeBlobStorageFull)
    );
    assert_eq!(
        set(&mut e, &t, 0, a, Some(16)).err(),
        Some(Status::InvalidParameter)
    );
    // In order: stored once the last fragment checks out.
    set(&mut e, &t, 0, a, Some(array.len())).unwrap();
    assert_eq!(read(&mut e), INITIAL.to_vec(), "nothing replaced halfway");
    set(&mut e, &t, 10, b, None).unwrap();
    assert_eq!(read(&mut e), array);
    // A whole array whose hash is wrong changes nothing.
    let mut torn = array_of(&[0x80]);
    torn[3] ^= 1;
    assert_eq!(
        set(&mut e, &t, 0, &torn, Some(torn.len())).err(),
        Some(Status::IntegrityFailure)
    );
    assert_eq!(read(&mut e), array);
    // Without a token: PUAT_REQUIRED.
    let r = call(
        &mut e,
        0x0c,
        Some(cbor!({ 2 => bytes(&array), 3 => 0, 4 => array.len() as u64 }).unwrap()),
    );
    assert_eq!(r.err(), Some(Status::PuatRequired));
    // Both get and set, or neither.
    assert_eq!(
        call(&mut e, 0x0c, Some(cbor!({ 3 => 0 }).unwrap())).err(),
        Some(Status::InvalidParameter)
    );
}
