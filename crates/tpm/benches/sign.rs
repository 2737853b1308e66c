//! Sign-path benchmark on one swtpm, in one run:
//!   (a) raw tss-esapi: Load + Sign + FlushContext of a P-256 ECDSA key (password session),
//!   (b) this crate's `Tpm::sign` for a user-presence key and for a PIN-bound key
//!       (which adds a policy session, a salted HMAC session and PolicySecret),
//!   (c) a whole CTAP getAssertion through the engine over `TpmKeyStore` (CBOR in, store
//!       update, signature, CBOR out): for a user-presence credential, and for a PIN-bound
//!       one with built-in user verification (the TPM checks the PIN, then signs with it),
//! and prints each time and the ratio to (a). Not a timed test: it asserts nothing about speed.
//!
//! `cargo bench -p tpm-passkey-tpm --bench sign [-- --iterations N]`
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use ciborium::value::Value;
use sha2::{Digest as _, Sha256};
use tpm_passkey_core::{Approver, Engine, KeyStore, Prompt, Refusal, Store};
use tpm_passkey_tpm::{KeyAuth, PinHash, RootSeed, Swtpm, Tpm, TpmKeyStore};
use tss_esapi::{
    attributes::ObjectAttributesBuilder,
    constants::tss::{TPM2_RH_NULL, TPM2_ST_HASHCHECK},
    interface_types::{
        algorithm::{HashingAlgorithm, PublicAlgorithm},
        ecc::EccCurve,
        resource_handles::Hierarchy,
        session_handles::AuthSession,
    },
    structures::{
        Digest, EccPoint, EccScheme, HashScheme, HashcheckTicket, Public, PublicBuilder,
        PublicEccParametersBuilder, SignatureScheme, SymmetricDefinitionObject,
    },
    tss2_esys::TPMT_TK_HASHCHECK,
    Context,
};

fn ecc_public(restricted_parent: bool) -> Public {
    let attrs = ObjectAttributesBuilder::new()
        .with_fixed_tpm(true)
        .with_fixed_parent(true)
        .with_sensitive_data_origin(true)
        .with_user_with_auth(true)
        .with_no_da(true)
        .with_restricted(restricted_parent)
        .with_decrypt(restricted_parent)
        .with_sign_encrypt(!restricted_parent)
        .build()
        .expect("attributes");
    let params = if restricted_parent {
        PublicEccParametersBuilder::new_restricted_decryption_key(
            SymmetricDefinitionObject::AES_128_CFB,
            EccCurve::NistP256,
        )
    } else {
        PublicEccParametersBuilder::new_unrestricted_signing_key(
            EccScheme::EcDsa(HashScheme::new(HashingAlgorithm::Sha256)),
            EccCurve::NistP256,
        )
    };
    PublicBuilder::new()
        .with_public_algorithm(PublicAlgorithm::Ecc)
        .with_name_hashing_algorithm(HashingAlgorithm::Sha256)
        .with_object_attributes(attrs)
        .with_ecc_parameters(params.build().expect("params"))
        .with_ecc_unique_identifier(EccPoint::default())
        .build()
        .expect("public")
}

fn time(n: usize, mut f: impl FnMut()) -> Duration {
    f(); // warm-up: first use pays for ESYS and swtpm caches
    let mut samples: Vec<Duration> = (0..n)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .collect();
    samples.sort();
    samples[n / 2]
}

