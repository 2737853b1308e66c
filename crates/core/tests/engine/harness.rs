//! A test platform: builds CTAP requests with ciborium (not the engine's encoder), runs
//! the PIN/UV auth protocol from the platform side, and checks signatures with p256.

use ciborium::value::Value;
use p256::ecdsa::{signature::Verifier, Signature, VerifyingKey};
use tpm_passkey_core::wire::{cbor, cose::P256Key, Status};
use tpm_passkey_core::{Engine, Store};
pub use tpm_passkey_testkit::{ManualClock, Script, SoftKeys};

pub use ciborium::cbor;

pub type TestEngine = Engine<SoftKeys, Script, ManualClock>;

pub fn engine() -> TestEngine {
    Engine::with_clock(
        SoftKeys::new(),
        Script::default(),
        Store::open_in_memory().unwrap(),
        ManualClock::new(),
    )
    .unwrap()
}

pub fn bytes(b: &[u8]) -> Value {
    Value::Bytes(b.to_vec())
}

/// Sends command `cmd` with `params` (None: no CBOR body); returns the decoded body.
pub fn call(e: &mut TestEngine, cmd: u8, params: Option<Value>) -> Result<Value, Status> {
    let mut msg = vec![cmd];
    if let Some(p) = params {
        ciborium::ser::into_writer(&p, &mut msg).unwrap();
    }
    let out = e.process(&msg);
    if out[0] != 0 {
        return Err(status_from(out[0]));
    }
    if out.len() == 1 {
        return Ok(Value::Null);
    }
    Ok(cbor::decode(&out[1..]).expect("engine output is valid CBOR"))
}

fn status_from(code: u8) -> Status {
    Status::try_from(code).unwrap_or_else(|e| panic!("{e}"))
}

/// Looks up integer key `k` in a response map.
pub fn get(v: &Value, k: i64) -> Option<Value> {
    let Value::Map(m) = v else { return None };
    m.iter()
        .find(|(key, _)| *key == Value::from(k))
        .map(|(_, v)| v.clone())
}

pub fn get_text(v: &Value, k: &str) -> Option<Value> {
    let Value::Map(m) = v else { return None };
    m.iter()
        .find(|(key, _)| *key == Value::Text(k.into()))
        .map(|(_, v)| v.clone())
}

pub fn as_bytes(v: Option<Value>) -> Vec<u8> {
    match v {
        Some(Value::Bytes(b)) => b,
        other => panic!("expected bytes, got {other:?}"),
    }
}

pub fn as_int(v: Option<Value>) -> i128 {
    match v {
        Some(Value::Integer(i)) => i.into(),
        other => panic!("expected integer, got {other:?}"),
    }
}

/// The platform side of the PIN/UV auth protocols (§6.5.6, §6.5.7), written here from
/// the spec with RustCrypto, independently of the engine's implementation.
pub mod platform {
    use aes::cipher::{block_padding::NoPadding, BlockDecryptMut, BlockEncryptMut, KeyIvInit};
    use hmac::{Hmac, Mac};
    use p256::elliptic_curve::sec1::ToSec1Point;
    use sha2::{Digest, Sha256};

    use super::*;

    pub struct Shared {
        pub protocol: u8,
        pub hmac_key: Vec<u8>,
        pub aes_key: Vec<u8>,
        pub platform_key: P256Key,
    }

    impl Shared {
        pub fn encrypt(&self, data: &[u8]) -> Vec<u8> {
            let iv = if self.protocol == 1 {
                [0u8; 16]
            } else {
                [0x42u8; 16]
            };
            let mut buf = data.to_vec();
            let n = buf.len();
            cbc::Encryptor::<aes::Aes256>::new_from_slices(&self.aes_key, &iv)
                .unwrap()
                .encrypt_padded_mut::<NoPadding>(&mut buf, n)
                .unwrap();
            if self.protocol == 1 {
                buf
            } else {
                [iv.as_slice(), &buf].concat()
            }
        }

        pub fn decrypt(&self, data: &[u8]) -> Vec<u8> {
            let (iv, body) = if self.protocol == 1 {
                ([0u8; 16], data)
            } else {
                (data[..16].try_into().unwrap(), &data[16..])
            };
            let mut buf = body.to_vec();
            cbc::Decryptor::<aes::Aes256>::new_from_slices(&self.aes_key, &iv)
                .unwrap()
                .decrypt_padded_mut::<NoPadding>(&mut buf)
                .unwrap();
            buf
        }

        pub fn authenticate(&self, msg: &[u8]) -> Vec<u8> {
            authenticate(self.protocol, &self.hmac_key, msg)
        }

        pub fn cose(&self) -> Value {
            let x = self.platform_key.x.to_vec();
            let y = self.platform_key.y.to_vec();
            cbor!({ 1 => 2, 3 => -25, -1 => 1, -2 => Value::Bytes(x), -3 => Value::Bytes(y) })
                .unwrap()
        }
    }

