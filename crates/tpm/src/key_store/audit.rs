//! The key store's audit index and attestation key (docs/DESIGN.md "Audit checkpoints"):
//! made once per install like the rollback counter, checked at every connection, never
//! replaced behind the person's back — an index that is gone or not ours is reported, and
//! only `--accept-restored-store` makes a new one.

use tpm_passkey_core::{AuditAnchor, AuditStatement, KeyError};

use super::TpmKeyStore;
use crate::{AuditIndex, Certified, Result, Tpm};

fn statement(c: Certified) -> AuditStatement {
    AuditStatement {
        attest: c.attest,
        signature: c.signature,
    }
}

impl TpmKeyStore {
    /// Checks the recorded audit index against this TPM (as `check_counter` does).
    pub(super) fn check_audit(&mut self, tpm: &mut Tpm) -> crate::Result<()> {
        let Some(a) = &self.audit else {
            return Ok(());
        };
        match tpm.open_audit_index(a) {
            Ok(()) => self.audit_lost = false,
            Err(_) if self.replaced => {}
            Err(e) if e.is_absent_or_foreign() => {
                tracing::error!(error = %e, "the audit index is gone from this TPM or is not ours: the log's checkpoints cannot be checked against it");
                self.audit_lost = true;
            }
            Err(e) => return Err(e),
        }
        Ok(())
    }

    /// Makes the audit index when this state has none (a new install, or one made before
    /// checkpoints), at a free handle of the owner range.
    pub(super) fn ensure_audit_on(&mut self) -> Result<()> {
        if self.audit.is_some() || self.replaced || self.audit_lost {
            return Ok(());
        }
        let genesis = tpm_passkey_core::audit_proof::genesis();
        let index = self
            .tpm()?
            .define_at_free_handle(|tpm, h| tpm.define_audit_index(h, &genesis))?;
        self.audit = Some(index);
        Ok(())
    }

    /// The audit index's TPM handle, if there is one.
    pub fn audit_handle(&self) -> Option<u32> {
        self.audit.as_ref().map(AuditIndex::handle)
    }

    fn live_audit(&self) -> std::result::Result<AuditIndex, KeyError> {
        if self.audit_lost {
            return Err(KeyError::Other(
                "the audit index is gone from this TPM or is not this store's".into(),
            ));
        }
        self.audit
            .clone()
            .ok_or_else(|| KeyError::Other("no audit index".into()))
    }

    pub(super) fn anchor(&mut self) -> std::result::Result<Option<AuditAnchor>, KeyError> {
        if self.replaced {
            return Ok(None);
        }
        let Some(index) = self.audit.clone() else {
            return Ok(None);
        };
        Ok(Some(AuditAnchor {
            key: self.attestation_key()?,
            index_name: index.name().to_vec(),
            binding: self.audit_binding(&index),
        }))
    }

    pub(super) fn checkpoint(
        &mut self,
        message: &[u8; 32],
    ) -> std::result::Result<AuditStatement, KeyError> {
        let index = self.live_audit()?;
        self.run(|s| {
            let tpm = s.tpm()?;
            tpm.extend_audit_index(&index, message)?;
            tpm.certify_audit_index(&index, message)
        })
        .map(statement)
    }

    pub(super) fn audit_now(
        &mut self,
        nonce: &[u8; 32],
    ) -> std::result::Result<AuditStatement, KeyError> {
        let index = self.live_audit()?;
        self.run(|s| s.tpm()?.certify_audit_index(&index, nonce))
            .map(statement)
    }
}
