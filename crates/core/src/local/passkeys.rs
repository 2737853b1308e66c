//! Passkeys from the user's own session: the list (audited: it reveals accounts) and
//! deletion (needs the PIN).

use crate::hex;
use tpm_passkey_ipc::{AuditRecord, Passkey, Pin};

use crate::audit::{AuditEvent, AuditKind, Outcome};
use crate::{Approver, Clock, Credential, Engine, KeyStore, ManageError};
use tpm_passkey_wire::Status;

impl<K: KeyStore, A: Approver, C: Clock> Engine<K, A, C> {
    /// Every discoverable passkey, grouped by site, without key material. `reader` (the
    /// asking process) is recorded in the audit log.
    pub fn passkeys(&mut self, reader: Option<String>) -> Result<Vec<Passkey>, ManageError> {
        let all = self
            .store
            .all_credentials()
            .map_err(|e| ManageError::from_status(e.into()))?;
        self.audit_read(AuditKind::ReadPasskeys, reader);
        Ok(all
            .into_iter()
            .map(|c| Passkey {
                id: hex::encode(&c.id),
                rp_id: c.rp_id,
                rp_name: c.rp_name,
                user_name: c.user_name,
                user_display_name: c.user_display_name,
                created: c.created,
                last_used: c.last_used,
                sign_count: c.sign_count,
                pin_bound: c.pin_bound,
                cred_protect: c.cred_protect,
            })
            .collect())
    }

    /// Stores `credentials` as they are, sealed like any change (a bulk import; the bench
    /// and tests seed thousands of passkeys so, without a TPM create each).
    pub fn import_credentials(&mut self, credentials: &[Credential]) -> Result<(), Status> {
        self.sealed_change(|s| s.put_credentials(credentials))
    }

    /// Deletes one passkey by its hex id, after the PIN (once one is set).
    pub fn delete_passkey(&mut self, id_hex: &str, pin: Option<&Pin>) -> Result<(), ManageError> {
        let id = hex::decode(id_hex).ok_or(ManageError::NotAPasskeyId)?;
        let c = self
            .store
            .credential(&id)
            .map_err(|e| ManageError::from_status(e.into()))?
            .ok_or_else(|| ManageError::no_such_passkey(id_hex))?;
        let verified = self.require_pin_hash(pin, AuditKind::Delete)?;
        // Deleted with the PIN: the statement says it must never come back (issue 21).
        self.anchored_change(
            verified.as_ref(),
            |_| {},
            std::slice::from_ref(&id),
            |s| s.delete_credential(&id),
        )
        .map_err(ManageError::from_status)?;
        self.end_session_unless_continued_by(None);
        self.audit(AuditEvent::new(AuditKind::Delete, Some(&c.rp_id), Outcome::Ok).detail("local"));
        Ok(())
    }

    /// Removes the passkeys that cannot work on this TPM — made on a TPM that was since
    /// cleared or replaced, or bound to a PIN index that is gone — and from then on takes
    /// this TPM as the one the state belongs to. No PIN: only keys the TPM itself refuses
    /// to load (or whose PIN index no longer exists) are removed, each audited. Returns how
    /// many.
    pub fn prune_dead_passkeys(&mut self) -> Result<u32, ManageError> {
        let all = self
            .store
            .all_credentials()
            .map_err(|e| ManageError::from_status(e.into()))?;
        let mut removed = 0u32;
        for c in all {
            let usable = self
                .keys
                .key_usable(&c.key_blob)
                .map_err(|e| ManageError::from_status(e.into()))?;
            if usable {
                continue;
            }
            self.sealed_change(|s| s.delete_credential(&c.id))
                .map_err(ManageError::from_status)?;
            removed += 1;
            self.audit(
                AuditEvent::new(AuditKind::Delete, Some(&c.rp_id), Outcome::Ok)
                    .detail("dead: this TPM cannot use it"),
            );
        }
        self.keys.accept_device();
        self.save_key_state().map_err(ManageError::from_status)?;
        // This TPM's rollback counter seals the store from now on.
        self.seal_anew().map_err(ManageError::from_status)?;
        self.end_session_unless_continued_by(None);
        Ok(removed)
    }

    /// Whether `credential_id` is one this authenticator made for `rp_id` (a stored
    /// passkey of that site, or an ID this install wrapped for it).
    pub fn owns_credential(&self, rp_id: &str, credential_id: &[u8]) -> bool {
        let rp_id_hash = crate::secret::sha256(rp_id.as_bytes());
        matches!(
            self.find_credential(rp_id, &rp_id_hash, credential_id),
            Ok(Some(_))
        )
    }

    /// The last `limit` audit records, oldest first. `reader` is recorded.
    pub fn audit_tail(
        &mut self,
        limit: u32,
        reader: Option<String>,
    ) -> Result<Vec<AuditRecord>, ManageError> {
        let records = self
            .store
            .audit_tail(limit)
            .map_err(|e| ManageError::from_status(e.into()))?;
        self.audit_read(AuditKind::ReadAudit, reader);
        Ok(records)
    }
}
