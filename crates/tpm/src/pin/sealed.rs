//! The rebuild-proof PIN index (docs/DESIGN.md "PIN index").
//!
//! Attributes: TPM_NT_PIN_FAIL | NO_DA | POLICYWRITE | OWNERREAD — no OWNERWRITE, no
//! AUTHWRITE (Part 2 §13.4). authPolicy = PolicyOR(W, C):
//!
//! * W = PolicyCommandCode(NV_Write) ∧ PolicySigned(writer, "tpm-passkey PIN init"). The
//!   writer is a one-time key: it signs the session's nonceTPM once, for the write that
//!   sets {pinCount 0, pinLimit 8} and TPMA_NV_WRITTEN, and is dropped. Nobody can write
//!   the index again, and an index defined again with the same public area stays
//!   unwritten — another Name, unusable for PolicySecret.
//! * C = PolicyAuthorize(approver, "tpm-passkey PIN change"), where the approver, another
//!   one-time key, approved exactly one policy before it was dropped:
//!   PolicyCommandCode(NV_ChangeAuth) ∧ PolicySecret(this index). The old PIN is thus
//!   proven through PolicySecret, authorized by an HMAC session (USER role), where the TPM
//!   enforces pinLimit. (The obvious PolicyCommandCode(NV_ChangeAuth) ∧ PolicyAuthValue
//!   branch is not used: a policy session skips the pinCount < pinLimit check, so it would
//!   let anyone guess the PIN without limit and reset the counter — shown by
//!   `attacks::auth_value_branch_would_be_an_unlimited_oracle`.)
//!
//! The approval (a signature over H(approvedPolicy ‖ policyRef)) is public and kept by
//! the caller; it only ever unlocks a branch that needs the PIN.
//!
//! An *anchored* index (issue 21, `anchors`) is the same with branch C's policyRef
//! [`CHANGE_REF_ANCHORED`]; before it is dropped, its approver also signs what the
//! enrolment anchors (the audit index, the counters, the anchor key).

use tss_esapi::{
    attributes::{NvIndexAttributes, NvIndexAttributesBuilder},
    constants::{response_code::Tss2ResponseCodeKind as Kind, CommandCode, NvIndexType},
    handles::{NvIndexHandle, NvIndexTpmHandle, SessionHandle},
    interface_types::{
        algorithm::HashingAlgorithm,
        resource_handles::{Hierarchy, NvAuth, Provision},
        session_handles::PolicySession,
    },
    structures::{Digest, MaxNvBuffer, Name, Nonce, NvPublic, NvPublicBuilder},
};

use super::anchors::{AnchorTargets, Anchors, CHANGE_REF_ANCHORED};
use super::{pin_auth, PinIndex, PinKind, DATA_SIZE, PIN_LIMIT};
use crate::{
    bound::ProofFor,
    one_time_key::{tpm_signature, ExternalKey, OneTimeKey},
    policy::{authorize_message, cc, PolicyDigest},
    session::{flush_session, forget_used_session, ParamEncryption},
    Error, PinHash, Result, Tpm,
};

const WRITE_REF: &[u8] = b"tpm-passkey PIN init";
const CHANGE_REF: &[u8] = b"tpm-passkey PIN change";

/// What the caller keeps to use a sealed index's policy; all of it public.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedPolicy {
    /// Branch W's digest (it holds the writer's Name, which is not needed otherwise).
    pub(crate) write_branch: [u8; 32],
    /// The approver's public key (its Name is in branch C).
    pub(crate) approver: ExternalKey,
    /// The approver's signature over H(approved change policy ‖ change_ref), r ‖ s.
    pub(crate) approval: [u8; 64],
    /// An anchored index (branch C's policyRef is [`CHANGE_REF_ANCHORED`]); its anchors, once
    /// the approver signed them (always, for an index read from a record).
    pub(crate) anchored: bool,
    pub(crate) anchors: Option<Anchors>,
}

