//! The audit index and the attestation key on a real swtpm (docs/DESIGN.md "Audit
//! checkpoints"): statements check with the key's public part alone and follow every
//! extend; anyone may extend the index but nobody — the owner included — can set it back
//! or rebuild it with its Name; and the restricted key will not sign a statement a program
//! made up.
#![allow(clippy::unwrap_used)]
mod common;

use common::attacker::Attacker;
use common::{digest, Fixture};
use tpm_passkey_core::audit_proof::{replay, verify_statement, Attested, ST_ATTEST_NV};
use tpm_passkey_tpm::{AuditIndex, Error, PolicyDigest};
use tss_esapi::{
    attributes::NvIndexAttributesBuilder,
    constants::response_code::Tss2ResponseCodeKind as Kind,
    constants::{CommandCode, NvIndexType},
    handles::{NvIndexHandle, NvIndexTpmHandle},
    interface_types::{
        algorithm::HashingAlgorithm,
        resource_handles::{Hierarchy, NvAuth, Provision},
        session_handles::AuthSession,
    },
    structures::{Digest, MaxNvBuffer, NvPublicBuilder},
};

const HANDLE: u32 = 0x0138_0007;
const NV_EXTEND: u32 = 0x0000_0136;

fn kind(e: &tss_esapi::Error) -> Option<Kind> {
    match e {
        tss_esapi::Error::Tss2Error(rc) => rc.kind(),
        _ => None,
    }
}

fn later_branch() -> [u8; 32] {
    PolicyDigest::new()
        .command_code(NV_EXTEND)
        .nv_written(true)
        .bytes()
}

/// The attacker extends through branch N (PolicyNvWritten YES, no secret).
fn extend_through_n(
    a: &mut Attacker,
    nv: NvIndexHandle,
    first: [u8; 32],
    data: [u8; 32],
) -> tss_esapi::Result<()> {
    let data = MaxNvBuffer::try_from(data.to_vec())?;
    a.write_through_n(CommandCode::NvExtend, [first, later_branch()], |c| {
        c.nv_extend(NvAuth::NvIndex(nv), nv, data)
    })
}

fn value_of(key: &[u8], st: &tpm_passkey_tpm::Certified, index: &AuditIndex) -> Vec<u8> {
    let a = verify_statement(key, &st.attest, &st.signature, ST_ATTEST_NV).unwrap();
    match a.attested {
        Attested::Nv {
            index_name,
            contents,
            ..
        } => {
            assert_eq!(index_name, index.name());
            contents
        }
        other => panic!("not an NV statement: {other:?}"),
    }
}

#[test]
fn statements_check_with_the_public_key_alone_and_follow_every_extend() {
    let f = Fixture::new();
    let mut t = f.tpm();
    let genesis = tpm_passkey_core::audit_proof::genesis();
    let index = t.define_audit_index(HANDLE, &genesis).unwrap();
    let key = t
        .attestation_public_key()
        .unwrap()
        .to_sec1_point(false)
        .as_bytes()
        .to_vec();
    let (m1, m2) = (digest(b"checkpoint 1"), digest(b"checkpoint 2"));
    t.extend_audit_index(&index, &m1).unwrap();
    t.extend_audit_index(&index, &m2).unwrap();
    let st = t.certify_audit_index(&index, b"verifier's nonce").unwrap();
    assert_eq!(value_of(&key, &st, &index), replay([&m1, &m2]).to_vec());
    let parsed = tpm_passkey_core::audit_proof::parse_attest(&st.attest)
        .unwrap()
        .1;
    assert_eq!(parsed.extra_data, b"verifier's nonce");
    // Another connection (a restart) derives the same attestation key and opens the index.
    drop(t);
    let mut t = f.tpm();
    let again = t.attestation_public_key().unwrap().to_sec1_point(false);
    assert_eq!(again.as_bytes(), &key[..]);
    t.open_audit_index(&index).unwrap();
    // A tampered statement does not check.
    let mut bad = st.attest.clone();
    let last = bad.len() - 1;
    bad[last] ^= 1;
    assert!(verify_statement(&key, &bad, &st.signature, ST_ATTEST_NV).is_err());
}

