//! The PIN, enforced by the TPM: an NV index of type TPM_NT_PIN_FAIL whose authValue is
//! the pinHash (TPM 2.0 Part 1 §37.2.3 "PIN Fail Index"). Its 8 data bytes are
//! {pinCount, pinLimit}. Each failed authorization with the index's authValue raises
//! pinCount, a successful one resets it to 0, and once pinCount reaches pinLimit the TPM
//! refuses the authValue altogether (TPM_RC_AUTH_UNAVAILABLE) — CTAP's retry semantics
//! (CTAP 2.1 §6.5.2.1 "pinRetries"), counted in hardware. TPMA_NV_NO_DA keeps these
//! failures out of the TPM-wide dictionary-attack counter that other programs share.
//!
//! Two kinds exist:
//! * [`sealed`] (every index made now): no owner or auth write at all; it can be written
//!   once, through a one-time key that no longer exists, and its authValue changed only by
//!   a policy that itself checks the old PIN through PolicySecret, where pinLimit holds.
//!   Nobody — the owner included — can reset its counter or build another index with its
//!   Name (docs/DESIGN.md "PIN index").
//! * [`legacy`] (stores made before): OWNERWRITE, so an owner can rewrite its counter.
//!   Still opened, so that those users keep their passkeys; status says it is weaker.
//!
//! Credential keys that need the PIN carry authPolicy = PolicySecret(this index's Name).

pub mod anchors;
mod legacy;
mod record;
mod sealed;

use std::ops::RangeInclusive;

use tss_esapi::{
    constants::response_code::Tss2ResponseCodeKind as Kind,
    handles::{AuthHandle, NvIndexHandle},
    interface_types::{resource_handles::NvAuth, session_handles::PolicySession},
    structures::{Auth, Digest, Nonce, NvPublic},
};

use crate::{
    bound::ProofFor,
    policy::policy_secret_digest,
    session::{flush_session, start_policy, NO_PARAM_ENCRYPTION},
    tpm::NvSlot,
    Error, PinHash, Result, Tpm,
};

pub use anchors::{AnchorTargets, Anchors};
pub use sealed::SealedPolicy;

/// The TPM's pinLimit: wrong PINs allowed before the index refuses even the right one.
/// CTAP 2.1 §6.5.2.1 sets the maximum retries to 8.
pub const PIN_LIMIT: u32 = 8;

/// Where PIN indices are placed: the owner range of the TCG handle registry.
pub const PIN_INDEX_RANGE: RangeInclusive<u32> = 0x0100_0000..=0x013F_FFFF;

const DATA_SIZE: u16 = 8;

/// The operation label of PolicySecret on the PIN index. Its authorization failure is
/// [`Error::WrongPin`], decided where the PolicySecret is sent; an `AuthFailed` is never
/// the user's PIN (e.g. a wrong owner password).
pub(crate) const PIN_CHECK_OP: &str = "PIN check";

/// Which protection a PIN index has.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PinKind {
    /// OWNERWRITE (stores made before the rebuild-proof index): the TPM owner can rewrite
    /// pinCount, or undefine the index and define it again with another PIN and the same
    /// Name.
    Legacy,
    /// Written once through a discarded one-time key; changed only through PolicySecret.
    Sealed(Box<SealedPolicy>),
}

/// A PIN index this crate defined and checked: its TPM handle, its Name, and what is
/// needed to use its policy. Everything here is public information.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PinIndex {
    handle: u32,
    name: Vec<u8>,
    kind: PinKind,
}

impl PinIndex {
    /// The NV handle, to be kept by the caller (it is not secret).
    pub fn handle(&self) -> u32 {
        self.handle
    }

    /// The index's Name (nameAlg ‖ H(NVPublic)); it never includes the authValue, so a
    /// PIN change leaves it as it is.
    pub fn name(&self) -> &[u8] {
        &self.name
    }

    pub fn kind(&self) -> &PinKind {
        &self.kind
    }

    /// True for an index made before the rebuild-proof index (see [`PinKind::Legacy`]).
    pub fn is_legacy(&self) -> bool {
        matches!(self.kind, PinKind::Legacy)
    }

    /// What the enrolment anchors, for an anchored index (issue 21).
    pub fn anchors(&self) -> Option<&Anchors> {
        match &self.kind {
            PinKind::Sealed(p) => p.anchors.as_ref(),
            PinKind::Legacy => None,
        }
    }

    /// The authPolicy that binds a credential key to this index.
    pub fn key_policy(&self) -> [u8; 32] {
        policy_secret_digest(&self.name)
    }
}

/// How one PolicySecret went wrong.
enum Proof {
    /// The kept HMAC session was not in the TPM: nothing was checked.
    SessionGone,
    Failed(Error),
}

/// PIN attempts left, as the TPM counts them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PinRetries {
    pub remaining: u32,
    pub limit: u32,
}

fn pin_auth(pin: &PinHash) -> Result<Auth> {
    Auth::try_from(pin.expose_secret_bytes().to_vec()).map_err(|e| Error::tss("PIN auth", e))
}

