//! NV indexes that only move forward and that nobody — the owner included — can rebuild:
//! the rollback counter (`counter`) and the audit index (`audit_index`), one pattern for
//! both (docs/DESIGN.md "Rollback counter", "Audit checkpoints").
//!
//! The index has NO_DA | POLICYWRITE and a read attribute, no OWNERWRITE or AUTHWRITE, and
//! authPolicy = PolicyOR(F, N):
//!
//! * F (first write) = PolicyCommandCode(cmd) ∧ PolicyNvWritten(NO) ∧ PolicySigned(one-time
//!   key, policyRef). The key signs the session's nonceTPM once and is dropped, so only the
//!   write that initialises this index can use F.
//! * N (every later write) = PolicyCommandCode(cmd) ∧ PolicyNvWritten(YES): no secret, but
//!   only for an index that is already written.
//!
//! Anyone with the TPM can therefore move it forward (a denial of service its user
//! reports), but nobody can set it back, and an index undefined by the owner and defined
//! again with the same public area stays unwritten — F needs the dropped key and N a
//! written index — so it never gets the written index's Name, which the caller keeps and
//! checks on every open. PolicyNvWritten (Part 3 §23.24) checks TPMA_NV_WRITTEN of the
//! index being authorized and names no index, so the policy is not circular.

use tss_esapi::{
    attributes::{NvIndexAttributes, NvIndexAttributesBuilder},
    constants::{response_code::Tss2ResponseCodeKind as Kind, CommandCode, NvIndexType},
    handles::{NvIndexHandle, NvIndexTpmHandle},
    interface_types::{
        algorithm::HashingAlgorithm, resource_handles::Provision, session_handles::PolicySession,
    },
    structures::{Digest, NvPublic, NvPublicBuilder},
};

use crate::{
    one_time_key::OneTimeKey,
    policy::PolicyDigest,
    session::{flush_session, start_policy_once, NO_PARAM_ENCRYPTION},
    tpm::NvSlot,
    Error, Result, Tpm,
};

/// What one kind of one-way index is.
pub(crate) struct OneWayKind {
    pub nv_type: NvIndexType,
    /// The write command and its code for PolicyCommandCode.
    pub command: CommandCode,
    pub cc: u32,
    pub size: u16,
    pub init_ref: &'static [u8],
    /// AUTHREAD (empty authValue: a public value) instead of OWNERREAD.
    pub auth_read: bool,
    pub slot: NvSlot,
    /// `op` names for errors, and the reasons an index is refused.
    pub define_op: &'static str,
    pub open_op: &'static str,
    pub write_op: &'static str,
    pub why: Why,
}

/// Why an index at the recorded handle is not the one recorded.
pub(crate) struct Why {
    pub name: &'static str,
    pub attributes: &'static str,
    pub unwritten: &'static str,
    pub policy: &'static str,
    pub size: &'static str,
}

/// An index this crate defined and initialised; all of it public, kept by the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OneWay {
    pub handle: u32,
    pub name: Vec<u8>,
    /// Branch F's digest (it holds the dropped key's Name).
    pub first_branch: [u8; 32],
}

impl OneWay {
    /// [F, N].
    pub fn branches(&self, kind: &OneWayKind) -> [[u8; 32]; 2] {
        let later = PolicyDigest::new()
            .command_code(kind.cc)
            .nv_written(true)
            .bytes();
        [self.first_branch, later]
    }

    fn auth_policy(&self, kind: &OneWayKind) -> [u8; 32] {
        PolicyDigest::or(&self.branches(kind)).bytes()
    }
}

fn attributes(kind: &OneWayKind, written: bool) -> Result<NvIndexAttributes> {
    let b = NvIndexAttributesBuilder::new()
        .with_nv_index_type(kind.nv_type)
        .with_no_da(true)
        .with_policy_write(true)
        .with_written(written);
    let b = if kind.auth_read {
        b.with_auth_read(true)
    } else {
        b.with_owner_read(true)
    };
    b.build().map_err(|e| Error::tss(kind.define_op, e))
}

impl Tpm {
    /// Defines an index of `kind` at `handle` and initialises it with `first_write`, run
    /// through branch F with the one-time key (dropped here). Returns it with its written
    /// Name; on failure the index is undefined again.
    pub(crate) fn define_one_way(
        &mut self,
        kind: &OneWayKind,
        handle: u32,
        first_write: impl FnOnce(&mut tss_esapi::Context, NvIndexHandle) -> tss_esapi::Result<()>,
    ) -> Result<OneWay> {
        let op = kind.define_op;
        let writer = OneTimeKey::generate()?;
        let first_branch = PolicyDigest::new()
            .command_code(kind.cc)
            .nv_written(false)
            .signed(&writer.public().name()?, kind.init_ref)
            .bytes();
        let mut index = OneWay {
            handle,
            name: Vec::new(),
            first_branch,
        };
        let err = |e| Error::tss(op, e);
        let template = NvPublicBuilder::new()
            .with_nv_index(NvIndexTpmHandle::new(handle).map_err(err)?)
            .with_index_name_algorithm(HashingAlgorithm::Sha256)
            .with_index_attributes(attributes(kind, false)?)
            .with_index_auth_policy(
                Digest::try_from(index.auth_policy(kind).to_vec()).map_err(err)?,
            )
            .with_data_area_size(usize::from(kind.size))
            .build()
            .map_err(err)?;
        let nv = self.as_owner(NO_PARAM_ENCRYPTION, op, |c| {
            c.nv_define_space(Provision::Owner, None, template)
                .map_err(|e| match Error::kind_of(&e) {
                    Some(Kind::NvDefined) => Error::IndexInUse(handle),
                    _ => Error::tss(op, e),
                })
        })?;
        self.cache_nv(kind.slot, handle, nv);
        let branches = index.branches(kind);
        let first = self.write_one_way(
            kind.command,
            &branches,
            Some((&writer, kind.init_ref)),
            op,
            |c| first_write(c, nv),
        );
        drop(writer);
        if let Err(e) = first {
            let _ = self.as_owner(NO_PARAM_ENCRYPTION, op, |c| {
                c.nv_undefine_space(Provision::Owner, nv)
                    .map_err(|e| Error::tss(op, e))
            });
            self.forget_nv(kind.slot);
            return Err(e);
        }
        let (public, name) = self.one_way_public(kind, nv)?;
        index.name = name;
        check(kind, &index, &public)?;
        Ok(index)
    }

