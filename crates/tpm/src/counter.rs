//! A monotonic counter in the TPM that nobody can roll back or rebuild: the foundation of
//! the store's anti-rollback seal (docs/DESIGN.md "Rollback counter").
//!
//! A TPM_NT_COUNTER NV index (Part 1 §37.2.4: it only ever counts up; its first increment
//! starts it at the highest count any counter of this TPM ever had) with OWNERREAD, built
//! as every one-way index is (`one_way`): the first increment through a dropped one-time
//! key ("tpm-passkey counter init"), every later one through PolicyNvWritten(YES).

use tss_esapi::{
    constants::{CommandCode, NvIndexType},
    interface_types::resource_handles::{NvAuth, Provision},
};

use crate::{
    one_way::{OneWay, OneWayKind, Why},
    policy::cc,
    session::NO_PARAM_ENCRYPTION,
    tpm::NvSlot,
    Error, Result, Tpm,
};

const SIZE: u16 = 8;

const COUNTER: OneWayKind = OneWayKind {
    nv_type: NvIndexType::Counter,
    command: CommandCode::NvIncrement,
    cc: cc::NV_INCREMENT,
    size: SIZE,
    init_ref: b"tpm-passkey counter init",
    auth_read: false,
    slot: NvSlot::Counter,
    define_op: "define counter",
    open_op: "open counter",
    write_op: "increment counter",
    why: Why {
        name: "the counter's Name differs from the one this store made",
        attributes: "the counter's attributes differ",
        unwritten: "the counter was never initialised (one defined again never is)",
        policy: "the counter's policy differs",
        size: "the counter's size or name algorithm differs",
    },
};

/// The PIN epoch counter (issue 21): the same one-way counter, moved by the daemon each time
/// it signs a protection statement with the PIN (the statement carries the value), so that a
/// statement put back from an older copy of the store no longer matches the TPM. Anyone may
/// advance it too — which only makes the statement stale, a denial of service the start
/// reports — and nobody can set it back.
const EPOCH: OneWayKind = OneWayKind {
    nv_type: NvIndexType::Counter,
    command: CommandCode::NvIncrement,
    cc: cc::NV_INCREMENT,
    size: SIZE,
    init_ref: b"tpm-passkey PIN epoch init",
    auth_read: false,
    slot: NvSlot::Epoch,
    define_op: "define PIN epoch counter",
    open_op: "open PIN epoch counter",
    write_op: "advance PIN epoch counter",
    why: Why {
        name: "the PIN epoch counter's Name differs from the one the PIN enrolment made",
        attributes: "the PIN epoch counter's attributes differ",
        unwritten: "the PIN epoch counter was never initialised (one defined again never is)",
        policy: "the PIN epoch counter's policy differs",
        size: "the PIN epoch counter's size or name algorithm differs",
    },
};

/// A counter this crate defined and initialised; all of it public, kept by the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RollbackCounter(OneWay);

/// The PIN epoch counter ([`EPOCH`]); all of it public, kept by the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EpochCounter(OneWay);

impl EpochCounter {
    /// The saved form: handle, first-branch digest, Name.
    pub fn to_parts(&self) -> (u32, [u8; 32], Vec<u8>) {
        (self.0.handle, self.0.first_branch, self.0.name.clone())
    }

    pub fn from_parts(handle: u32, first_branch: [u8; 32], name: Vec<u8>) -> Self {
        EpochCounter(OneWay {
            handle,
            name,
            first_branch,
        })
    }

    pub fn name(&self) -> &[u8] {
        &self.0.name
    }
}

impl RollbackCounter {
    /// The saved form: handle, first-branch digest, Name.
    pub fn to_parts(&self) -> (u32, [u8; 32], Vec<u8>) {
        (self.0.handle, self.0.first_branch, self.0.name.clone())
    }

    /// From the saved form (checked against the TPM by [`Tpm::open_counter`]).
    pub fn from_parts(handle: u32, first_branch: [u8; 32], name: Vec<u8>) -> Self {
        RollbackCounter(OneWay {
            handle,
            name,
            first_branch,
        })
    }