impl SealedPolicy {
    fn change_ref(&self) -> &'static [u8] {
        if self.anchored {
            CHANGE_REF_ANCHORED
        } else {
            CHANGE_REF
        }
    }

    fn change_branch(&self) -> Result<[u8; 32]> {
        Ok(PolicyDigest::authorize(&self.approver.name()?, self.change_ref()).bytes())
    }

    fn branches(&self) -> Result<[[u8; 32]; 2]> {
        Ok([self.write_branch, self.change_branch()?])
    }

    /// The index's authPolicy.
    fn auth_policy(&self) -> Result<[u8; 32]> {
        Ok(PolicyDigest::or(&self.branches()?).bytes())
    }
}

/// The one policy the approver approves: PolicyCommandCode(NV_ChangeAuth) ∧
/// PolicySecret(index).
fn approved_change(index_name: &[u8]) -> [u8; 32] {
    PolicyDigest::new()
        .command_code(cc::NV_CHANGE_AUTH)
        .secret(index_name)
        .bytes()
}

fn attributes(written: bool) -> Result<NvIndexAttributes> {
    NvIndexAttributesBuilder::new()
        .with_nv_index_type(NvIndexType::PinFail)
        .with_no_da(true)
        .with_policy_write(true)
        .with_owner_read(true)
        .with_written(written)
        .build()
        .map_err(|e| Error::tss("PIN index template", e))
}

fn public(handle: u32, policy: [u8; 32]) -> Result<NvPublic> {
    let err = |e| Error::tss("PIN index template", e);
    NvPublicBuilder::new()
        .with_nv_index(NvIndexTpmHandle::new(handle).map_err(err)?)
        .with_index_name_algorithm(HashingAlgorithm::Sha256)
        .with_index_attributes(attributes(false)?)
        .with_index_auth_policy(Digest::try_from(policy.to_vec()).map_err(err)?)
        .with_data_area_size(usize::from(DATA_SIZE))
        .build()
        .map_err(err)
}

/// Accepts the TPM's index at `expected.handle` only if its Name is the one the caller
/// saved and its public area is a written sealed index with `policy`'s authPolicy (a Name
/// is only a hash: the structure is checked too, so that an edited record cannot make us
/// accept an index of another shape).
pub(super) fn check(
    expected: &PinIndex,
    policy: &SealedPolicy,
    public: &NvPublic,
    name: Vec<u8>,
) -> Result<PinIndex> {
    let handle = expected.handle;
    let mismatch = |why| Error::PinIndexMismatch { handle, why };
    if public.attributes() != attributes(true)? {
        return Err(mismatch(if public.attributes().written() {
            "its attributes differ"
        } else {
            "it was never initialised (an index defined again is never written)"
        }));
    }
    if public.authorization_policy().value() != policy.auth_policy()?.as_slice() {
        return Err(mismatch("its policy differs"));
    }
    if public.data_size() != usize::from(DATA_SIZE)
        || public.name_algorithm() != HashingAlgorithm::Sha256
    {
        return Err(mismatch("its size or name algorithm differs"));
    }
    if name != expected.name {
        return Err(mismatch("its Name differs from the one this store made"));
    }
    if !policy.approver.verifies(
        &authorize_message(&approved_change(&name), policy.change_ref()),
        &policy.approval,
    ) {
        return Err(mismatch("its saved change approval does not verify"));
    }
    match (&policy.anchors, policy.anchored) {
        (Some(a), true) if a.verify(&policy.approver, &name) => {}
        (None, false) => {}
        _ => return Err(mismatch("its enrolment's anchors do not verify")),
    }
    Ok(expected.clone())
}

