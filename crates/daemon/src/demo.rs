//! The enrolment wizard's test sign-in: a built-in relying party ([`DEMO_RP`]) registers a
//! (non-discoverable, so nothing is stored) passkey and signs in with it through the engine's
//! own CTAP 2.1 path, with the user's approvals and PIN in the app as for any site, then
//! checks the signature over authenticatorData ‖ clientDataHash with p256 (WebAuthn §7.2
//! step 20) against the public key from the attested credential data (§6.5.1).

use p256::ecdsa::signature::Verifier;
use p256::ecdsa::{Signature, VerifyingKey};
use sha2::{Digest, Sha256};
use tpm_passkey_core::ipc::ErrorKind;
use tpm_passkey_core::wire::cbor::{self, MapBuilder, Value};
use tpm_passkey_core::wire::cose::P256Key;
use tpm_passkey_core::wire::Status;
use tpm_passkey_core::{Engine, KeyStore};

use crate::hub_approver::HubApprover;

pub const DEMO_RP: &str = "tpm-passkey.test";

/// What the user reads when the test does not pass.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("the test sign-in was not approved")]
    Refused,
    #[error("the PIN was not accepted")]
    Pin,
    #[error("the authenticator answered with CTAP status 0x{0:02x}")]
    Ctap(u8),
    #[error("the signature did not verify: {0}")]
    Bad(&'static str),
}

impl DemoError {
    /// What the app decides on.
    pub fn kind(&self) -> ErrorKind {
        match self {
            DemoError::Refused => ErrorKind::Denied,
            DemoError::Pin => ErrorKind::WrongPin,
            DemoError::Ctap(s) if *s == Status::TpmUnreachable.code() => ErrorKind::TpmUnreachable,
            DemoError::Ctap(_) | DemoError::Bad(_) => ErrorKind::Failed,
        }
    }
}

fn ctap<K: KeyStore>(
    engine: &mut Engine<K, HubApprover>,
    cmd: u8,
    params: Value,
) -> Result<cbor::Map, DemoError> {
    let mut msg = vec![cmd];
    msg.extend(cbor::encode(params));
    let out = engine.process(&msg);
    match out.split_first() {
        Some((0, body)) => cbor::Map::decode(body).map_err(bad_cbor),
        Some((&s, _)) if refusals().contains(&s) => Err(DemoError::Refused),
        Some((&s, _)) if pin_failures().contains(&s) => Err(DemoError::Pin),
        Some((&s, _)) => Err(DemoError::Ctap(s)),
        None => Err(DemoError::Bad("empty answer")),
    }
}

fn refusals() -> [u8; 3] {
    [
        Status::OperationDenied.code(),
        Status::UserActionTimeout.code(),
        Status::KeepaliveCancel.code(),
    ]
}

fn pin_failures() -> [u8; 4] {
    [
        Status::PinInvalid.code(),
        Status::PinBlocked.code(),
        Status::PinAuthBlocked.code(),
        Status::UvInvalid.code(),
    ]
}

fn bad_cbor(_: Status) -> DemoError {
    DemoError::Bad("the answer is not the CBOR §6 describes")
}

fn challenge() -> [u8; 32] {
    let mut c = [0u8; 32];
    let _ = getrandom::fill(&mut c);
    Sha256::digest(c).into()
}

/// A new credential (discoverable when `rk`) made through the engine's own makeCredential,
/// with built-in user verification (the user's prompt): its ID and public key.
pub fn register<K: KeyStore>(
    engine: &mut Engine<K, HubApprover>,
    rp_id: &str,
    rp_name: &str,
    user_id: &[u8],
    user_name: &str,
    rk: bool,
) -> Result<(Vec<u8>, P256Key), DemoError> {
    let text = |k: &str| Value::Text(k.into());
    let rp = Value::Map(vec![
        (text("id"), text(rp_id)),
        (text("name"), text(rp_name)),
    ]);
    let user = Value::Map(vec![
        (text("id"), Value::Bytes(user_id.to_vec())),
        (text("name"), text(user_name)),
    ]);
    let alg = Value::Array(vec![Value::Map(vec![
        (Value::Text("alg".into()), Value::from(-7)),
        (Value::Text("type".into()), Value::Text("public-key".into())),
    ])]);
    // authenticatorMakeCredential (0x01), §6.1.
    let mc = MapBuilder::new()
        .put(1, Value::Bytes(challenge().to_vec()))
        .put(2, rp)
        .put(3, user)
        .put(4, alg)
        .put(
            7,
            Value::Map(vec![
                (Value::Text("rk".into()), Value::Bool(rk)),
                (Value::Text("uv".into()), Value::Bool(true)),
            ]),
        )
        .build();
    let mut made = ctap(engine, 0x01, mc)?;
    let auth = cbor::bytes(made.require(2).map_err(bad_cbor)?).map_err(bad_cbor)?;
    // authData: rpIdHash 32 | flags 1 | signCount 4 | aaguid 16 | L 2 | credentialId L | COSE key.
    if auth.len() < 55 || auth[32] & 0x40 == 0 {
        return Err(DemoError::Bad("no attested credential data"));
    }
    let len = usize::from(u16::from_be_bytes([auth[53], auth[54]]));
    let id = auth
        .get(55..55 + len)
        .ok_or(DemoError::Bad("short credential id"))?
        .to_vec();
    let key = cbor::decode(&auth[55 + len..])
        .and_then(P256Key::from_cose)
        .map_err(|_| DemoError::Bad("credential public key"))?;
    Ok((id, key))
}

fn uv() -> Value {
    Value::Map(vec![(Value::Text("uv".into()), Value::Bool(true))])
}

/// Registers, signs in, verifies.
pub fn run<K: KeyStore>(engine: &mut Engine<K, HubApprover>) -> Result<(), DemoError> {
    let (id, key) = register(
        engine,
        DEMO_RP,
        "tpm-passkey test sign-in",
        b"tpm-passkey-demo-user",
        "you",
        false,
    )?;
    let key = VerifyingKey::from_sec1_bytes(&key.to_sec1())
        .map_err(|_| DemoError::Bad("credential public key"))?;

    // authenticatorGetAssertion (0x02), §6.2, with the new credential in the allowList.
    let cdh = challenge();
    let ga = MapBuilder::new()
        .put(1, Value::Text(DEMO_RP.into()))
        .put(2, Value::Bytes(cdh.to_vec()))
        .put(
            3,
            Value::Array(vec![Value::Map(vec![
                (Value::Text("id".into()), Value::Bytes(id)),
                (Value::Text("type".into()), Value::Text("public-key".into())),
            ])]),
        )
        .put(5, uv())
        .build();
    let mut got = ctap(engine, 0x02, ga)?;
    let auth = cbor::bytes(got.require(2).map_err(bad_cbor)?).map_err(bad_cbor)?;
    let sig = cbor::bytes(got.require(3).map_err(bad_cbor)?).map_err(bad_cbor)?;
    let sig = Signature::from_der(&sig).map_err(|_| DemoError::Bad("signature encoding"))?;
    if auth.get(..32) != Some(&Sha256::digest(DEMO_RP.as_bytes())[..]) || auth[32] & 0x05 != 0x05 {
        return Err(DemoError::Bad("rpIdHash or UP/UV flags"));
    }
    let mut signed = auth.clone();
    signed.extend_from_slice(&cdh);
    key.verify(&signed, &sig)
        .map_err(|_| DemoError::Bad("ECDSA over authData and clientDataHash"))
}