    pub fn handle(&self) -> u32 {
        self.0.handle
    }
}

impl Tpm {
    /// Defines a counter at `handle` and initialises it (its first increment). Returns it
    /// with its written Name.
    pub fn define_counter(&mut self, handle: u32) -> Result<RollbackCounter> {
        self.define_one_way(&COUNTER, handle, |c, nv| {
            c.nv_increment(NvAuth::NvIndex(nv), nv)
        })
        .map(RollbackCounter)
    }

    /// Opens the counter `saved` describes, after checking that the TPM's index at that
    /// handle is exactly it; anything else is refused.
    pub fn open_counter(&mut self, saved: &RollbackCounter) -> Result<RollbackCounter> {
        self.open_one_way(&COUNTER, &saved.0)?;
        Ok(saved.clone())
    }

    /// The counter's value, read as the owner (no secret involved).
    pub fn read_counter(&mut self, counter: &RollbackCounter) -> Result<u64> {
        self.read_one_way_counter(&COUNTER, &counter.0, "read counter")
    }

    fn read_one_way_counter(
        &mut self,
        kind: &OneWayKind,
        counter: &OneWay,
        op: &'static str,
    ) -> Result<u64> {
        let nv = self.one_way_handle(kind, counter.handle)?;
        let data = self.as_owner(NO_PARAM_ENCRYPTION, op, |c| {
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
        self.write_one_way_later(&COUNTER, &counter.0, |c, nv| {
            c.nv_increment(NvAuth::NvIndex(nv), nv)
        })?;
        self.read_counter(counter)
    }

    /// Defines a PIN epoch counter at `handle` and initialises it (its first increment).
    pub fn define_epoch_counter(&mut self, handle: u32) -> Result<EpochCounter> {
        self.define_one_way(&EPOCH, handle, |c, nv| {
            c.nv_increment(NvAuth::NvIndex(nv), nv)
        })
        .map(EpochCounter)
    }

    /// Opens the epoch counter `saved` describes, after checking it is exactly it.
    pub fn open_epoch_counter(&mut self, saved: &EpochCounter) -> Result<()> {
        self.open_one_way(&EPOCH, &saved.0).map(drop)
    }

    /// The epoch counter's value.
    pub fn read_epoch(&mut self, counter: &EpochCounter) -> Result<u64> {
        self.read_one_way_counter(&EPOCH, &counter.0, "read PIN epoch counter")
    }

    /// Advances the epoch counter by one and returns the new value.
    pub fn increment_epoch(&mut self, counter: &EpochCounter) -> Result<u64> {
        self.write_one_way_later(&EPOCH, &counter.0, |c, nv| {
            c.nv_increment(NvAuth::NvIndex(nv), nv)
        })?;
        self.read_epoch(counter)
    }

    /// Deletes the epoch counter (owner): what a reset of everything does.
    pub fn undefine_epoch_counter(&mut self, counter: &EpochCounter) -> Result<()> {
        let op = "undefine PIN epoch counter";
        let nv = self.one_way_handle(&EPOCH, counter.0.handle)?;
        self.as_owner(NO_PARAM_ENCRYPTION, op, |c| {
            c.nv_undefine_space(Provision::Owner, nv)
                .map_err(|e| Error::tss(op, e))
        })?;
        self.forget_nv(NvSlot::Epoch);
        Ok(())
    }

    /// Deletes the counter (owner): what a reset of everything does.
    pub fn undefine_counter(&mut self, counter: &RollbackCounter) -> Result<()> {
        let op = "undefine counter";
        let nv = self.one_way_handle(&COUNTER, counter.0.handle)?;
        self.as_owner(NO_PARAM_ENCRYPTION, op, |c| {
            c.nv_undefine_space(Provision::Owner, nv)
                .map_err(|e| Error::tss(op, e))
        })?;
        // ESYS closed its object with the index.
        self.forget_nv(NvSlot::Counter);
        Ok(())
    }
}