#[test]
fn anyone_may_extend_it_but_nobody_can_set_it_back_or_rebuild_it() {
    let f = Fixture::new();
    let genesis = tpm_passkey_core::audit_proof::genesis();
    let index = f.tpm().define_audit_index(HANDLE, &genesis).unwrap();
    let (handle, first, name) = index.to_parts();
    let mut a = Attacker::connect(f.swtpm.tcti().as_str(), None);
    let nv = a.nv(handle);
    // Extending is open to anyone: the value moves on (and the log then fails to verify).
    extend_through_n(&mut a, nv, first, [1; 32]).unwrap();
    let mut t = f.tpm();
    let key = t
        .attestation_public_key()
        .unwrap()
        .to_sec1_point(false)
        .as_bytes()
        .to_vec();
    let st = t.certify_audit_index(&index, b"n").unwrap();
    assert_eq!(value_of(&key, &st, &index), replay([&[1; 32]]).to_vec());
    drop(t);
    // The owner cannot write it (no OWNERWRITE).
    let e = a
        .ctx
        .execute_with_session(Some(AuthSession::Password), |c| {
            c.nv_write(
                NvAuth::Owner,
                nv,
                MaxNvBuffer::try_from(vec![0u8; 32]).unwrap(),
                0,
            )
        })
        .unwrap_err();
    assert!(
        matches!(kind(&e), Some(Kind::NvAuthorization | Kind::Attributes)),
        "{e}"
    );
    // Undefined and defined again with the same public area: unwritten, another Name...
    a.ctx
        .execute_with_session(Some(AuthSession::Password), |c| {
            c.nv_undefine_space(Provision::Owner, nv)
        })
        .unwrap();
    let policy = PolicyDigest::or(&[first, later_branch()]).bytes();
    let public = NvPublicBuilder::new()
        .with_nv_index(NvIndexTpmHandle::new(handle).unwrap())
        .with_index_name_algorithm(HashingAlgorithm::Sha256)
        .with_index_attributes(
            NvIndexAttributesBuilder::new()
                .with_nv_index_type(NvIndexType::Extend)
                .with_no_da(true)
                .with_policy_write(true)
                .with_auth_read(true)
                .build()
                .unwrap(),
        )
        .with_index_auth_policy(Digest::try_from(policy.to_vec()).unwrap())
        .with_data_area_size(32)
        .build()
        .unwrap();
    let rebuilt = a
        .ctx
        .execute_with_session(Some(AuthSession::Password), |c| {
            c.nv_define_space(Provision::Owner, None, public)
        })
        .unwrap();
    let (public, rebuilt_name) = a.read_public(rebuilt);
    assert!(!public.attributes().written());
    assert_ne!(rebuilt_name, name);
    // ...and it cannot be written to take the old Name: N needs a written index.
    let e = extend_through_n(&mut a, rebuilt, first, genesis).unwrap_err();
    assert_eq!(kind(&e), Some(Kind::PolicyFail), "{e}");
    drop(a);
    let e = f.tpm().open_audit_index(&index).unwrap_err();
    assert!(matches!(e, Error::PinIndexMismatch { .. }), "{e}");
}

#[test]
fn the_attestation_key_will_not_sign_a_statement_a_program_made() {
    let f = Fixture::new();
    let mut a = Attacker::connect(f.swtpm.tcti().as_str(), None);
    let template = tpm_passkey_tpm::attestation_key_template().unwrap();
    let ak = a
        .ctx
        .execute_with_session(Some(AuthSession::Password), |c| {
            c.create_primary(Hierarchy::Endorsement, template, None, None, None, None)
        })
        .unwrap()
        .key_handle;
    // A forged TPMS_ATTEST, hashed by the attacker: a restricted key wants the TPM's own
    // ticket for that (Part 3 §20.2), and the TPM gives none for data that begins with
    // TPM_GENERATED_VALUE.
    let mut forged = 0xff54_4347u32.to_be_bytes().to_vec();
    forged.extend_from_slice(&[0x80, 0x14, 0, 0, 0, 0]);
    let e = a.sign_digest(ak, digest(&forged)).unwrap_err();
    assert_eq!(kind(&e), Some(Kind::Ticket), "{e}");
}
