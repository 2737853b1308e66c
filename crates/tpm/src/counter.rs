//! A monotonic counter in the TPM that nobody can roll back or rebuild: the foundation of
//! the store's anti-rollback seal and the audit log's checkpoints (docs/DESIGN.md
//! "Rollback counter").
//!
//! A TPM_NT_COUNTER NV index (Part 1 §37.2.4: it only ever counts up; its first increment
//! starts it at the highest count any counter of this TPM ever had) with NO_DA |
//! POLICYWRITE | OWNERREAD — no OWNERWRITE or AUTHWRITE. authPolicy = PolicyOR(F, N):
//!
//! * F (first increment) = PolicyCommandCode(NV_Increment) ∧ PolicyNvWritten(NO) ∧
//!   PolicySigned(one-time key, "tpm-passkey counter init"). The key signs the session's
//!   nonceTPM once and is dropped, so only the increment that initialises this index can
//!   use F.
//! * N (every later increment) = PolicyCommandCode(NV_Increment) ∧ PolicyNvWritten(YES):
//!   no secret, but only for an index that is already written.
//!
//! Anyone with access to the TPM can therefore advance the counter (a denial of service the
//! seal reports), but nobody can lower it, and an index undefined by the owner and defined
//! again with the same public area stays unwritten — F needs the dropped key and N a
//! written index — so it never gets the written index's Name, which the caller keeps and
//! checks on every open. PolicyNvWritten (Part 3 §23.24) checks TPMA_NV_WRITTEN of the index
//! being authorized and names no index, so the policy is not circular.

use tss_esapi::{
    attributes::{NvIndexAttributes, NvIndexAttributesBuilder},
    constants::{response_code::Tss2ResponseCodeKind as Kind, CommandCode, NvIndexType},
    handles::{NvIndexHandle, NvIndexTpmHandle},
    interface_types::{
        algorithm::HashingAlgorithm,
        resource_handles::{NvAuth, Provision},
        session_handles::PolicySession,
    },
    structures::{Digest, NvPublic, NvPublicBuilder},
};

use crate::{
    one_time_key::OneTimeKey,
    policy::{cc, PolicyDigest},
    session::{flush_session, start_policy},
    tpm::NvSlot,
    Error, Result, Tpm,
};

const INIT_REF: &[u8] = b"tpm-passkey counter init";
const SIZE: u16 = 8;

/// A counter this crate defined and initialised; all of it public, kept by the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RollbackCounter {
    handle: u32,
    name: Vec<u8>,
    /// Branch F's digest (it holds the dropped key's Name).
    first_branch: [u8; 32],
}

impl RollbackCounter {
    /// The saved form: handle, first-branch digest, Name.
    pub fn to_parts(&self) -> (u32, [u8; 32], Vec<u8>) {
        (self.handle, self.first_branch, self.name.clone())
    }

    /// From the saved form (checked against the TPM by [`Tpm::open_counter`]).
    pub fn from_parts(handle: u32, first_branch: [u8; 32], name: Vec<u8>) -> Self {
        RollbackCounter {
            handle,
            name,
            first_branch,
        }
    }

    pub fn handle(&self) -> u32 {
        self.handle
    }

    fn later_branch() -> [u8; 32] {
        PolicyDigest::new()
            .command_code(cc::NV_INCREMENT)
            .nv_written(true)
            .bytes()
    }

    fn auth_policy(&self) -> [u8; 32] {
        PolicyDigest::or(&[self.first_branch, Self::later_branch()]).bytes()
    }
}

fn attributes(written: bool) -> Result<NvIndexAttributes> {
    NvIndexAttributesBuilder::new()
        .with_nv_index_type(NvIndexType::Counter)
        .with_no_da(true)
        .with_policy_write(true)
        .with_owner_read(true)
        .with_written(written)
        .build()
        .map_err(|e| Error::tss("counter template", e))
}

impl Tpm {
    /// Defines a counter at `handle` and initialises it (its first increment, through the
    /// one-time key, which is dropped here). Returns it with its written Name.
    pub fn define_counter(&mut self, handle: u32) -> Result<RollbackCounter> {
        let op = "define counter";
        let writer = OneTimeKey::generate()?;
        let first_branch = PolicyDigest::new()
            .command_code(cc::NV_INCREMENT)
            .nv_written(false)
            .signed(&writer.public().name()?, INIT_REF)
            .bytes();
        let mut counter = RollbackCounter {
            handle,
            name: Vec::new(),
            first_branch,
        };
        let err = |e| Error::tss(op, e);
        let template = NvPublicBuilder::new()
            .with_nv_index(NvIndexTpmHandle::new(handle).map_err(err)?)
            .with_index_name_algorithm(HashingAlgorithm::Sha256)
            .with_index_attributes(attributes(false)?)
            .with_index_auth_policy(Digest::try_from(counter.auth_policy().to_vec()).map_err(err)?)
            .with_data_area_size(usize::from(SIZE))
            .build()
            .map_err(err)?;
        let nv = self.as_owner(crate::session::NO_PARAM_ENCRYPTION, op, |c| {
            c.nv_define_space(Provision::Owner, None, template)
                .map_err(|e| match Error::kind_of(&e) {
                    Some(Kind::NvDefined) => Error::IndexInUse(handle),
                    _ => Error::tss(op, e),
                })
        })?;
        let first = self.increment_with(nv, &counter, Some(&writer));
        drop(writer);
        if let Err(e) = first {
            let _ = self.as_owner(crate::session::NO_PARAM_ENCRYPTION, op, |c| {
                c.nv_undefine_space(Provision::Owner, nv)
                    .map_err(|e| Error::tss(op, e))
            });
            return Err(e);
        }
        let (public, name) = self.counter_public(nv)?;
        counter.name = name;
        check(&counter, &public)?;
        Ok(counter)
    }

