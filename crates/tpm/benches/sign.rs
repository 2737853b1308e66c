//! Sign-path benchmark on one swtpm, in one run:
//!   (a) raw tss-esapi: Load + Sign + FlushContext of a P-256 ECDSA key (password session),
//!   (b) this crate's `Tpm::sign` for a user-presence key and for a PIN-bound key
//!       (which adds a policy session, a salted HMAC session and PolicySecret),
//! and prints each time and the ratio b/a. Not a timed test: it asserts nothing about speed.
//!
//! `cargo bench -p tpm-passkey-tpm --bench sign [-- --iterations N]`
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use sha2::{Digest as _, Sha256};
use tpm_passkey_tpm::{KeyAuth, PinHash, RootSeed, Swtpm, Tpm};
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
}
