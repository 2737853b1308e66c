//! Verifying the user with the PIN — checked by the key store (the TPM), never compared
//! here — for every path that takes one: clientPIN (§6.5.5), built-in user verification
//! (our own prompt), reset, and local management.

use tpm_passkey_ipc::{Operation, Prompt};
use tpm_passkey_wire::Status;

use crate::audit::{AuditEvent, AuditKind, Outcome};
use crate::pin::{Verified, PIN_FAILURES_PER_BOOT};

use crate::{Approver, Clock, Engine, KeyError, KeyStore, PinHash};

/// The audit kind of a prompt's operation.
pub(crate) fn audit_kind(op: Operation) -> AuditKind {
    match op {
        Operation::Register => AuditKind::Register,
        Operation::SignIn => AuditKind::SignIn,
        Operation::Reset => AuditKind::Reset,
        _ => AuditKind::Uv,
    }
}

impl<K: KeyStore, A: Approver, C: Clock> Engine<K, A, C> {
    /// The PIN's retries left, from the key store; PIN_NOT_SET without a PIN.
    pub(crate) fn pin_retries(&mut self) -> Result<u8, Status> {
        if !self.keys.pin_is_set() {
            return Err(Status::PinNotSet);
        }
        Ok(self.keys.pin_retries()?)
    }

    /// §6.5.5.7 steps shared by every PIN check: CTAP2_ERR_PIN_BLOCKED at no retries,
    /// CTAP2_ERR_PIN_AUTH_BLOCKED after three wrong PINs since start-up. Returns the
    /// retries left, as last learnt (`pin_retries_for_prompt`: no TPM round trip before a
    /// PIN check; a blocked index refuses the check itself, and a wrong PIN reads the count).
    pub(crate) fn refuse_if_blocked(&mut self) -> Result<u8, Status> {
        if !self.keys.pin_is_set() {
            return Err(Status::PinNotSet);
        }
        let retries = self.keys.pin_retries_for_prompt()?;
        if retries == 0 {
            return Err(Status::PinBlocked);
        }
        if self.pin.paused() {
            return Err(Status::PinAuthBlocked);
        }
        Ok(retries)
    }

    /// Checks `pin` in the key store. A wrong PIN regenerates the key-agreement key,
    /// forgets the token, counts towards the per-boot pause and is audited as `kind`. The
    /// answer is CTAP2_ERR_PIN_BLOCKED when the TPM has no retries left,
    /// CTAP2_ERR_PIN_AUTH_BLOCKED once three wrong PINs in a row pause PIN checks (retries
    /// remain: §6.5.5.7), else CTAP2_ERR_PIN_INVALID.
    pub(crate) fn verify_pin(
        &mut self,
        pin: &PinHash,
        kind: AuditKind,
    ) -> Result<Verified, Status> {
        match self.keys.verify_pin(pin) {
            Ok(()) => {
                self.last_uv = Some(self.clock.now());
                // What was tightened since the last statement is anchored now (issue 21).
                self.renew_statement_if_drifted(pin);
                Ok(self.pin.succeeded(pin))
            }
            Err(KeyError::PinInvalid) => {
                self.pin.failed()?;
                let left = self.keys.pin_retries().unwrap_or(0);
                self.audit(
                    AuditEvent::new(kind, None, Outcome::WrongPin)
                        .detail(format!("{left} retries left")),
                );
                if left == 0 {
                    Err(Status::PinBlocked)
                } else if self.pin.paused() {
                    Err(Status::PinAuthBlocked)
                } else {
                    Err(Status::PinInvalid)
                }
            }
            Err(KeyError::PinBlocked) => {
                self.audit(AuditEvent::new(kind, None, Outcome::Blocked));
                Err(Status::PinBlocked)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Built-in user verification: ask the user (presence and PIN in one prompt), check the
    /// PIN with the key store; up to three tries within one request.
    pub(crate) fn built_in_uv(&mut self, prompt: Prompt) -> Result<Verified, Status> {
        self.built_in_uv_choosing(prompt).map(|(pin, _)| pin)
    }

    /// [`Engine::built_in_uv`], with the account chosen when the prompt listed several.
    pub(crate) fn built_in_uv_choosing(
        &mut self,
        mut prompt: Prompt,
    ) -> Result<(Verified, Option<usize>), Status> {
        prompt.pin_required = true;
        let kind = audit_kind(prompt.operation);
        for _ in 0..PIN_FAILURES_PER_BOOT {
            // One read of the TPM's counter per attempt.
            prompt.pin_retries = Some(self.refuse_if_blocked()?);
            let answer = match self.ask_user(&prompt) {
                Ok(a) => a,
                Err(r) => {
                    self.audit_refusal(kind, prompt.rp_id.as_deref(), r);
                    return Err(r.into());
                }
            };
            let choice = answer.choice.filter(|&c| c < prompt.accounts.len());
            let Some(pin) = answer.pin else {
                // An approval without the PIN cannot verify the user.
                return Err(Status::UvInvalid);
            };
            match self.verify_pin(&pin, kind) {
                Ok(verified) => return Ok((verified, choice)),
                Err(Status::PinInvalid) => prompt.pin_was_wrong = true,
                Err(e @ (Status::PinAuthBlocked | Status::PinBlocked)) => return Err(e),
                Err(e) => return Err(e),
            }
        }
        Err(Status::UvInvalid)
    }
}