    /// The ESYS object of `saved`'s index, after checking that the TPM's index at that
    /// handle is exactly it (written, this policy, this Name); anything else is refused.
    pub(crate) fn open_one_way(
        &mut self,
        kind: &OneWayKind,
        saved: &OneWay,
    ) -> Result<NvIndexHandle> {
        let nv = self.one_way_handle(kind, saved.handle)?;
        let (public, name) = self.one_way_public(kind, nv)?;
        if name != saved.name {
            return Err(Error::PinIndexMismatch {
                handle: saved.handle,
                why: kind.why.name,
            });
        }
        check(kind, saved, &public)?;
        Ok(nv)
    }

    /// The ESYS object of the index at `handle` (no check: for writes and reads after
    /// [`Tpm::open_one_way`]).
    pub(crate) fn one_way_handle(
        &mut self,
        kind: &OneWayKind,
        handle: u32,
    ) -> Result<NvIndexHandle> {
        self.nv_object(kind.slot, handle, kind.open_op)
    }

    /// Writes through branch N: `command` is the kind's write command on the index.
    pub(crate) fn write_one_way_later(
        &mut self,
        kind: &OneWayKind,
        index: &OneWay,
        command: impl FnOnce(&mut tss_esapi::Context, NvIndexHandle) -> tss_esapi::Result<()>,
    ) -> Result<()> {
        let nv = self.one_way_handle(kind, index.handle)?;
        let branches = index.branches(kind);
        self.write_one_way(kind.command, &branches, None, kind.write_op, |c| {
            command(c, nv)
        })
    }

    fn one_way_public(
        &mut self,
        kind: &OneWayKind,
        nv: NvIndexHandle,
    ) -> Result<(NvPublic, Vec<u8>)> {
        let (public, name) = self
            .ctx
            .nv_read_public(nv)
            .map_err(|e| Error::tss(kind.open_op, e))?;
        Ok((public, name.value().to_vec()))
    }

    /// Runs `command` (a write of a one-way index, `code` being its command) through
    /// branch F — `first` gives the one-time key and its policyRef — or N. `branches` =
    /// [F, N].
    fn write_one_way(
        &mut self,
        code: CommandCode,
        branches: &[[u8; 32]; 2],
        first: Option<(&OneTimeKey, &[u8])>,
        op: &'static str,
        command: impl FnOnce(&mut tss_esapi::Context) -> tss_esapi::Result<()>,
    ) -> Result<()> {
        let session = start_policy_once(&mut self.ctx, op)?;
        let out = (|| {
            let p = PolicySession::try_from(session).map_err(|e| Error::tss(op, e))?;
            let nonce = self
                .ctx
                .tr_sess_get_nonce_tpm(session)
                .map_err(|e| Error::tss(op, e))?;
            self.ctx
                .policy_command_code(p, code)
                .map_err(|e| Error::tss(op, e))?;
            self.ctx
                .policy_nv_written(p, first.is_none())
                .map_err(|e| Error::tss(op, e))?;
            if let Some((writer, policy_ref)) = first {
                self.policy_signed_once(p, nonce, writer, policy_ref, op)?;
            }
            crate::session::policy_or(&mut self.ctx, p, branches, op)?;
            self.ctx
                .execute_with_session(Some(session), command)
                .map_err(|e| Error::tss(op, e))
        })();
        match out {
            Ok(()) => crate::session::forget_used_session(&mut self.ctx, session),
            Err(_) => flush_session(&mut self.ctx, session),
        }
        out
    }
}

/// The public area must be a written index of `kind` with this policy (a Name is only a
/// hash: the structure is checked too).
fn check(kind: &OneWayKind, index: &OneWay, public: &NvPublic) -> Result<()> {
    let mismatch = |why| Error::PinIndexMismatch {
        handle: index.handle,
        why,
    };
    if public.attributes() != attributes(kind, true)? {
        return Err(mismatch(if public.attributes().written() {
            kind.why.attributes
        } else {
            kind.why.unwritten
        }));
    }
    if public.authorization_policy().value() != index.auth_policy(kind).as_slice() {
        return Err(mismatch(kind.why.policy));
    }
    if public.data_size() != usize::from(kind.size)
        || public.name_algorithm() != HashingAlgorithm::Sha256
    {
        return Err(mismatch(kind.why.size));
    }
    Ok(())
}