impl Tpm {
    /// Defines a new PIN index ([`PinKind::Sealed`]) with `pin` as its authValue and
    /// pinCount 0 / pinLimit [`PIN_LIMIT`]. `handle` = None picks a free random handle in
    /// [`PIN_INDEX_RANGE`].
    pub fn define_pin_index(&mut self, handle: Option<u32>, pin: &PinHash) -> Result<PinIndex> {
        self.define_pin_index_anchoring(handle, pin, None)
    }

    /// [`Tpm::define_pin_index`], anchoring `targets` when given (an anchored index: the
    /// anchor key and the epoch counter are made with it, see [`anchors`]).
    pub fn define_pin_index_anchoring(
        &mut self,
        handle: Option<u32>,
        pin: &PinHash,
        targets: Option<&AnchorTargets>,
    ) -> Result<PinIndex> {
        match handle {
            Some(h) if !PIN_INDEX_RANGE.contains(&h) => Err(Error::PinIndexMismatch {
                handle: h,
                why: "outside the owner NV range",
            }),
            Some(h) => self.define_sealed(h, pin, targets),
            None => self.define_at_free_handle(|tpm, h| tpm.define_sealed(h, pin, targets)),
        }
    }

    /// Opens the PIN index `expected` describes (as saved by the caller), after checking
    /// that the TPM's index at that handle is exactly it; anything else is refused.
    pub fn open_pin_index(&mut self, expected: &PinIndex) -> Result<PinIndex> {
        let (public, name) = self.read_public(expected.handle)?;
        match &expected.kind {
            PinKind::Legacy => legacy::check(expected.handle, &public, name),
            PinKind::Sealed(p) => sealed::check(expected, p, &public, name),
        }
    }

    /// The index's public area and Name, as the TPM reports them.
    fn read_public(&mut self, handle: u32) -> Result<(NvPublic, Vec<u8>)> {
        let nv = self.nv_handle(handle)?;
        let (public, name) = self
            .ctx
            .nv_read_public(nv)
            .map_err(|e| Error::tss("read PIN index", e))?;
        Ok((public, name.value().to_vec()))
    }

    fn nv_handle(&mut self, handle: u32) -> Result<NvIndexHandle> {
        self.nv_object(NvSlot::Pin, handle, "open PIN index")
    }

    /// Attempts left, read fresh from the TPM (pinLimit − pinCount). Reading needs owner
    /// authorization (OWNERREAD); the PIN is not involved, so reading costs no attempt.
    pub fn pin_retries(&mut self, index: &PinIndex) -> Result<PinRetries> {
        let nv = self.nv_handle(index.handle)?;
        let data = self.as_owner(NO_PARAM_ENCRYPTION, "read PIN counter", |c| {
            c.nv_read(NvAuth::Owner, nv, DATA_SIZE, 0)
                .map_err(|e| Error::tss("read PIN counter", e))
        })?;
        let b = data.value();
        if b.len() != usize::from(DATA_SIZE) {
            return Err(Error::PinIndexMismatch {
                handle: index.handle,
                why: "its counter has the wrong size",
            });
        }
        let count = u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
        let limit = u32::from_be_bytes([b[4], b[5], b[6], b[7]]);
        Ok(PinRetries {
            remaining: limit.saturating_sub(count),
            limit,
        })
    }

    /// Proves `pin` to the index inside `policy` (PolicySecret, Part 3 §23.4). The index is
    /// authorized by an HMAC session — the USER role, the one path where the TPM checks
    /// pinCount < pinLimit before it even looks at the PIN (Part 1 §37.2.3; libtpms
    /// `IsAuthValueAvailable`) — so a wrong PIN counts and a blocked index refuses even the
    /// right one. `proof_for` says what the satisfied session may then authorize
    /// (cpHashA, expiration: `bound`).
    pub(crate) fn policy_secret(
        &mut self,
        index: &PinIndex,
        pin: &PinHash,
        policy: PolicySession,
        proof_for: ProofFor,
    ) -> Result<()> {
        let nv = self.nv_handle(index.handle)?;
        let cp_hash = match proof_for.cp_hash() {
            Some(h) => Digest::try_from(h.to_vec()).map_err(|e| Error::tss(PIN_CHECK_OP, e))?,
            None => Digest::default(),
        };
        // An expiration counts from the session's start only when the session's nonceTPM is
        // given; with an empty one it is an absolute TPM time, seconds since the TPM started
        // (Part 3 §23.3.1 / §23.4; libtpms `ComputeAuthTimeout`) — already past on a TPM up
        // for longer than that.
        let nonce_tpm = match proof_for.expiration() {
            Some(_) => self
                .ctx
                .tr_sess_get_nonce_tpm(
                    tss_esapi::interface_types::session_handles::AuthSession::from(policy),
                )
                .map_err(|e| Error::tss(PIN_CHECK_OP, e))?,
            None => Nonce::default(),
        };
        self.ctx
            .tr_set_auth(nv.into(), pin_auth(pin)?)
            .map_err(|e| Error::tss("PIN auth", e))?;
        // The kept HMAC session may be gone (another program flushed it, issue 23): the TPM
        // then refused the session before it looked at the PIN, so it is started again, once.
        let out = match self.prove_in(policy, nv, &nonce_tpm, &cp_hash, proof_for) {
            Err(Proof::SessionGone) => {
                tracing::info!("the kept PIN session was gone from the TPM; starting it again");
                self.prove_in(policy, nv, &nonce_tpm, &cp_hash, proof_for)
            }
            other => other,
        }
        .map_err(|e| match e {
            Proof::SessionGone => Error::StateLost { op: PIN_CHECK_OP },
            Proof::Failed(e) => e,
        });
        // Forget the PIN in ESYS's copy of the handle whatever happened.
        let _ = self.ctx.tr_set_auth(nv.into(), Auth::default());
        out
    }