    pub fn authenticate(protocol: u8, key: &[u8], msg: &[u8]) -> Vec<u8> {
        let mut m = <Hmac<Sha256> as Mac>::new_from_slice(key).unwrap();
        m.update(msg);
        let t = m.finalize().into_bytes().to_vec();
        if protocol == 1 {
            t[..16].to_vec()
        } else {
            t
        }
    }

    /// getKeyAgreement, then ECDH with a fresh platform key.
    pub fn agree(e: &mut TestEngine, protocol: u8) -> Shared {
        let r = call(e, 0x06, Some(cbor!({ 1 => protocol, 2 => 2 }).unwrap())).unwrap();
        let peer = P256Key::from_cose(get(&r, 1).unwrap()).unwrap();
        let sk = p256::SecretKey::from_slice(&[0x17; 32]).unwrap();
        let pk = P256Key::from_sec1(sk.public_key().to_sec1_point(false).as_bytes()).unwrap();
        let peer_pk = p256::PublicKey::from_sec1_bytes(&peer.to_sec1()).unwrap();
        let z = p256::ecdh::diffie_hellman(sk.to_nonzero_scalar(), peer_pk.as_affine());
        let z = z.raw_secret_bytes();
        let (h, a) = if protocol == 1 {
            let k = Sha256::digest(z).to_vec();
            (k.clone(), k)
        } else {
            let hk = hkdf::Hkdf::<Sha256>::new(Some(&[0u8; 32]), z);
            let mut h = vec![0; 32];
            let mut a = vec![0; 32];
            hk.expand(b"CTAP2 HMAC key", &mut h).unwrap();
            hk.expand(b"CTAP2 AES key", &mut a).unwrap();
            (h, a)
        };
        Shared {
            protocol,
            hmac_key: h,
            aes_key: a,
            platform_key: pk,
        }
    }

    pub fn padded(pin: &str) -> Vec<u8> {
        let mut p = pin.as_bytes().to_vec();
        p.resize(64, 0);
        p
    }

    pub fn pin_hash(pin: &str) -> Vec<u8> {
        Sha256::digest(pin.as_bytes())[..16].to_vec()
    }

    pub fn set_pin(e: &mut TestEngine, protocol: u8, pin: &str) -> Result<Value, Status> {
        let s = agree(e, protocol);
        let enc = s.encrypt(&padded(pin));
        let auth = s.authenticate(&enc);
        call(e, 0x06, Some(cbor!({ 1 => protocol, 2 => 3, 3 => s.cose(), 4 => bytes(&auth), 5 => bytes(&enc) }).unwrap()))
    }

    /// getPinUvAuthTokenUsingPinWithPermissions (or getPinToken with `perms` None).
    pub fn token(
        e: &mut TestEngine,
        protocol: u8,
        pin: &str,
        perms: Option<u64>,
        rp: Option<&str>,
    ) -> Result<Vec<u8>, Status> {
        let s = agree(e, protocol);
        let enc = s.encrypt(&pin_hash(pin));
        let mut m = vec![
            (Value::from(1), Value::from(protocol)),
            (
                Value::from(2),
                Value::from(if perms.is_some() { 9 } else { 5 }),
            ),
            (Value::from(3), s.cose()),
            (Value::from(6), bytes(&enc)),
        ];
        if let Some(p) = perms {
            m.push((Value::from(9), Value::from(p)));
        }
        if let Some(rp) = rp {
            m.push((Value::from(0x0a), Value::Text(rp.into())));
        }
        let r = call(e, 0x06, Some(Value::Map(m)))?;
        Ok(s.decrypt(&as_bytes(get(&r, 2))))
    }
}

/// A makeCredential request map; `extra` entries are appended.
pub fn mc(rp: &str, user: u8, rk: bool, extra: Vec<(Value, Value)>) -> Value {
    let mut m = vec![
        (Value::from(1), bytes(&[0xcd; 32])),
        (Value::from(2), cbor!({ "id" => rp, "name" => "Example" }).unwrap()),
        (Value::from(3), cbor!({ "id" => bytes(&[user]), "name" => format!("user{user}"), "displayName" => format!("User {user}") }).unwrap()),
        (Value::from(4), cbor!([{ "alg" => -7, "type" => "public-key" }]).unwrap()),
        (Value::from(7), cbor!({ "rk" => rk }).unwrap()),
    ];
    m.extend(extra);
    Value::Map(m)
}

/// pinUvAuthParam and pinUvAuthProtocol for makeCredential (keys 0x08, 0x09).
pub fn with_token(protocol: u8, token: &[u8], cdh: &[u8]) -> Vec<(Value, Value)> {
    vec![
        (
            Value::from(8),
            bytes(&platform::authenticate(protocol, token, cdh)),
        ),
        (Value::from(9), Value::from(protocol)),
    ]
}

/// pinUvAuthParam and pinUvAuthProtocol for getAssertion (keys 0x06, 0x07).
pub fn with_token_ga(protocol: u8, token: &[u8], cdh: &[u8]) -> Vec<(Value, Value)> {
    vec![
        (
            Value::from(6),
            bytes(&platform::authenticate(protocol, token, cdh)),
        ),
        (Value::from(7), Value::from(protocol)),
    ]
}

