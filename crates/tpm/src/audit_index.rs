//! The audit index: a TPM_NT_EXTEND NV index into which every audit checkpoint is extended,
//! and the attestation key that certifies it (docs/DESIGN.md "Audit checkpoints").
//!
//! An extend index (Part 1 §37.2.4, Part 3 §31.9) holds a digest that TPM2_NV_Extend
//! replaces by H(old ‖ data): it can be moved forward, never set. Built like the rollback
//! counter (`one_way`): NO_DA | POLICYWRITE | AUTHREAD (empty authValue: its content is
//! public), no OWNERWRITE or AUTHWRITE, authPolicy = PolicyOR(F, N) with
//!
//! * F (first extend) = PolicyCommandCode(NV_Extend) ∧ PolicyNvWritten(NO) ∧
//!   PolicySigned(dropped one-time key, "tpm-passkey audit init"),
//! * N (later extends) = PolicyCommandCode(NV_Extend) ∧ PolicyNvWritten(YES).
//!
//! So anyone with the TPM can extend it (which only makes the log fail to verify: it then
//! no longer matches), nobody can set it back, and an index the owner deletes and defines
//! again never gets the written Name the store keeps. TPM2_NV_Certify by the attestation
//! key (a restricted signing key: `templates::attestation_key`) turns its current value into
//! a TPM-signed, clock-stamped statement that a verifier elsewhere checks with the key's
//! public part alone.

use p256::ecdsa::VerifyingKey;
use tss_esapi::{
    constants::{response_code::Tss2ResponseCodeKind as Kind, CommandCode, NvIndexType},
    handles::KeyHandle,
    interface_types::{
        resource_handles::{Hierarchy, NvAuth},
        session_handles::AuthSession,
    },
    structures::{Data, MaxNvBuffer, SignatureScheme},
};

use crate::{
    one_way::{OneWay, OneWayKind, Why},
    policy::cc,
    session::with_empty_password,
    tpm::NvSlot,
    Error, Result, Tpm,
};

/// The index holds one SHA-256 digest.
pub const AUDIT_INDEX_SIZE: u16 = 32;

const AUDIT: OneWayKind = OneWayKind {
    nv_type: NvIndexType::Extend,
    command: CommandCode::NvExtend,
    cc: cc::NV_EXTEND,
    size: AUDIT_INDEX_SIZE,
    init_ref: b"tpm-passkey audit init",
    auth_read: true,
    slot: NvSlot::Audit,
    define_op: "define audit index",
    open_op: "open audit index",
    write_op: "extend audit index",
    why: Why {
        name: "the audit index's Name differs from the one this store made",
        attributes: "the audit index's attributes differ",
        unwritten: "the audit index was never initialised (one defined again never is)",
        policy: "the audit index's policy differs",
        size: "the audit index's size or name algorithm differs",
    },
};

/// An audit index this crate defined and initialised; all of it public, kept by the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditIndex(OneWay);

/// A TPM statement: TPMS_ATTEST exactly as the TPM marshalled it, and the attestation key's
/// ECDSA P-256 / SHA-256 signature over it (DER).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Certified {
    pub attest: Vec<u8>,
    pub signature: Vec<u8>,
}

impl AuditIndex {
    /// The saved form: handle, first-branch digest, Name.
    pub fn to_parts(&self) -> (u32, [u8; 32], Vec<u8>) {
        (self.0.handle, self.0.first_branch, self.0.name.clone())
    }

    /// From the saved form (checked against the TPM by [`Tpm::open_audit_index`]).
    pub fn from_parts(handle: u32, first_branch: [u8; 32], name: Vec<u8>) -> Self {
        AuditIndex(OneWay {
            handle,
            name,
            first_branch,
        })
    }

    pub fn handle(&self) -> u32 {
        self.0.handle
    }

    /// The index's Name, which every certification of it carries.
    pub fn name(&self) -> &[u8] {
        &self.0.name
    }
}

fn extend_data(data: &[u8; 32]) -> tss_esapi::Result<MaxNvBuffer> {
    MaxNvBuffer::try_from(data.to_vec())
}

impl Tpm {
    /// Defines an audit index at `handle` and initialises it: its first extend, with
    /// `first` (the caller's genesis value).
    pub fn define_audit_index(&mut self, handle: u32, first: &[u8; 32]) -> Result<AuditIndex> {
        self.define_one_way(&AUDIT, handle, |c, nv| {
            c.nv_extend(NvAuth::NvIndex(nv), nv, extend_data(first)?)
        })
        .map(AuditIndex)
    }

