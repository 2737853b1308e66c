//! authenticatorReset (§6.6) and authenticatorSelection (§6.9).

use tpm_passkey_ipc::{Operation, Prompt};
use tpm_passkey_wire::Status;

use crate::audit::AuditKind;
use crate::{Approver, Clock, Engine, KeyStore};

impl<K: KeyStore, A: Approver, C: Clock> Engine<K, A, C> {
    /// authenticatorReset, §6.6: with the user's approval — and, once a PIN is set, the
    /// PIN typed into that prompt and checked by the TPM — the key store forgets the PIN
    /// and its root (every key blob becomes useless) and the store is emptied.
    ///
    /// §6.6 lets any client reset within 10 s of power-up with user presence alone. Here
    /// the approval prompt names the consequence, and with a PIN set it takes the PIN: a
    /// program that got hold of the approval channel must not be able to erase every
    /// passkey (docs/THREAT-MODEL.md). Someone who forgot the PIN resets from the app,
    /// behind a typed confirmation.
    pub(crate) fn reset_cmd(&mut self) -> Result<(), Status> {
        let prompt = Prompt::new(Operation::Reset);
        if self.keys.pin_is_set() {
            self.built_in_uv(prompt)?;
        } else {
            self.ask_presence(&prompt, AuditKind::Reset)?;
        }
        self.erase_all(None)
    }

    /// authenticatorSelection, §6.9: user presence only.
    pub(crate) fn selection_cmd(&mut self) -> Result<(), Status> {
        self.ask_user_pin(&Prompt::new(Operation::Select))?;
        Ok(())
    }
}
