//! The rollback counter against the TPM owner (docs/DESIGN.md "Rollback counter"): it only
//! counts up, and an index the owner undefines and defines again with the same public area
//! can never be initialised, so it never has the counter's Name. A control shows why the
//! one-time key is needed: a counter whose first increment needs no secret is rebuilt with
//! the same Name by the same attack code.
#![allow(clippy::unwrap_used)]
mod common;

use common::attacker::Attacker;
use common::Fixture;
use tpm_passkey_tpm::{Error, PolicyDigest, RollbackCounter};
use tss_esapi::{
    attributes::NvIndexAttributesBuilder,
    constants::response_code::Tss2ResponseCodeKind as Kind,
    constants::{CommandCode, NvIndexType},
    handles::{NvIndexHandle, NvIndexTpmHandle},
    interface_types::{
        algorithm::HashingAlgorithm,
        resource_handles::{NvAuth, Provision},
        session_handles::AuthSession,
    },
    structures::{Digest, NvPublicBuilder},
};

const HANDLE: u32 = 0x0138_0001;

fn kind(e: &tss_esapi::Error) -> Option<Kind> {
    match e {
        tss_esapi::Error::Tss2Error(rc) => rc.kind(),
        _ => None,
    }
}
const NV_INCREMENT: u32 = 0x0000_0134;

fn later_branch() -> [u8; 32] {
    PolicyDigest::new()
        .command_code(NV_INCREMENT)
        .nv_written(true)
        .bytes()
}

/// The attacker increments through branch N (PolicyNvWritten YES, no secret).
fn increment_through_n(
    a: &mut Attacker,
    nv: NvIndexHandle,
    first: [u8; 32],
) -> tss_esapi::Result<()> {
    a.write_through_n(CommandCode::NvIncrement, [first, later_branch()], |c| {
        c.nv_increment(NvAuth::NvIndex(nv), nv)
    })
}

/// Undefines the index and defines one with exactly the same public area (unwritten).
fn rebuild(a: &mut Attacker, handle: u32, policy: [u8; 32], owner_write: bool) -> NvIndexHandle {
    let nv = a.nv(handle);
    a.ctx
        .execute_with_session(Some(AuthSession::Password), |c| {
            c.nv_undefine_space(Provision::Owner, nv)
        })
        .unwrap();
    let mut attrs = NvIndexAttributesBuilder::new()
        .with_nv_index_type(NvIndexType::Counter)
        .with_no_da(true)
        .with_owner_read(true);
    attrs = if owner_write {
        attrs.with_owner_write(true)
    } else {
        attrs.with_policy_write(true)
    };
    let public = NvPublicBuilder::new()
        .with_nv_index(NvIndexTpmHandle::new(handle).unwrap())
        .with_index_name_algorithm(HashingAlgorithm::Sha256)
        .with_index_attributes(attrs.build().unwrap())
        .with_index_auth_policy(Digest::try_from(policy.to_vec()).unwrap())
        .with_data_area_size(8)
        .build()
        .unwrap();
    a.ctx
        .execute_with_session(Some(AuthSession::Password), |c| {
            c.nv_define_space(Provision::Owner, None, public)
        })
        .unwrap()
}

#[test]
fn it_counts_up_and_is_checked_on_every_open() {
    let f = Fixture::new();
    let mut t = f.tpm();
    let c = t.define_counter(HANDLE).unwrap();
    let v0 = t.read_counter(&c).unwrap();
    assert_eq!(t.increment_counter(&c).unwrap(), v0 + 1);
    assert_eq!(t.increment_counter(&c).unwrap(), v0 + 2);
    // Saved and opened again (a restart): the same counter, the same value.
    let (handle, first, name) = c.to_parts();
    let saved = RollbackCounter::from_parts(handle, first, name.clone());
    let opened = t.open_counter(&saved).unwrap();
    assert_eq!(t.read_counter(&opened).unwrap(), v0 + 2);
    // A record edited to another Name is refused.
    let mut other = name;
    other[5] ^= 1;
    let e = t
        .open_counter(&RollbackCounter::from_parts(handle, first, other))
        .unwrap_err();
    assert!(matches!(e, Error::PinIndexMismatch { .. }), "{e}");
}

#[test]
fn anyone_may_advance_it_but_the_owner_cannot_rebuild_it() {
    let f = Fixture::new();
    let c = f.tpm().define_counter(HANDLE).unwrap();
    let (handle, first, name) = c.to_parts();
    let policy = PolicyDigest::or(&[first, later_branch()]).bytes();
    let mut a = Attacker::connect(f.swtpm.tcti().as_str(), None);
    // Advancing is open to anyone with the TPM (a denial of service the seal reports).
    let nv = a.nv(handle);
    increment_through_n(&mut a, nv, first).unwrap();
    // Rebuilt with the same public area: it stays unwritten, so it has another Name...
    let rebuilt = rebuild(&mut a, handle, policy, false);
    let (public, rebuilt_name) = a.read_public(rebuilt);
    assert!(!public.attributes().written());
    assert_ne!(rebuilt_name, name);
    // ...and cannot be initialised: branch N needs a written index, F the dropped key.
    let e = increment_through_n(&mut a, rebuilt, first).unwrap_err();
    assert_eq!(kind(&e), Some(Kind::PolicyFail), "{e}");
    // Nor by the owner: no OWNERWRITE.
    let e = a
        .ctx
        .execute_with_session(Some(AuthSession::Password), |c| {
            c.nv_increment(NvAuth::Owner, rebuilt)
        })
        .unwrap_err();
    assert_eq!(kind(&e), Some(Kind::NvAuthorization), "{e}");
    let mut t = f.tpm();
    let e = t.open_counter(&c).unwrap_err();
    assert!(matches!(e, Error::PinIndexMismatch { .. }), "{e}");
}

/// Control: the same rebuild against a counter the owner may increment (OWNERWRITE, no
/// one-time key) gives an index with the original's Name — the attack the design stops.
#[test]
fn control_an_owner_written_counter_is_rebuilt_with_the_same_name() {
    let f = Fixture::new();
    let mut a = Attacker::connect(f.swtpm.tcti().as_str(), None);
    let policy = [0u8; 32];
    let define = |a: &mut Attacker| {
        let mut b = NvPublicBuilder::new();
        b = b
            .with_nv_index(NvIndexTpmHandle::new(HANDLE).unwrap())
            .with_index_name_algorithm(HashingAlgorithm::Sha256)
            .with_index_attributes(
                NvIndexAttributesBuilder::new()
                    .with_nv_index_type(NvIndexType::Counter)
                    .with_no_da(true)
                    .with_owner_read(true)
                    .with_owner_write(true)
                    .build()
                    .unwrap(),
            )
            .with_index_auth_policy(Digest::try_from(policy.to_vec()).unwrap())
            .with_data_area_size(8);
        let nv = a
            .ctx
            .execute_with_session(Some(AuthSession::Password), |c| {
                c.nv_define_space(Provision::Owner, None, b.build().unwrap())
            })
            .unwrap();
        a.ctx
            .execute_with_session(Some(AuthSession::Password), |c| {
                c.nv_increment(NvAuth::Owner, nv)
            })
            .unwrap();
        a.read_public(nv).1
    };
    let original = define(&mut a);
    let nv = a.nv(HANDLE);
    a.ctx
        .execute_with_session(Some(AuthSession::Password), |c| {
            c.nv_undefine_space(Provision::Owner, nv)
        })
        .unwrap();
    assert_eq!(
        define(&mut a),
        original,
        "same Name: the rebuild would pass a Name check"
    );
}