    /// Opens the counter `saved` describes, after checking that the TPM's index at that
    /// handle is exactly it (written, this policy, this Name); anything else is refused.
    pub fn open_counter(&mut self, saved: &RollbackCounter) -> Result<RollbackCounter> {
        let nv = self.counter_handle(saved.handle)?;
        let (public, name) = self.counter_public(nv)?;
        if name != saved.name {
            return Err(Error::PinIndexMismatch {
                handle: saved.handle,
                why: "the counter's Name differs from the one this store made",
            });
        }
        check(saved, &public)?;
        Ok(saved.clone())
    }

    /// The counter's value, read as the owner (no secret involved).
    pub fn read_counter(&mut self, counter: &RollbackCounter) -> Result<u64> {
        let op = "read counter";
        let nv = self.counter_handle(counter.handle)?;
        let data = self.as_owner(crate::session::NO_PARAM_ENCRYPTION, op, |c| {
            c.nv_read(NvAuth::Owner, nv, SIZE, 0)
                .map_err(|e| Error::tss(op, e))
        })?;
        let b: [u8; 8] = data.value().try_into().map_err(|_| Error::Tpm {
            op,
            code: "the counter has the wrong size".into(),
        })?;
        Ok(u64::from_be_bytes(b))
    }

    /// Advances the counter by one (branch N) and returns the new value.
    pub fn increment_counter(&mut self, counter: &RollbackCounter) -> Result<u64> {
        let nv = self.counter_handle(counter.handle)?;
        self.increment_with(nv, counter, None)?;
        self.read_counter(counter)
    }

    /// Deletes the counter (owner): what a reset of everything does.
    pub fn undefine_counter(&mut self, counter: &RollbackCounter) -> Result<()> {
        let op = "undefine counter";
        let nv = self.counter_handle(counter.handle)?;
        self.as_owner(crate::session::NO_PARAM_ENCRYPTION, op, |c| {
            c.nv_undefine_space(Provision::Owner, nv)
                .map_err(|e| Error::tss(op, e))
        })?;
        // ESYS closed its object with the index.
        self.forget_nv(NvSlot::Counter);
        Ok(())
    }

    fn counter_handle(&mut self, handle: u32) -> Result<NvIndexHandle> {
        self.nv_object(NvSlot::Counter, handle, "open counter")
    }

    fn counter_public(&mut self, nv: NvIndexHandle) -> Result<(NvPublic, Vec<u8>)> {
        let (public, name) = self
            .ctx
            .nv_read_public(nv)
            .map_err(|e| Error::tss("read counter", e))?;
        Ok((public, name.value().to_vec()))
    }

    /// NV_Increment through branch F (with the one-time `writer`) or N (without).
    fn increment_with(
        &mut self,
        nv: NvIndexHandle,
        counter: &RollbackCounter,
        writer: Option<&OneTimeKey>,
    ) -> Result<()> {
        let branches = [counter.first_branch, RollbackCounter::later_branch()];
        let first = writer.map(|w| (w, INIT_REF));
        self.write_one_way(
            CommandCode::NvIncrement,
            &branches,
            first,
            "increment counter",
            |c| c.nv_increment(NvAuth::NvIndex(nv), nv),
        )
    }

    /// Runs `command` (an NV write of an index whose policy is PolicyOR(F, N) as in the
    /// module documentation, `code` being its command) through branch F — `first` gives the
    /// one-time key and its policyRef — or N. `branches` = [F, N]. Shared by the rollback
    /// counter and the audit index (`audit_index`).
    pub(crate) fn write_one_way(
        &mut self,
        code: CommandCode,
        branches: &[[u8; 32]; 2],
        first: Option<(&OneTimeKey, &[u8])>,
        op: &'static str,
        command: impl FnOnce(&mut tss_esapi::Context) -> tss_esapi::Result<()>,
    ) -> Result<()> {
        let session = start_policy(&mut self.ctx, op)?;
        // Used once: with continueSession clear the TPM flushes it after the command.
        let (attrs, mask) = tss_esapi::attributes::SessionAttributesBuilder::new()
            .with_continue_session(false)
            .build();
        if let Err(e) = self.ctx.tr_sess_set_attributes(session, attrs, mask) {
            flush_session(&mut self.ctx, session);
            return Err(Error::tss(op, e));
        }
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

/// The public area must be a written counter with this policy (a Name is only a hash: the
/// structure is checked too).
fn check(counter: &RollbackCounter, public: &NvPublic) -> Result<()> {
    let mismatch = |why| Error::PinIndexMismatch {
        handle: counter.handle,
        why,
    };
    if public.attributes() != attributes(true)? {
        return Err(mismatch(if public.attributes().written() {
            "the counter's attributes differ"
        } else {
            "the counter was never initialised (one defined again never is)"
        }));
    }
    if public.authorization_policy().value() != counter.auth_policy().as_slice() {
        return Err(mismatch("the counter's policy differs"));
    }
    if public.data_size() != usize::from(SIZE)
        || public.name_algorithm() != HashingAlgorithm::Sha256
    {
        return Err(mismatch("the counter's size or name algorithm differs"));
    }
    Ok(())
}

/// A random handle in the owner NV range, for a new counter.
pub(crate) fn random_handle() -> Result<u32> {
    let mut b = [0u8; 4];
    getrandom::fill(&mut b).map_err(|_| Error::Tpm {
        op: "counter handle",
        code: "no OS randomness".into(),
    })?;
    let range = crate::PIN_INDEX_RANGE;
    let span = range.end() - range.start() + 1;
    Ok(range.start() + u32::from_be_bytes(b) % span)
}