    /// One PolicySecret on `nv` in `policy`, authorized by the kept salted HMAC session (the
    /// index's authValue is already set).
    fn prove_in(
        &mut self,
        policy: PolicySession,
        nv: NvIndexHandle,
        nonce_tpm: &Nonce,
        cp_hash: &Digest,
        proof_for: ProofFor,
    ) -> std::result::Result<(), Proof> {
        let s = self.pin_hmac_session(PIN_CHECK_OP).map_err(Proof::Failed)?;
        let r = self.ctx.execute_with_session(Some(s), |c| {
            c.policy_secret(
                policy,
                AuthHandle::from(nv),
                nonce_tpm.clone(),
                cp_hash.clone(),
                Nonce::default(),
                proof_for.expiration(),
            )
        });
        let Err(e) = r else {
            return Ok(());
        };
        self.drop_pin_hmac_session();
        if Error::session_gone(&e) {
            return Err(Proof::SessionGone);
        }
        Err(Proof::Failed(match Error::kind_of(&e) {
            Some(Kind::AuthUnavailable) => Error::PinBlocked,
            // The authorization that failed is the PIN index's (the session's own HMAC is
            // ESYS's to get right): the PIN was wrong and the TPM counted it.
            Some(Kind::AuthFail | Kind::BadAuth) => Error::WrongPin,
            _ => Error::tss(PIN_CHECK_OP, e),
        }))
    }

    /// Checks `pin` against the TPM, as a real (not trial) policy session would use it:
    /// a wrong PIN costs a retry, the right one restores them all. Where no other program
    /// can name our sessions, the satisfied session is kept (for at most
    /// [`crate::pin_session::READY_FOR`], by the TPM's clock) for the PIN-bound signature that usually follows
    /// (`pin_session`); elsewhere the proof is bound to no command and the session flushed.
    pub fn verify_pin(&mut self, index: &PinIndex, pin: &PinHash) -> Result<()> {
        self.drop_ready_policy();
        let keep = self.keeps_sessions();
        let proof_for = if keep {
            ProofFor::Kept(crate::pin_session::READY_FOR)
        } else {
            ProofFor::Nothing
        };
        let session = start_policy(&mut self.ctx, PIN_CHECK_OP)?;
        let out = PolicySession::try_from(session)
            .map_err(|e| Error::tss(PIN_CHECK_OP, e))
            .and_then(|policy| self.policy_secret(index, pin, policy, proof_for));
        match out {
            Ok(()) if keep => self.keep_ready_policy(session, index.handle, pin),
            _ => flush_session(&mut self.ctx, session),
        }
        out
    }

    /// Changes the PIN from `old` to `new`. A sealed index changes its authValue in place
    /// with TPM2_NV_ChangeAuth, authorized by a policy that proves `old` through
    /// PolicySecret (counted; refused when blocked): one atomic TPM command, so a crash
    /// leaves either PIN, never none. The Name does not change, so every key bound to the
    /// index stays usable — with the new PIN only.
    pub fn change_pin(&mut self, index: &PinIndex, old: &PinHash, new: &PinHash) -> Result<()> {
        self.drop_ready_policy();
        match &index.kind {
            PinKind::Sealed(p) => self.change_sealed(index, p, old, new),
            PinKind::Legacy => self.change_legacy(index, old, new),
        }
    }

    /// Deletes the PIN index (authenticator reset). Only the owner can; for anyone else
    /// it is the one thing they can do to it, and it kills the keys rather than opening
    /// them.
    pub fn undefine_pin_index(&mut self, index: PinIndex) -> Result<()> {
        self.drop_ready_policy();
        let nv = self.nv_handle(index.handle)?;
        self.undefine(nv)
    }

    fn undefine(&mut self, nv: NvIndexHandle) -> Result<()> {
        use tss_esapi::interface_types::resource_handles::Provision;
        self.as_owner(NO_PARAM_ENCRYPTION, "undefine PIN index", |c| {
            c.nv_undefine_space(Provision::Owner, nv)
                .map_err(|e| Error::tss("undefine PIN index", e))
        })?;
        // ESYS closed its object with the index.
        self.forget_nv(NvSlot::Pin);
        Ok(())
    }
}