    /// Checks that the TPM's index at `saved`'s handle is exactly it (written, this policy,
    /// this Name); anything else is refused.
    pub fn open_audit_index(&mut self, saved: &AuditIndex) -> Result<()> {
        self.open_one_way(&AUDIT, &saved.0).map(|_| ())
    }

    /// Extends the index with `data` (branch N).
    pub fn extend_audit_index(&mut self, index: &AuditIndex, data: &[u8; 32]) -> Result<()> {
        self.write_one_way_later(&AUDIT, &index.0, |c, nv| {
            c.nv_extend(NvAuth::NvIndex(nv), nv, extend_data(data)?)
        })
    }

    /// The index's value now, as a statement signed by the attestation key:
    /// TPM2_NV_Certify (Part 3 §31.16) with `qualifying` as extraData (a verifier's nonce,
    /// or what binds the statement to its context).
    pub fn certify_audit_index(
        &mut self,
        index: &AuditIndex,
        qualifying: &[u8],
    ) -> Result<Certified> {
        let op = "certify audit index";
        let nv = self.one_way_handle(&AUDIT, index.0.handle)?;
        let qualifying = Data::try_from(qualifying.to_vec()).map_err(|e| Error::tss(op, e))?;
        let (attest, signature) = self.attested_by_ak(op, |c, ak| {
            c.nv_certify(
                ak,
                NvAuth::NvIndex(nv),
                nv,
                qualifying,
                SignatureScheme::Null,
                AUDIT_INDEX_SIZE,
                0,
            )
        })?;
        Ok(Certified { attest, signature })
    }

    /// Runs `statement` (a TPM2_Certify or TPM2_NV_Certify by the attestation key `ak`,
    /// both of its authorizations the empty password) and returns the TPMS_ATTEST as the TPM
    /// marshalled it with the signature in DER.
    pub(crate) fn attested_by_ak(
        &mut self,
        op: &'static str,
        statement: impl FnOnce(
            &mut tss_esapi::Context,
            KeyHandle,
        )
            -> tss_esapi::Result<(Vec<u8>, tss_esapi::structures::Signature)>,
    ) -> Result<(Vec<u8>, Vec<u8>)> {
        self.with_attestation_key(|tpm, ak| {
            let (attest, sig) = tpm
                .ctx
                .execute_with_sessions(
                    (
                        Some(AuthSession::Password),
                        Some(AuthSession::Password),
                        None,
                    ),
                    |c| statement(c, ak),
                )
                .map_err(|e| Error::tss(op, e))?;
            let signature = crate::keys::to_p256(sig)?.to_der().as_bytes().to_vec();
            Ok((attest, signature))
        })
    }

    /// The attestation key's public part (`templates::attestation_key`): derived by the
    /// TPM each time (the key store keeps it once learnt).
    pub fn attestation_public_key(&mut self) -> Result<VerifyingKey> {
        let op = "attestation key";
        let (handle, public) = self.create_attestation_key(op)?;
        self.flush_object(handle.into());
        crate::blob::ecc_public_key(&public)
    }

    /// Runs `f` with the attestation key loaded (re-derived from the endorsement seed, then
    /// flushed: it needs no slot of the TPM's few between uses).
    pub(crate) fn with_attestation_key<T>(
        &mut self,
        f: impl FnOnce(&mut Tpm, KeyHandle) -> Result<T>,
    ) -> Result<T> {
        let (handle, _) = self.create_attestation_key("attestation key")?;
        let out = f(self, handle);
        self.flush_object(handle.into());
        out
    }

    fn create_attestation_key(
        &mut self,
        op: &'static str,
    ) -> Result<(KeyHandle, tss_esapi::structures::Public)> {
        let template = crate::templates::attestation_key()?;
        let made = with_empty_password(&mut self.ctx, |c| {
            c.create_primary(Hierarchy::Endorsement, template, None, None, None, None)
        })
        .map_err(|e| match Error::kind_of(&e) {
            Some(Kind::BadAuth | Kind::AuthFail) => Error::Tpm {
                op,
                code: "the endorsement hierarchy has a password: no attestation key".into(),
            },
            _ => Error::tss(op, e),
        })?;
        Ok((made.key_handle, made.out_public))
    }
}
