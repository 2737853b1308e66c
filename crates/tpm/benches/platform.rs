//! The platform side of the CTAP requests a browser sends for a sign-in, for the bench and
//! the TPM-command-count test (both include this file): makeCredential, getAssertion with
//! and without an allowList, and getPinUvAuthTokenUsingUv with PIN/UV auth protocol 2
//! (CTAP 2.1 §6.5.7: ECDH, HKDF-SHA-256, AES-256-CBC, HMAC-SHA-256). Requests are built
//! with ciborium, not with the engine's own encoder. They go to whatever implements
//! [`Ctap`]: the engine in process, or a daemon through a transport (the daemon's
//! `transport` bench includes this file too).
#![allow(dead_code, clippy::unwrap_used)]

use aes::cipher::{BlockDecryptMut as _, KeyIvInit as _};
use ciborium::value::Value;
use hmac::{Hmac, Mac as _};
use p256::elliptic_curve::sec1::ToSec1Point as _;
use sha2::Sha256;
use tpm_passkey_core::{Approver, Clock, Engine, KeyStore, PinHash, Prompt, Refusal};

/// Approves every prompt, typing `PIN` when asked (the scripted agent of the daemon).
#[derive(Debug)]
pub struct Approve;

pub const PIN: &str = "bench-pin";

impl Approver for Approve {
    fn ask(&mut self, p: &Prompt) -> Result<Option<PinHash>, Refusal> {
        Ok(p.pin_required.then(|| PinHash::from_pin(PIN)))
    }
}

/// Whatever answers a CTAP request (command byte, CBOR) with status byte and CBOR.
pub trait Ctap {
    fn process(&mut self, request: &[u8]) -> Vec<u8>;
}

impl<K: KeyStore, A: Approver, C: Clock> Ctap for Engine<K, A, C> {
    fn process(&mut self, request: &[u8]) -> Vec<u8> {
        Engine::process(self, request)
    }
}

pub fn cbor(cmd: u8, v: Value) -> Vec<u8> {
    let mut out = vec![cmd];
    ciborium::ser::into_writer(&v, &mut out).unwrap();
    out
}

pub fn text(s: &str) -> Value {
    Value::Text(s.into())
}

pub fn map(entries: Vec<(Value, Value)>) -> Value {
    Value::Map(entries)
}

fn get(v: &Value, k: i64) -> Option<&Value> {
    let Value::Map(m) = v else { return None };
    m.iter()
        .find(|(key, _)| *key == Value::from(k))
        .map(|(_, v)| v)
}

fn bytes_of(v: Option<&Value>) -> Vec<u8> {
    match v {
        Some(Value::Bytes(b)) => b.clone(),
        other => panic!("expected bytes, got {other:?}"),
    }
}

/// Runs `request`, panics unless the status is success; returns the CBOR body.
pub fn ok(e: &mut impl Ctap, request: &[u8]) -> Value {
    let out = e.process(request);
    assert_eq!(
        out[0], 0,
        "CTAP status 0x{:02x} for command 0x{:02x}",
        out[0], request[0]
    );
    if out.len() == 1 {
        return Value::Null;
    }
    ciborium::de::from_reader(&out[1..]).unwrap()
}

pub const CDH: [u8; 32] = [2; 32];

/// makeCredential for `rp`, user `user`; `rk` discoverable; with a pinUvAuthToken when
/// `token` is given (protocol 2), else `uv` asks for built-in user verification.
pub fn make_credential(rp: &str, user: &[u8], rk: bool, uv: bool, token: Option<&[u8]>) -> Vec<u8> {
    let mut m = vec![
        (1.into(), Value::Bytes(CDH.to_vec())),
        (2.into(), map(vec![(text("id"), text(rp))])),
        (
            3.into(),
            map(vec![
                (text("id"), Value::Bytes(user.to_vec())),
                (text("name"), text("bench user")),
            ]),
        ),
        (
            4.into(),
            Value::Array(vec![map(vec![
                (text("alg"), (-7).into()),
                (text("type"), text("public-key")),
            ])]),
        ),
    ];
    let mut options = vec![(text("rk"), rk.into())];
    if token.is_none() && uv {
        options.push((text("uv"), true.into()));
    }
    m.push((7.into(), map(options)));
    if let Some(t) = token {
        m.push((8.into(), Value::Bytes(authenticate(t, &CDH))));
        m.push((9.into(), 2.into()));
    }
    cbor(0x01, map(m))
}

/// getAssertion for `rp`: with an allowList of `allow` (empty: a discoverable sign-in), and
/// a token (protocol 2) or built-in UV (`uv`) or neither.
pub fn get_assertion(rp: &str, allow: &[Vec<u8>], uv: bool, token: Option<&[u8]>) -> Vec<u8> {
    let mut m = vec![(1.into(), text(rp)), (2.into(), Value::Bytes(CDH.to_vec()))];
    if !allow.is_empty() {
        let list = allow
            .iter()
            .map(|id| {
                map(vec![
                    (text("id"), Value::Bytes(id.clone())),
                    (text("type"), text("public-key")),
                ])
            })
            .collect();
        m.push((3.into(), Value::Array(list)));
    }
    if token.is_none() && uv {
        m.push((5.into(), map(vec![(text("uv"), true.into())])));
    }
    if let Some(t) = token {
        m.push((6.into(), Value::Bytes(authenticate(t, &CDH))));
        m.push((7.into(), 2.into()));
    }
    cbor(0x02, map(m))
}

/// The credential id inside a makeCredential response's authData.
pub fn credential_id(response: &Value) -> Vec<u8> {
    let auth_data = bytes_of(get(response, 2));
    let len = u16::from_be_bytes([auth_data[53], auth_data[54]]) as usize;
    auth_data[55..55 + len].to_vec()
}

