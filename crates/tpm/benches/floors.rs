//! The raw TPM floors the benches compare against, through tss-esapi alone on the TPM the
//! figures use, in the same run (shared by `perf` here and the daemon's `transport` bench):
//!
//! * R_up  = Load + Sign + FlushContext of an empty-auth P-256 key;
//! * R_pin = StartAuthSession(policy) + PolicySecret(PIN index, through a salted session
//!   kept for the run) + Load + Sign + FlushContext of a key bound to that index.
//!
//! Each is timed twice: with ESYS as Debian ships it, which makes a fresh OpenSSL library
//! context for every digest, HMAC and nonce (what tpm2-pytss and tpm2-tools pay too), and
//! with the one context the daemon keeps (`tpm_passkey_tpm::esys_openssl`). The second is
//! the TPM's own cost plus ESYS's bookkeeping, and the one each figure is first compared
//! with; docs/PERFORMANCE.md "ESYS's OpenSSL contexts".

use std::time::Duration;

use sha2::{Digest as _, Sha256};
use tpm_passkey_core::PinHash;
use tpm_passkey_tpm::{esys_openssl, policy_secret_digest};
use tss_esapi::{
    attributes::{NvIndexAttributesBuilder, ObjectAttributesBuilder, SessionAttributesBuilder},
    constants::{tss::TPM2_RH_NULL, tss::TPM2_ST_HASHCHECK, NvIndexType, SessionType},
    handles::{KeyHandle, NvIndexTpmHandle},
    interface_types::{
        algorithm::{HashingAlgorithm, PublicAlgorithm},
        ecc::EccCurve,
        resource_handles::{Hierarchy, NvAuth, Provision},
        session_handles::{AuthSession, PolicySession},
    },
    structures::{
        Auth, Digest, EccPoint, EccScheme, HashScheme, HashcheckTicket, MaxNvBuffer, Nonce,
        NvPublicBuilder, Public, PublicBuilder, PublicEccParametersBuilder, SignatureScheme,
        SymmetricDefinition, SymmetricDefinitionObject,
    },
    tss2_esys::TPMT_TK_HASHCHECK,
    Context,
};

/// The PIN the floor's index is made with.
const FLOOR_PIN: &str = "bench-pin";

