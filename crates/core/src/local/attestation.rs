//! `tpm` attestation, engine side (docs/DESIGN.md "TPM attestation"): the installed AK
//! certificate chain (kept in the store, sealed like every setting), the person's choice to
//! use it, and the statement built for a new credential.

use crate::hex;
use tpm_passkey_ipc::AttestationView;
use tpm_passkey_wire::ctap2::TpmStatement;
use tpm_passkey_wire::Status;

use crate::audit::{AuditEvent, AuditKind, Outcome};
use crate::{Approver, Clock, Engine, KeyStore, ManageError};

/// Where the chain is kept (the settings table: public data, covered by the seal).
const CHAIN: &str = "attestation_chain";

#[derive(serde::Serialize, serde::Deserialize)]
struct Installed {
    /// DER certificates, hex: the AK certificate first.
    chain: Vec<String>,
    issuer: String,
}

impl<K: KeyStore, A: Approver, C: Clock> Engine<K, A, C> {
    fn installed_attestation(&self) -> Option<Installed> {
        let json = self.store.setting(CHAIN).ok()??;
        serde_json::from_str(&json).ok()
    }

    /// The attestation state, for status displays.
    pub fn attestation_view(&self) -> AttestationView {
        let installed = self.installed_attestation();
        AttestationView {
            provisioned: installed.is_some(),
            on: installed.is_some() && self.settings().tpm_attestation,
            issuer: installed.map(|i| i.issuer),
        }
    }

    /// Keeps an AK certificate chain the caller has checked (its first certificate's key is
    /// the key store's attestation key: the daemon checks that after activating it).
    pub fn install_attestation(
        &mut self,
        chain: &[Vec<u8>],
        issuer: &str,
    ) -> Result<(), ManageError> {
        let json = serde_json::to_string(&Installed {
            chain: chain.iter().map(|c| hex::encode(c)).collect(),
            issuer: issuer.to_owned(),
        })
        .map_err(|_| ManageError::Failed(Status::Other))?;
        self.sealed_change(|s| s.set_setting(CHAIN, &json))
            .map_err(ManageError::from_status)?;
        self.audit(
            AuditEvent::new(AuditKind::Config, None, Outcome::Ok).detail(format!(
                "attestation certificate installed (issuer {issuer})"
            )),
        );
        Ok(())
    }

    /// `tpm` attestation on or off; on needs an installed certificate, and the PIN once
    /// one is set: it lets every site that asks tell this computer's TPM (the CA's
    /// certificate names it), which a program must not decide for the person.
    pub fn set_tpm_attestation(
        &mut self,
        on: bool,
        pin: Option<&tpm_passkey_ipc::Pin>,
    ) -> Result<(), ManageError> {
        if on && self.installed_attestation().is_none() {
            return Err(ManageError::NoAttestationCertificate);
        }
        let verified = if on && !self.settings().tpm_attestation {
            self.require_pin_hash(pin, AuditKind::Config)?
        } else {
            None
        };
        self.update_settings_anchored(verified.as_ref(), |s| s.tpm_attestation = on)
            .map_err(ManageError::from_status)?;
        self.audit(
            AuditEvent::new(AuditKind::Config, None, Outcome::Ok).detail(if on {
                "attestation: tpm (the organisation's CA vouches for this TPM)"
            } else {
                "attestation: packed self-attestation"
            }),
        );
        Ok(())
    }

    /// The `tpm` statement for a new credential key, when provisioned and turned on:
    /// (the AK's signature over certInfo, the rest of the statement). None means packed
    /// self-attestation — also when the TPM cannot certify now (logged: the person still
    /// gets the passkey; the relying party sees self-attestation, which is always allowed).
    pub(crate) fn tpm_attestation(
        &mut self,
        blob: &[u8],
        digest: &[u8; 32],
    ) -> Option<(Vec<u8>, TpmStatement)> {
        if !self.settings().tpm_attestation {
            return None;
        }
        let installed = self.installed_attestation()?;
        let x5c: Option<Vec<Vec<u8>>> = installed.chain.iter().map(|c| hex::decode(c)).collect();
        match self.keys.certify_key(blob, digest) {
            Ok(c) => Some((
                c.signature,
                TpmStatement {
                    x5c: x5c?,
                    cert_info: c.cert_info,
                    pub_area: c.pub_area,
                },
            )),
            Err(e) => {
                tracing::warn!(error = %e, "the TPM could not certify the new key: packed self-attestation instead");
                None
            }
        }
    }
}