impl Tpm {
    /// Defines and initialises a sealed index at `handle` (see the module documentation);
    /// with `targets`, an anchored one: the anchor key and the epoch counter are made, and
    /// the approver signs them with `targets` before it is dropped.
    pub(super) fn define_sealed(
        &mut self,
        handle: u32,
        pin: &PinHash,
        targets: Option<&AnchorTargets>,
    ) -> Result<PinIndex> {
        let writer = OneTimeKey::generate()?;
        let approver = OneTimeKey::generate()?;
        let write_branch = PolicyDigest::new()
            .command_code(cc::NV_WRITE)
            .signed(&writer.public().name()?, WRITE_REF)
            .bytes();
        let mut policy = SealedPolicy {
            write_branch,
            approver: approver.public(),
            approval: [0; 64],
            anchored: targets.is_some(),
            anchors: None,
        };
        let template = public(handle, policy.auth_policy()?)?;
        let auth = pin_auth(pin)?;
        // The authValue is the first command parameter: encrypted on the way in.
        let nv = self.as_owner(
            ParamEncryption {
                decrypt: true,
                encrypt: false,
            },
            "define PIN index",
            |c| {
                c.nv_define_space(Provision::Owner, Some(auth), template)
                    .map_err(|e| match Error::kind_of(&e) {
                        Some(Kind::NvDefined) => Error::IndexInUse(handle),
                        _ => Error::tss("define PIN index", e),
                    })
            },
        )?;
        self.cache_nv(crate::tpm::NvSlot::Pin, handle, nv);
        let written = self
            .write_initial_counter(nv, &writer, &policy)
            .and_then(|()| self.read_public(handle));
        let (public, name) = match written {
            Ok(v) => v,
            Err(e) => {
                let _ = self.undefine(nv);
                return Err(e);
            }
        };
        policy.approval = approver.sign(&authorize_message(
            &approved_change(&name),
            policy.change_ref(),
        ))?;
        if let Some(targets) = targets {
            let unanchored = PinIndex {
                handle,
                name: name.clone(),
                kind: PinKind::Sealed(Box::new(policy.clone())),
            };
            match self.make_anchors(&unanchored, targets, &approver) {
                Ok(a) => policy.anchors = Some(a),
                Err(e) => {
                    let _ = self.undefine(nv);
                    return Err(e);
                }
            }
        }
        // Both one-time keys are dropped (and zeroized) here: nobody can sign for this
        // index's policy again.
        drop((writer, approver));
        let index = PinIndex {
            handle,
            name: name.clone(),
            kind: PinKind::Sealed(Box::new(policy.clone())),
        };
        check(&index, &policy, &public, name)
    }

    /// The anchor key (bound to `index`) and the epoch counter, and the approver's
    /// signature over them and `targets`. On failure the epoch counter is undefined again.
    fn make_anchors(
        &mut self,
        index: &PinIndex,
        targets: &AnchorTargets,
        approver: &OneTimeKey,
    ) -> Result<Anchors> {
        let key = self.create_key(Some(index))?.blob.to_bytes()?;
        let epoch = self.define_at_free_handle(|tpm, h| tpm.define_epoch_counter(h))?;
        let signed = self.read_epoch(&epoch).and_then(|start| {
            let mut anchors = Anchors {
                audit_name: targets.audit_name.clone(),
                counter_name: targets.counter_name.clone(),
                epoch: epoch.clone(),
                epoch_start: start,
                key,
                signature: [0; 64],
            };
            anchors.signature = approver.sign(&anchors.statement(&index.name)?)?;
            Ok(anchors)
        });
        match signed {
            Ok(anchors) => Ok(anchors),
            Err(e) => {
                let _ = self.undefine_epoch_counter(&epoch);
                Err(e)
            }
        }
    }

    /// The index's only write: {pinCount 0, pinLimit 8}, authorized by branch W with a
    /// signature over this session's nonceTPM (so it cannot be replayed elsewhere).
    fn write_initial_counter(
        &mut self,
        nv: NvIndexHandle,
        writer: &OneTimeKey,
        policy: &SealedPolicy,
    ) -> Result<()> {
        let op = "initialise PIN index";
        let session = crate::session::start_policy(&mut self.ctx, op)?;
        let out = (|| {
            let p = PolicySession::try_from(session).map_err(|e| Error::tss(op, e))?;
            let nonce = self
                .ctx
                .tr_sess_get_nonce_tpm(session)
                .map_err(|e| Error::tss(op, e))?;
            self.ctx
                .policy_command_code(p, CommandCode::NvWrite)
                .map_err(|e| Error::tss(op, e))?;
            self.policy_signed_once(p, nonce, writer, WRITE_REF, op)?;
            self.policy_or(p, policy, op)?;
            let mut data = 0u32.to_be_bytes().to_vec();
            data.extend_from_slice(&PIN_LIMIT.to_be_bytes());
            let data = MaxNvBuffer::try_from(data).map_err(|e| Error::tss(op, e))?;
            self.ctx
                .execute_with_session(Some(session), |c| {
                    c.nv_write(NvAuth::NvIndex(nv), nv, data, 0)
                })
                .map_err(|e| Error::tss(op, e))
        })();
        flush_session(&mut self.ctx, session);
        out
    }

