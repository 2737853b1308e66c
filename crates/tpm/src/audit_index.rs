//! The audit index: a TPM_NT_EXTEND NV index into which every audit checkpoint is extended,
//! and the attestation key that certifies it (docs/DESIGN.md "Audit checkpoints").
//!
//! An extend index (Part 1 §37.2.4, Part 3 §31.9) holds a digest that TPM2_NV_Extend
//! replaces by H(old ‖ data): it can be moved forward, never set. Built like the rollback
//! counter (`counter`): NO_DA | POLICYWRITE | AUTHREAD (empty authValue: its content is
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
    attributes::{NvIndexAttributes, NvIndexAttributesBuilder},
    constants::{response_code::Tss2ResponseCodeKind as Kind, CommandCode, NvIndexType},
    handles::{KeyHandle, NvIndexHandle, NvIndexTpmHandle},
    interface_types::{
        algorithm::HashingAlgorithm,
        resource_handles::{Hierarchy, NvAuth, Provision},
        session_handles::AuthSession,
    },
    structures::{Data, Digest, MaxNvBuffer, NvPublic, NvPublicBuilder, SignatureScheme},
};

use crate::{
    one_time_key::OneTimeKey,
    policy::{cc, PolicyDigest},
    session::{with_empty_password, NO_PARAM_ENCRYPTION},
    tpm::NvSlot,
    Error, Result, Tpm,
};

const INIT_REF: &[u8] = b"tpm-passkey audit init";
/// The index holds one SHA-256 digest.
pub const AUDIT_INDEX_SIZE: u16 = 32;

/// An audit index this crate defined and initialised; all of it public, kept by the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditIndex {
    handle: u32,
    name: Vec<u8>,
    /// Branch F's digest (it holds the dropped key's Name).
    first_branch: [u8; 32],
}

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
        (self.handle, self.first_branch, self.name.clone())
    }

    /// From the saved form (checked against the TPM by [`Tpm::open_audit_index`]).
    pub fn from_parts(handle: u32, first_branch: [u8; 32], name: Vec<u8>) -> Self {
        AuditIndex {
            handle,
            name,
            first_branch,
        }
    }

    pub fn handle(&self) -> u32 {
        self.handle
    }

    /// The index's Name, which every certification of it carries.
    pub fn name(&self) -> &[u8] {
        &self.name
    }

    fn branches(&self) -> [[u8; 32]; 2] {
        let later = PolicyDigest::new()
            .command_code(cc::NV_EXTEND)
            .nv_written(true)
            .bytes();
        [self.first_branch, later]
    }

    fn auth_policy(&self) -> [u8; 32] {
        PolicyDigest::or(&self.branches()).bytes()
    }
}

fn attributes(written: bool) -> Result<NvIndexAttributes> {
    NvIndexAttributesBuilder::new()
        .with_nv_index_type(NvIndexType::Extend)
        .with_no_da(true)
        .with_policy_write(true)
        .with_auth_read(true)
        .with_written(written)
        .build()
        .map_err(|e| Error::tss("audit index template", e))
}

impl Tpm {
    /// Defines an audit index at `handle` and initialises it: its first extend, through the
    /// one-time key (dropped here), with `first` (the caller's genesis value).
    pub fn define_audit_index(&mut self, handle: u32, first: &[u8; 32]) -> Result<AuditIndex> {
        let op = "define audit index";
        let writer = OneTimeKey::generate()?;
        let first_branch = PolicyDigest::new()
            .command_code(cc::NV_EXTEND)
            .nv_written(false)
            .signed(&writer.public().name()?, INIT_REF)
            .bytes();
        let mut index = AuditIndex {
            handle,
            name: Vec::new(),
            first_branch,
        };
        let err = |e| Error::tss(op, e);
        let template = NvPublicBuilder::new()
            .with_nv_index(NvIndexTpmHandle::new(handle).map_err(err)?)
            .with_index_name_algorithm(HashingAlgorithm::Sha256)
            .with_index_attributes(attributes(false)?)
            .with_index_auth_policy(Digest::try_from(index.auth_policy().to_vec()).map_err(err)?)
            .with_data_area_size(usize::from(AUDIT_INDEX_SIZE))
            .build()
            .map_err(err)?;
        let nv = self.as_owner(NO_PARAM_ENCRYPTION, op, |c| {
            c.nv_define_space(Provision::Owner, None, template)
                .map_err(|e| match Error::kind_of(&e) {
                    Some(Kind::NvDefined) => Error::IndexInUse(handle),
                    _ => Error::tss(op, e),
                })
        })?;
        self.cache_nv(NvSlot::Audit, handle, nv);
        let done = self.extend_with(nv, &index, first, Some(&writer));
        drop(writer);
        if let Err(e) = done {
            let _ = self.as_owner(NO_PARAM_ENCRYPTION, op, |c| {
                c.nv_undefine_space(Provision::Owner, nv)
                    .map_err(|e| Error::tss(op, e))
            });
            self.forget_nv(NvSlot::Audit);
            return Err(e);
        }
        let (public, name) = self.audit_public(nv)?;
        index.name = name;
        check(&index, &public)?;
        Ok(index)
    }