/// Parses a makeCredential response; checks the packed self-attestation signature with the
/// credential's own public key; returns (credential id, public key, authData).
pub fn check_attestation(r: &Value) -> (Vec<u8>, VerifyingKey, Vec<u8>) {
    assert_eq!(get(r, 1), Some(Value::Text("packed".into())));
    let auth_data = as_bytes(get(r, 2));
    let att = get(r, 3).unwrap();
    assert_eq!(as_int(get_text(&att, "alg")), -7);
    assert!(
        get_text(&att, "x5c").is_none(),
        "self attestation has no x5c"
    );
    let sig = as_bytes(get_text(&att, "sig"));
    assert!(auth_data[32] & 0x40 != 0, "AT flag");
    let id_len = u16::from_be_bytes([auth_data[53], auth_data[54]]) as usize;
    let id = auth_data[55..55 + id_len].to_vec();
    let cose = cbor_prefix(&auth_data[55 + id_len..]);
    let key = P256Key::from_cose(cose).unwrap();
    let vk = VerifyingKey::from_sec1_bytes(&key.to_sec1()).unwrap();
    let signed = [auth_data.as_slice(), &[0xcd; 32]].concat();
    vk.verify(&signed, &Signature::from_der(&sig).unwrap())
        .expect("attestation signature verifies");
    (id, vk, auth_data)
}

/// Decodes the first CBOR item of `b` (authData may carry extensions after the key).
fn cbor_prefix(b: &[u8]) -> Value {
    let mut r = b;
    ciborium::de::from_reader(&mut r).unwrap()
}

pub fn ga(rp: &str, allow: &[&[u8]], extra: Vec<(Value, Value)>) -> Value {
    let mut m = vec![
        (Value::from(1), Value::Text(rp.into())),
        (Value::from(2), bytes(&[0xab; 32])),
    ];
    if !allow.is_empty() {
        m.push((
            Value::from(3),
            Value::Array(
                allow
                    .iter()
                    .map(|id| cbor!({ "id" => bytes(id), "type" => "public-key" }).unwrap())
                    .collect(),
            ),
        ));
    }
    m.extend(extra);
    Value::Map(m)
}

/// Checks an assertion's signature with `key`; returns (authData, credential id).
pub fn check_assertion(r: &Value, key: &VerifyingKey) -> (Vec<u8>, Vec<u8>) {
    let auth_data = as_bytes(get(r, 2));
    let sig = as_bytes(get(r, 3));
    let signed = [auth_data.as_slice(), &[0xab; 32]].concat();
    key.verify(&signed, &Signature::from_der(&sig).unwrap())
        .expect("assertion signature verifies");
    let cred = get(r, 1).unwrap();
    (auth_data, as_bytes(get_text(&cred, "id")))
}

/// An install whose store is a file (so that a copy can be put back, or a program can edit
/// it) and whose key store outlives the engine: what the seal and checkpoint tests restart.
pub struct Install {
    pub dir: tempfile::TempDir,
    pub keys: Option<SoftKeys>,
}

impl Install {
    pub fn new(keys: SoftKeys) -> Self {
        Install {
            dir: tempfile::tempdir().unwrap(),
            keys: Some(keys),
        }
    }

    pub fn path(&self) -> std::path::PathBuf {
        self.dir.path().join("store.sqlite")
    }

    /// Starts the engine on the store file as it is (built-in UV types PIN 1234). A start
    /// that is refused leaves the device as it was (the engine took it, and drops it).
    pub fn start(&mut self) -> Result<TestEngine, tpm_passkey_core::StoreError> {
        let store = Store::open(&self.path()).unwrap();
        let approver = Script {
            pin: Some("1234".into()),
            ..Script::default()
        };
        let keys = self.keys.take().unwrap();
        let spare = keys.clone();
        let started = Engine::with_clock(keys, approver, store, ManualClock::new());
        if started.is_err() {
            self.keys = Some(spare);
        }
        started
    }

    /// Stops it (the store file closes; the key store and its counter stay).
    pub fn stop(&mut self, e: TestEngine) {
        let (keys, _, store, _) = e.into_parts();
        drop(store);
        self.keys = Some(keys);
    }

    /// A copy of the store file as it is now (stopped: nothing in the WAL).
    pub fn backup(&self) -> Vec<u8> {
        std::fs::read(self.path()).unwrap()
    }

    pub fn restore(&self, copy: &[u8]) {
        std::fs::write(self.path(), copy).unwrap();
        let _ = std::fs::remove_file(self.dir.path().join("store.sqlite-wal"));
        let _ = std::fs::remove_file(self.dir.path().join("store.sqlite-shm"));
    }

    pub fn keys(&mut self) -> &mut SoftKeys {
        self.keys.as_mut().unwrap()
    }

    /// The store file opened directly, as another program would.
    pub fn db(&self) -> rusqlite::Connection {
        rusqlite::Connection::open(self.path()).unwrap()
    }
}