    fn policy_or(
        &mut self,
        p: PolicySession,
        policy: &SealedPolicy,
        op: &'static str,
    ) -> Result<()> {
        crate::session::policy_or(&mut self.ctx, p, &policy.branches()?, op)
    }

    /// TPM2_NV_ChangeAuth through branch C: PolicyCommandCode(NV_ChangeAuth),
    /// PolicySecret(index) with `old` (counted, refused when blocked) bound by its cpHashA
    /// to NV_ChangeAuth with exactly this encrypted `new` (`change_auth`), PolicyAuthorize
    /// with the stored approval, PolicyOR; then the command itself. Another program that
    /// finishes the session from public data cannot set a PIN of its own with it.
    pub(super) fn change_sealed(
        &mut self,
        index: &PinIndex,
        policy: &SealedPolicy,
        old: &PinHash,
        new: &PinHash,
    ) -> Result<()> {
        let op = "change PIN";
        // The approval's ticket first, so that as little as possible runs between the
        // proof of the old PIN and the change.
        let approved = approved_change(&index.name);
        let key = self
            .ctx
            .load_external_public(policy.approver.public_area()?, Hierarchy::Owner)
            .map_err(|e| Error::tss(op, e))?;
        let ticket = self.ctx.verify_signature(
            key,
            Digest::try_from(authorize_message(&approved, policy.change_ref()).to_vec())
                .map_err(|e| Error::tss(op, e))?,
            tpm_signature(&policy.approval)?,
        );
        self.flush_object(key.into());
        let ticket = ticket.map_err(|e| match Error::tss(op, e) {
            lost @ Error::Unreachable { .. } => lost,
            _ => Error::PinIndexMismatch {
                handle: index.handle,
                why: "its saved change approval does not verify",
            },
        })?;
        let prepared = self.prepare_change(&index.name, new)?;
        let session = match crate::session::start_policy(&mut self.ctx, op) {
            Ok(s) => s,
            Err(e) => {
                self.discard_change(prepared);
                return Err(e);
            }
        };
        let built = (|| {
            let p = PolicySession::try_from(session).map_err(|e| Error::tss(op, e))?;
            self.ctx
                .policy_command_code(p, CommandCode::NvChangeAuth)
                .map_err(|e| Error::tss(op, e))?;
            self.policy_secret(index, old, p, ProofFor::Command(prepared.cp_hash()))?;
            self.ctx
                .policy_authorize(
                    p,
                    Digest::try_from(approved.to_vec()).map_err(|e| Error::tss(op, e))?,
                    Nonce::try_from(policy.change_ref().to_vec()).map_err(|e| Error::tss(op, e))?,
                    &Name::try_from(policy.approver.name()?).map_err(|e| Error::tss(op, e))?,
                    ticket,
                )
                .map_err(|e| Error::tss(op, e))?;
            self.policy_or(p, policy, op)?;
            self.ctx
                .tr_get_tpm_handle(SessionHandle::from(session).into())
                .map_err(|e| Error::tss(op, e))
        })();
        let out = match built {
            Ok(policy_handle) => self.send_change(prepared, index.handle, policy_handle),
            Err(e) => {
                self.discard_change(prepared);
                Err(e)
            }
        };
        match out {
            // continueSession was clear: the TPM flushed it after NV_ChangeAuth.
            Ok(()) => forget_used_session(&mut self.ctx, session),
            Err(_) => flush_session(&mut self.ctx, session),
        }
        out
    }
}