    /// Checks that the TPM's index at `saved`'s handle is exactly it (written, this policy,
    /// this Name); anything else is refused.
    pub fn open_audit_index(&mut self, saved: &AuditIndex) -> Result<()> {
        let nv = self.audit_handle(saved.handle)?;
        let (public, name) = self.audit_public(nv)?;
        if name != saved.name {
            return Err(Error::PinIndexMismatch {
                handle: saved.handle,
                why: "the audit index's Name differs from the one this store made",
            });
        }
        check(saved, &public)
    }

    /// Extends the index with `data` (branch N).
    pub fn extend_audit_index(&mut self, index: &AuditIndex, data: &[u8; 32]) -> Result<()> {
        let nv = self.audit_handle(index.handle)?;
        self.extend_with(nv, index, data, None)
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
        let nv = self.audit_handle(index.handle)?;
        let qualifying = Data::try_from(qualifying.to_vec()).map_err(|e| Error::tss(op, e))?;
        self.with_attestation_key(|tpm, ak| {
            let (attest, sig) = tpm
                .ctx
                .execute_with_sessions(
                    (
                        Some(AuthSession::Password),
                        Some(AuthSession::Password),
                        None,
                    ),
                    |c| {
                        c.nv_certify(
                            ak,
                            NvAuth::NvIndex(nv),
                            nv,
                            qualifying,
                            SignatureScheme::Null,
                            AUDIT_INDEX_SIZE,
                            0,
                        )
                    },
                )
                .map_err(|e| Error::tss(op, e))?;
            let signature = crate::keys::to_p256(sig)?.to_der().as_bytes().to_vec();
            Ok(Certified { attest, signature })
        })
    }

    /// The attestation key's public part (`templates::attestation_key`).
    pub fn attestation_public_key(&mut self) -> Result<VerifyingKey> {
        if self.ak_public.is_none() {
            self.with_attestation_key(|_, _| Ok(()))?;
        }
        self.ak_public.ok_or(Error::BadBlob("no attestation key"))
    }

    /// Runs `f` with the attestation key loaded (re-derived from the endorsement seed, then
    /// flushed: it needs no slot of the TPM's few between uses).
    pub(crate) fn with_attestation_key<T>(
        &mut self,
        f: impl FnOnce(&mut Tpm, KeyHandle) -> Result<T>,
    ) -> Result<T> {
        let op = "attestation key";
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
        if self.ak_public.is_none() {
            self.ak_public = Some(crate::blob::ecc_public_key(&made.out_public)?);
        }
        let out = f(self, made.key_handle);
        self.flush_object(made.key_handle.into());
        out
    }

    fn audit_handle(&mut self, handle: u32) -> Result<NvIndexHandle> {
        self.nv_object(NvSlot::Audit, handle, "open audit index")
    }

    fn audit_public(&mut self, nv: NvIndexHandle) -> Result<(NvPublic, Vec<u8>)> {
        let (public, name) = self
            .ctx
            .nv_read_public(nv)
            .map_err(|e| Error::tss("read audit index", e))?;
        Ok((public, name.value().to_vec()))
    }

    fn extend_with(
        &mut self,
        nv: NvIndexHandle,
        index: &AuditIndex,
        data: &[u8; 32],
        writer: Option<&OneTimeKey>,
    ) -> Result<()> {
        let op = "extend audit index";
        let data = MaxNvBuffer::try_from(data.to_vec()).map_err(|e| Error::tss(op, e))?;
        let first = writer.map(|w| (w, INIT_REF));
        self.write_one_way(CommandCode::NvExtend, &index.branches(), first, op, |c| {
            c.nv_extend(NvAuth::NvIndex(nv), nv, data)
        })
    }
}

/// The public area must be a written extend index with this policy.
fn check(index: &AuditIndex, public: &NvPublic) -> Result<()> {
    let mismatch = |why| Error::PinIndexMismatch {
        handle: index.handle,
        why,
    };
    if public.attributes() != attributes(true)? {
        return Err(mismatch(if public.attributes().written() {
            "the audit index's attributes differ"
        } else {
            "the audit index was never initialised (one defined again never is)"
        }));
    }
    if public.authorization_policy().value() != index.auth_policy().as_slice() {
        return Err(mismatch("the audit index's policy differs"));
    }
    if public.data_size() != usize::from(AUDIT_INDEX_SIZE)
        || public.name_algorithm() != HashingAlgorithm::Sha256
    {
        return Err(mismatch("the audit index's size or name algorithm differs"));
    }
    Ok(())
}
