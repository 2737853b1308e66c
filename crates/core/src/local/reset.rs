//! Reset from the user's own session: with the PIN, or — the forgotten-PIN path — with the
//! typed confirmation [`FORGOTTEN_PIN_PHRASE`]. The second needs no secret, so a same-user
//! program could use it to erase every passkey: that is denial of service, never access
//! (it could as well delete the store file), and it is audited. It is kept because without
//! it a user who forgot the PIN would have to wait out eight wrong tries.

use tpm_passkey_ipc::{Pin, FORGOTTEN_PIN_PHRASE};

use crate::audit::AuditKind;
use crate::{Approver, Clock, Engine, KeyStore, ManageError};

impl<K: KeyStore, A: Approver, C: Clock> Engine<K, A, C> {
    /// Erases every passkey and the PIN, after the PIN (once one is set).
    pub fn reset_local(&mut self, pin: Option<&Pin>) -> Result<(), ManageError> {
        self.require_pin(pin, AuditKind::Reset)?;
        self.erase_all(Some("local"))
            .map_err(ManageError::from_status)
    }

    /// Erases every passkey and the PIN without the PIN, when `confirm` is the phrase the
    /// user had to type.
    pub fn reset_forgotten_pin(&mut self, confirm: &str) -> Result<(), ManageError> {
        if confirm.trim() != FORGOTTEN_PIN_PHRASE {
            return Err(ManageError::NotConfirmed);
        }
        self.erase_all(Some("forgotten PIN"))
            .map_err(ManageError::from_status)
    }
}
