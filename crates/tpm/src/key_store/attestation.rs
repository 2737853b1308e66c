//! The key store's side of `tpm` attestation (docs/DESIGN.md "TPM attestation"): the
//! enrolment request and activation, run through the watched link like every operation.

use tpm_passkey_core::{KeyCertification, KeyError};

use super::TpmKeyStore;
use crate::{EnrolmentRequest, KeyBlob};

impl TpmKeyStore {
    /// The EK certificate, EK and AK public areas for the CA.
    pub fn enrolment_request(&mut self) -> Result<EnrolmentRequest, KeyError> {
        self.run(|s| s.tpm()?.enrolment_request())
    }

    /// TPM2_ActivateCredential of the CA's answer: the credential, if it was made for this
    /// TPM's EK and attestation key.
    pub fn activate_credential(
        &mut self,
        id_object: &[u8],
        secret: &[u8],
    ) -> Result<Vec<u8>, KeyError> {
        self.run(|s| s.tpm()?.activate_credential(id_object, secret))
    }

    /// The attestation key's public part (SEC1 uncompressed point).
    pub fn attestation_key(&mut self) -> Result<Vec<u8>, KeyError> {
        if self.ak_public.is_none() {
            let key = self.run(|s| s.tpm()?.attestation_public_key())?;
            self.ak_public = Some(key.to_sec1_point(false).as_bytes().to_vec());
        }
        Ok(self.ak_public.clone().unwrap_or_default())
    }

    pub(super) fn certify(
        &mut self,
        blob: &[u8],
        extra: &[u8; 32],
    ) -> Result<KeyCertification, KeyError> {
        let blob = KeyBlob::from_bytes(blob).map_err(|_| KeyError::BadBlob)?;
        self.run(|s| s.tpm()?.certify_key(&blob, extra))
            .map(|c| KeyCertification {
                cert_info: c.cert_info,
                signature: c.signature,
                pub_area: c.pub_area,
            })
    }
}