fn raw_load_sign_flush(swtpm: &Swtpm, n: usize, digest: &[u8; 32]) -> Duration {
    let mut ctx = Context::new(swtpm.tcti().as_str().parse().expect("tcti")).expect("context");
    let pw = Some(AuthSession::Password);
    let parent = ctx
        .execute_with_session(pw, |c| {
            c.create_primary(Hierarchy::Owner, ecc_public(true), None, None, None, None)
        })
        .expect("primary")
        .key_handle;
    let key = ctx
        .execute_with_session(pw, |c| {
            c.create(parent, ecc_public(false), None, None, None, None)
        })
        .expect("create");
    let ticket = || {
        HashcheckTicket::try_from(TPMT_TK_HASHCHECK {
            tag: TPM2_ST_HASHCHECK,
            hierarchy: TPM2_RH_NULL,
            digest: Default::default(),
        })
        .expect("ticket")
    };
    let d = time(n, || {
        ctx.execute_with_session(pw, |c| {
            let h = c
                .load(parent, key.out_private.clone(), key.out_public.clone())
                .expect("load");
            c.sign(
                h,
                Digest::try_from(digest.to_vec()).expect("digest"),
                SignatureScheme::Null,
                ticket(),
            )
            .expect("sign");
            c.flush_context(h.into()).expect("flush");
        })
    });
    ctx.flush_context(parent.into()).expect("flush parent");
    d
}

/// Approves every prompt, typing the bench PIN when asked.
struct Approve;

impl Approver for Approve {
    fn ask(&mut self, p: &Prompt) -> Result<Option<PinHash>, Refusal> {
        Ok(p.pin_required.then(|| PinHash::from_pin("bench-pin")))
    }
}

fn cbor(cmd: u8, v: Value) -> Vec<u8> {
    let mut out = vec![cmd];
    ciborium::ser::into_writer(&v, &mut out).expect("encode");
    out
}

fn text(s: &str) -> Value {
    Value::Text(s.into())
}

fn map(entries: Vec<(Value, Value)>) -> Value {
    Value::Map(entries)
}

/// makeCredential for bench.example (non-discoverable); `uv` asks for built-in UV.
fn make_credential(uv: bool) -> Vec<u8> {
    cbor(
        0x01,
        map(vec![
            (1.into(), Value::Bytes(vec![1; 32])),
            (2.into(), map(vec![(text("id"), text("bench.example"))])),
            (3.into(), map(vec![(text("id"), Value::Bytes(vec![7]))])),
            (
                4.into(),
                Value::Array(vec![map(vec![
                    (text("alg"), (-7).into()),
                    (text("type"), text("public-key")),
                ])]),
            ),
            (7.into(), map(vec![(text("uv"), uv.into())])),
        ]),
    )
}

fn get_assertion(credential_id: &[u8], uv: bool) -> Vec<u8> {
    let allow = map(vec![
        (text("id"), Value::Bytes(credential_id.to_vec())),
        (text("type"), text("public-key")),
    ]);
    cbor(
        0x02,
        map(vec![
            (1.into(), text("bench.example")),
            (2.into(), Value::Bytes(vec![2; 32])),
            (3.into(), Value::Array(vec![allow])),
            (5.into(), map(vec![(text("uv"), uv.into())])),
        ]),
    )
}

/// The credential id inside a makeCredential response's authData.
fn credential_id(response: &[u8]) -> Vec<u8> {
    assert_eq!(response[0], 0, "makeCredential status");
    let v: Value = ciborium::de::from_reader(&response[1..]).expect("response");
    let Value::Map(m) = v else {
        panic!("not a map")
    };
    let Some((_, Value::Bytes(auth_data))) = m.into_iter().find(|(k, _)| *k == Value::from(2))
    else {
        panic!("no authData")
    };
    let len = u16::from_be_bytes([auth_data[53], auth_data[54]]) as usize;
    auth_data[55..55 + len].to_vec()
}

struct EngineTimes {
    up: Duration,
    pin: Duration,
    retries: Duration,
    verify: Duration,
}