pub fn ecc_public(parent: bool, policy: Option<[u8; 32]>) -> Public {
    let attrs = ObjectAttributesBuilder::new()
        .with_fixed_tpm(true)
        .with_fixed_parent(true)
        .with_sensitive_data_origin(true)
        .with_user_with_auth(policy.is_none())
        .with_no_da(true)
        .with_restricted(parent)
        .with_decrypt(parent)
        .with_sign_encrypt(!parent)
        .build()
        .unwrap();
    let params = if parent {
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
    let mut b = PublicBuilder::new()
        .with_public_algorithm(PublicAlgorithm::Ecc)
        .with_name_hashing_algorithm(HashingAlgorithm::Sha256)
        .with_object_attributes(attrs)
        .with_ecc_parameters(params.build().unwrap())
        .with_ecc_unique_identifier(EccPoint::default());
    if let Some(p) = policy {
        b = b.with_auth_policy(Digest::try_from(p.to_vec()).unwrap());
    }
    b.build().unwrap()
}

/// The median of `n` runs of `f`, after one warm-up.
pub fn median(n: usize, mut f: impl FnMut() -> Duration) -> Duration {
    f(); // warm-up
    let mut samples: Vec<Duration> = (0..n).map(|_| f()).collect();
    samples.sort();
    samples[n / 2]
}

fn ticket() -> HashcheckTicket {
    HashcheckTicket::try_from(TPMT_TK_HASHCHECK {
        tag: TPM2_ST_HASHCHECK,
        hierarchy: TPM2_RH_NULL,
        digest: Default::default(),
    })
    .unwrap()
}

/// The floors of one run: R_up and R_pin with the kept OpenSSL context, and as ESYS ships.
#[derive(Debug, Clone, Copy)]
pub struct Floors {
    pub up: Duration,
    pub pin: Duration,
    pub up_shipped: Duration,
    pub pin_shipped: Duration,
}

impl Floors {
    /// The faster of two runs, floor by floor (warm-up favours the floor).
    pub fn min(self, o: Floors) -> Floors {
        Floors {
            up: self.up.min(o.up),
            pin: self.pin.min(o.pin),
            up_shipped: self.up_shipped.min(o.up_shipped),
            pin_shipped: self.pin_shipped.min(o.pin_shipped),
        }
    }

    /// Prints the floors of the runs before and after the figures; returns their minimum.
    pub fn print(before: Floors, after: Floors) -> Floors {
        let f = before.min(after);
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        let rows = [
            ("R_up  raw Load + Sign + Flush", f.up, before.up, after.up),
            (
                "R_pin raw PolicySecret + Load + Sign + Flush",
                f.pin,
                before.pin,
                after.pin,
            ),
            (
                "R_up  as ESYS ships (an OpenSSL context per digest)",
                f.up_shipped,
                before.up_shipped,
                after.up_shipped,
            ),
            (
                "R_pin as ESYS ships (an OpenSSL context per digest)",
                f.pin_shipped,
                before.pin_shipped,
                after.pin_shipped,
            ),
        ];
        for (name, min, b, a) in rows {
            println!(
                "{name:<58} {:>8.3}   (runs before/after: {:.3} / {:.3})",
                ms(min),
                ms(b),
                ms(a)
            );
        }
        f
    }

    /// `time`'s ratio to `floor` ("R_up" or "R_pin"), and to the same floor as ESYS ships.
    pub fn ratio(&self, time: Duration, floor: &str) -> String {
        let (kept, shipped) = if floor == "R_pin" {
            (self.pin, self.pin_shipped)
        } else {
            (self.up, self.up_shipped)
        };
        let r = |f: Duration| time.as_secs_f64() / f.as_secs_f64();
        format!("{:.2} x {floor}  ({:.2} x as shipped)", r(kept), r(shipped))
    }
}

/// The floors, both ways: medians of `n`, each run timed by `timed` (which may also count
/// its TPM commands).
pub fn raw_floors(
    tcti: &tpm_passkey_tpm::TctiChoice,
    n: usize,
    timed: &dyn Fn(&mut dyn FnMut()) -> Duration,
) -> Floors {
    esys_openssl::keep_one(false);
    let (up_shipped, pin_shipped) = raw_floors_once(tcti, n, timed);
    esys_openssl::keep_one(true);
    let (up, pin) = raw_floors_once(tcti, n, timed);
    Floors {
        up,
        pin,
        up_shipped,
        pin_shipped,
    }
}

/// The raw floors, through tss-esapi alone: (R_up, R_pin), medians of `n`.
fn raw_floors_once(
    tcti: &tpm_passkey_tpm::TctiChoice,
    n: usize,
    timed: &dyn Fn(&mut dyn FnMut()) -> Duration,
) -> (Duration, Duration) {
    let mut ctx = Context::new(tcti.name_conf().unwrap()).unwrap();
    let pw = Some(AuthSession::Password);
    let parent: KeyHandle = ctx
        .execute_with_session(pw, |c| {
            c.create_primary(
                Hierarchy::Owner,
                ecc_public(true, None),
                None,
                None,
                None,
                None,
            )
        })
        .unwrap()
        .key_handle;
    let digest = Digest::try_from(Sha256::digest(b"bench").to_vec()).unwrap();
    let up = ctx
        .execute_with_session(pw, |c| {
            c.create(parent, ecc_public(false, None), None, None, None, None)
        })
        .unwrap();
    let r_up = median(n, || {
        timed(&mut || {
            ctx.execute_with_session(pw, |c| {
                let h = c
                    .load(parent, up.out_private.clone(), up.out_public.clone())
                    .unwrap();
                c.sign(h, digest.clone(), SignatureScheme::Null, ticket())
                    .unwrap();
                c.flush_context(h.into()).unwrap();
            })
        })
    });

    // A PIN-fail index (owner-written here: the floor needs the counter, not the sealing).
    let pin = Auth::try_from(PinHash::from_pin(FLOOR_PIN).expose_secret_bytes().to_vec()).unwrap();
    let handle = 0x0150_0000 + (std::process::id() & 0xffff);
    let public = NvPublicBuilder::new()
        .with_nv_index(NvIndexTpmHandle::new(handle).unwrap())
        .with_index_name_algorithm(HashingAlgorithm::Sha256)
        .with_index_attributes(
            NvIndexAttributesBuilder::new()
                .with_nv_index_type(NvIndexType::PinFail)
                .with_no_da(true)
                .with_owner_write(true)
                .with_owner_read(true)
                .with_auth_read(true)
                .build()
                .unwrap(),
        )
        .with_data_area_size(8)
        .build()
        .unwrap();
    let nv = ctx
        .execute_with_session(pw, |c| {
            c.nv_define_space(Provision::Owner, Some(pin.clone()), public)
        })
        .unwrap();
    let counter = MaxNvBuffer::try_from([0, 0, 0, 0, 0, 0, 0, 8].to_vec()).unwrap();
    ctx.execute_with_session(pw, |c| c.nv_write(NvAuth::Owner, nv, counter, 0))
        .unwrap();
    let name = ctx.tr_get_name(nv.into()).unwrap();
    let bound = ctx
        .execute_with_session(pw, |c| {
            let policy = policy_secret_digest(name.value());
            c.create(
                parent,
                ecc_public(false, Some(policy)),
                None,
                None,
                None,
                None,
            )
        })
        .unwrap();
    ctx.tr_set_auth(nv.into(), pin).unwrap();
    let salted = ctx
        .start_auth_session(
            Some(parent),
            None,
            None,
            SessionType::Hmac,
            SymmetricDefinition::AES_128_CFB,
            HashingAlgorithm::Sha256,
        )
        .unwrap()
        .unwrap();
    let (attrs, mask) = SessionAttributesBuilder::new()
        .with_continue_session(true)
        .build();
    ctx.tr_sess_set_attributes(salted, attrs, mask).unwrap();
    let r_pin = median(n, || {
        timed(&mut || {
            let policy = ctx
                .start_auth_session(
                    None,
                    None,
                    None,
                    SessionType::Policy,
                    SymmetricDefinition::Null,
                    HashingAlgorithm::Sha256,
                )
                .unwrap()
                .unwrap();
            let (attrs, mask) = SessionAttributesBuilder::new()
                .with_continue_session(false)
                .build();
            ctx.tr_sess_set_attributes(policy, attrs, mask).unwrap();
            ctx.execute_with_session(Some(salted), |c| {
                c.policy_secret(
                    PolicySession::try_from(policy).unwrap(),
                    nv.into(),
                    Nonce::default(),
                    Digest::default(),
                    Nonce::default(),
                    None,
                )
            })
            .unwrap();
            let h = ctx
                .execute_with_session(pw, |c| {
                    c.load(parent, bound.out_private.clone(), bound.out_public.clone())
                })
                .unwrap();
            ctx.execute_with_session(Some(policy), |c| {
                c.sign(h, digest.clone(), SignatureScheme::Null, ticket())
            })
            .unwrap();
            // The TPM flushed the policy session (continueSession clear): forget it.
            let mut used = tss_esapi::handles::SessionHandle::from(policy).into();
            ctx.tr_close_flushed_session(&mut used).unwrap();
            ctx.flush_context(h.into()).unwrap();
        })
    });
    ctx.flush_context(tss_esapi::handles::SessionHandle::from(salted).into())
        .unwrap();
    ctx.execute_with_session(pw, |c| c.nv_undefine_space(Provision::Owner, nv))
        .unwrap();
    ctx.flush_context(parent.into()).unwrap();
    (r_up, r_pin)
}
