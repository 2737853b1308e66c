//! The PIN from the user's own session: set, change, and the check other actions need.

use tpm_passkey_ipc::Pin;
use tpm_passkey_wire::Status;

use crate::audit::{AuditEvent, AuditKind, Outcome};
use crate::engine::MAX_PIN_BYTES;
use crate::{Approver, Clock, Engine, KeyStore, ManageError, PinHash};

impl<K: KeyStore, A: Approver, C: Clock> Engine<K, A, C> {
    /// The PIN's retries left (None when no PIN is set).
    pub fn pin_retries_left(&mut self) -> Option<u8> {
        if !self.keys.pin_is_set() {
            return None;
        }
        self.keys.pin_retries().ok()
    }

    /// Checks `pin` when a PIN is set: a wrong one counts in the TPM as anywhere else, and
    /// the three-per-start-up pause applies here too. Audited as `kind` when wrong.
    pub fn require_pin(&mut self, pin: Option<&Pin>, kind: AuditKind) -> Result<(), ManageError> {
        self.require_pin_hash(pin, kind).map(drop)
    }

    /// [`Engine::require_pin`], giving back the verified pinHash (None with no PIN set), for a
    /// change whose protection statement it signs.
    pub(crate) fn require_pin_hash(
        &mut self,
        pin: Option<&Pin>,
        kind: AuditKind,
    ) -> Result<Option<PinHash>, ManageError> {
        if !self.keys.pin_is_set() {
            return Ok(None);
        }
        let pin = pin.ok_or(ManageError::PinRequired)?;
        let checked = self
            .refuse_if_blocked()
            .and_then(|_| self.verify_pin(&PinHash::from_pin(pin.expose_secret()), kind));
        checked
            .map(|v| Some(v.into_pin()))
            .map_err(|s| self.manage_error(s))
    }

    /// Sets the first PIN (§6.5.5.5's policy: minPINLength code points, at most 63 bytes).
    pub fn set_pin_local(&mut self, new: &Pin) -> Result<(), ManageError> {
        if self.keys.pin_is_set() {
            return Err(ManageError::PinAlreadySet);
        }
        let length = self.check_pin_policy(new)?;
        let hash = PinHash::from_pin(new.expose_secret());
        let set = self.keys.set_pin(&hash).map_err(Status::from);
        set.and_then(|()| self.after_pin_change(length, AuditKind::PinSet))
            .map_err(|s| self.manage_error(s))?;
        self.anchor_enrolment(&hash);
        Ok(())
    }

    /// Changes the PIN after the TPM checked the old one.
    pub fn change_pin_local(&mut self, old: &Pin, new: &Pin) -> Result<(), ManageError> {
        if !self.keys.pin_is_set() {
            return Err(ManageError::PinNotSet);
        }
        let length = self.check_pin_policy(new)?;
        let old_hash = PinHash::from_pin(old.expose_secret());
        let changed = self
            .refuse_if_blocked()
            .and_then(|_| self.verify_pin(&old_hash, AuditKind::PinChange))
            .and_then(|_verified| {
                Ok(self
                    .keys
                    .change_pin(&old_hash, &PinHash::from_pin(new.expose_secret()))?)
            })
            .and_then(|()| {
                self.pin.forget_token();
                self.after_pin_change(length, AuditKind::PinChange)
            });
        changed.map_err(|s| self.manage_error(s))
    }

    fn check_pin_policy(&self, pin: &Pin) -> Result<u8, ManageError> {
        let code_points = pin.expose_secret().chars().count();
        if pin.expose_secret().len() > MAX_PIN_BYTES
            || code_points < usize::from(self.settings().min_pin_length)
        {
            return Err(ManageError::PinPolicy {
                min: self.settings().min_pin_length,
            });
        }
        Ok(code_points.min(255) as u8)
    }

    fn after_pin_change(&mut self, length: u8, kind: AuditKind) -> Result<(), Status> {
        self.save_key_state()?;
        self.update_settings(|s| {
            s.pin_length = length;
            s.force_pin_change = false;
        })?;
        self.audit(AuditEvent::new(kind, None, Outcome::Ok).detail("local"));
        Ok(())
    }
}