/// HMAC-SHA-256(token, message): protocol 2's authenticate (§6.5.7).
pub fn authenticate(token: &[u8], message: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(token).unwrap();
    mac.update(message);
    mac.finalize().into_bytes().to_vec()
}

/// A shared secret with the authenticator (protocol 2) and our key-agreement key.
pub struct Shared {
    aes_key: [u8; 32],
    platform: Value,
}

/// clientPIN getKeyAgreement, then ECDH and HKDF (§6.5.7).
pub fn agree(e: &mut impl Ctap) -> Shared {
    try_agree(e).unwrap_or_else(|s| panic!("getKeyAgreement: CTAP status 0x{s:02x}"))
}

/// [`agree`], with the status of a request that fails instead of a panic.
pub fn try_agree(e: &mut impl Ctap) -> Result<Shared, u8> {
    let out = e.process(&cbor(
        0x06,
        map(vec![(1.into(), 2.into()), (2.into(), 2.into())]),
    ));
    if out[0] != 0 {
        return Err(out[0]);
    }
    let r: Value = ciborium::de::from_reader(&out[1..]).unwrap();
    let cose = get(&r, 1).unwrap();
    let (x, y) = (bytes_of(get(cose, -2)), bytes_of(get(cose, -3)));
    let peer = p256::PublicKey::from_sec1_bytes(&[&[4u8][..], &x, &y].concat()).unwrap();
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).unwrap();
    seed[0] |= 1;
    let sk = p256::SecretKey::from_slice(&seed).unwrap();
    let z = p256::ecdh::diffie_hellman(sk.to_nonzero_scalar(), peer.as_affine());
    let hk = hkdf::Hkdf::<Sha256>::new(Some(&[0u8; 32]), z.raw_secret_bytes());
    let mut aes_key = [0u8; 32];
    hk.expand(b"CTAP2 AES key", &mut aes_key).unwrap();
    let point = sk.public_key().to_sec1_point(false);
    let platform = map(vec![
        (1.into(), 2.into()),
        (3.into(), (-25).into()),
        ((-1).into(), 1.into()),
        ((-2).into(), Value::Bytes(point.as_bytes()[1..33].to_vec())),
        ((-3).into(), Value::Bytes(point.as_bytes()[33..65].to_vec())),
    ]);
    Ok(Shared { aes_key, platform })
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Shared { .. }")
    }
}

impl Shared {
    fn decrypt(&self, data: &[u8]) -> Vec<u8> {
        let (iv, ct) = data.split_at(16);
        let mut buf = ct.to_vec();
        cbc::Decryptor::<aes::Aes256>::new_from_slices(&self.aes_key, iv)
            .unwrap()
            .decrypt_padded_mut::<aes::cipher::block_padding::NoPadding>(&mut buf)
            .unwrap();
        buf
    }
}

/// getPinUvAuthTokenUsingUv (subCommand 6) with mc|ga for `rp`: built-in UV, the agent
/// types the PIN. The key agreement is done first, as browsers do, and not counted here.
pub fn token_using_uv(e: &mut impl Ctap, shared: &Shared, rp: &str) -> Vec<u8> {
    token_with(e, shared, 3, Some(rp))
}

/// getPinUvAuthTokenUsingUv with `permissions`, bound to `rp` if given.
pub fn token_with(
    e: &mut impl Ctap,
    shared: &Shared,
    permissions: u64,
    rp: Option<&str>,
) -> Vec<u8> {
    let mut m = vec![
        (1.into(), 2.into()),
        (2.into(), 6.into()),
        (3.into(), shared.platform.clone()),
        (9.into(), permissions.into()),
    ];
    if let Some(rp) = rp {
        m.push((0x0a.into(), text(rp)));
    }
    let r = ok(e, &cbor(0x06, map(m)));
    shared.decrypt(&bytes_of(get(&r, 2)))
}

/// [`token_with`], with the status of a request that fails instead of a panic.
pub fn try_token_with(
    e: &mut impl Ctap,
    shared: &Shared,
    permissions: u64,
    rp: &str,
) -> Result<Vec<u8>, u8> {
    let m = vec![
        (1.into(), 2.into()),
        (2.into(), 6.into()),
        (3.into(), shared.platform.clone()),
        (9.into(), permissions.into()),
        (0x0a.into(), text(rp)),
    ];
    let out = e.process(&cbor(0x06, map(m)));
    if out[0] != 0 {
        return Err(out[0]);
    }
    let r: Value = ciborium::de::from_reader(&out[1..]).unwrap();
    Ok(shared.decrypt(&bytes_of(get(&r, 2))))
}

/// credentialManagement subcommand `sub` with `params`, authenticated by `token` (cm).
pub fn cred_mgmt(token: &[u8], sub: u8, params: Option<Value>) -> Vec<u8> {
    let mut message = vec![sub];
    if let Some(p) = &params {
        ciborium::ser::into_writer(p, &mut message).unwrap();
    }
    let mut m = vec![
        (1.into(), sub.into()),
        (3.into(), 2.into()),
        (4.into(), Value::Bytes(authenticate(token, &message))),
    ];
    if let Some(p) = params {
        m.push((2.into(), p));
    }
    cbor(0x0a, map(m))
}

/// A credentialManagement getNext subcommand (no parameters, no auth).
pub fn cred_mgmt_next(sub: u8) -> Vec<u8> {
    cbor(0x0a, map(vec![(1.into(), sub.into())]))
}

/// An integer field of a response map.
pub fn int_field(v: &Value, k: i64) -> u64 {
    match get(v, k) {
        Some(Value::Integer(i)) => u64::try_from(i128::from(*i)).unwrap(),
        other => panic!("expected an integer at {k}, got {other:?}"),
    }
}