/// (c): getAssertion through the engine, UP-only then PIN-bound with built-in UV.
fn engine_assertions(swtpm: &Swtpm, n: usize) -> EngineTimes {
    let keys = TpmKeyStore::open(&swtpm.tcti(), None, None).expect("key store");
    let store = Store::open_in_memory().expect("store");
    let mut engine = Engine::new(keys, Approve, store).expect("engine");
    // alwaysUv off (no PIN yet, so no token is needed), for a user-presence credential.
    assert_eq!(
        engine.process(&cbor(0x0d, map(vec![(1.into(), 2.into())])))[0],
        0
    );
    let up_id = credential_id(&engine.process(&make_credential(false)));
    let up_request = get_assertion(&up_id, false);
    let up = time(n, || {
        assert_eq!(engine.process(&up_request)[0], 0, "UP assertion")
    });
    engine
        .keys_mut()
        .set_pin(&PinHash::from_pin("bench-pin"))
        .expect("PIN");
    let pin_id = credential_id(&engine.process(&make_credential(true)));
    let pin_request = get_assertion(&pin_id, true);
    let pin = time(n, || {
        assert_eq!(engine.process(&pin_request)[0], 0, "UV assertion")
    });
    // The parts of the built-in UV path, to see where its time goes.
    let h = PinHash::from_pin("bench-pin");
    let retries = time(n, || {
        engine.keys_mut().pin_retries().expect("retries");
    });
    let verify = time(n, || engine.keys_mut().verify_pin(&h).expect("verify"));
    EngineTimes {
        up,
        pin,
        retries,
        verify,
    }
}

fn main() {
    let mut n = 200;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        if a == "--iterations" {
            n = args
                .next()
                .and_then(|v| v.parse().ok())
                .expect("--iterations N");
        }
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let swtpm = Swtpm::start(dir.path()).expect("swtpm");
    let digest: [u8; 32] = Sha256::digest(b"bench").into();

    let raw_before = raw_load_sign_flush(&swtpm, n, &digest);

    let mut tpm =
        Tpm::open(&swtpm.tcti(), &RootSeed::generate().expect("seed"), None).expect("open");
    let pin = PinHash::from_pin("bench-pin");
    let index = tpm.define_pin_index(None, &pin).expect("pin index");
    let up = tpm.create_key(None).expect("key");
    let bound = tpm.create_key(Some(&index)).expect("key");
    let crate_up = time(n, || {
        tpm.sign(&up.blob, &digest, KeyAuth::None).expect("sign");
    });
    let crate_pin = time(n, || {
        tpm.sign(&bound.blob, &digest, KeyAuth::pin(&index, &pin))
            .expect("sign");
    });

    drop(tpm); // swtpm serves one connection at a time
    let e = engine_assertions(&swtpm, n);
    let raw_after = raw_load_sign_flush(&swtpm, n, &digest);
    // The baseline is the faster of the two raw runs, so that warm-up favours the raw path.
    let raw = raw_before.min(raw_after);

    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!("swtpm sign path, median of {n} (ms):");
    println!(
        "  (a) raw tss-esapi Load+Sign+Flush     {:>8.3}   (runs before/after: {:.3} / {:.3})",
        ms(raw),
        ms(raw_before),
        ms(raw_after)
    );
    println!(
        "  (b) Tpm::sign, user-presence key      {:>8.3}   ratio b/a = {:.2}",
        ms(crate_up),
        ms(crate_up) / ms(raw)
    );
    println!(
        "  (b) Tpm::sign, PIN-bound key          {:>8.3}   ratio b/a = {:.2}",
        ms(crate_pin),
        ms(crate_pin) / ms(raw)
    );
    println!(
        "  (c) engine getAssertion, UP only      {:>8.3}   ratio c/a = {:.2}",
        ms(e.up),
        ms(e.up) / ms(raw)
    );
    println!(
        "  (c) engine getAssertion, built-in UV  {:>8.3}   ratio c/a = {:.2}",
        ms(e.pin),
        ms(e.pin) / ms(raw)
    );
    println!(
        "      of which: read PIN retries {:.3}, verify PIN {:.3}, PIN-bound sign (b)",
        ms(e.retries),
        ms(e.verify)
    );
}
