//! `tpm` attestation (WebAuthn §8.3) and the attestation key's enrolment with an
//! organisation's CA (docs/DESIGN.md "TPM attestation").
//!
//! The attestation key (AK, `templates::attestation_key`, shared with the audit
//! checkpoints) certifies each new credential key with TPM2_Certify (Part 3 §18.2):
//! extraData = SHA-256(authData ‖ clientDataHash), the statement names the key by its Name
//! (a digest of its public area), and a relying party checks it with the AK certificate.
//!
//! Enrolment is the standard credential activation (Part 1 §24): the CA checks the EK
//! certificate the TPM maker wrote into NV, makes a credential bound to the AK's Name and
//! sealed to the EK (TPM2_MakeCredential, done by the CA in software), and only the TPM that
//! holds that EK *and* that AK gets it back (TPM2_ActivateCredential). The CA encrypts the
//! AK certificate under that credential, so the certificate reaches only the right TPM.

use tss_esapi::{
    abstraction::{ek, AsymmetricAlgorithmSelection},
    handles::{AuthHandle, KeyHandle},
    interface_types::{
        key_bits::RsaKeyBits,
        session_handles::{AuthSession, PolicySession},
    },
    structures::{Data, EncryptedSecret, IdObject, SignatureScheme},
    traits::Marshall,
};

use crate::{
    session::{flush_session, start_policy, with_empty_password},
    Error, KeyBlob, Result, Tpm,
};

/// The EK this crate uses: the TCG default RSA 2048 template (EK Credential Profile, template
/// L-1), the one whose certificate TPM makers (and swtpm_setup) write at 0x01C00002.
fn ek_algorithm() -> AsymmetricAlgorithmSelection {
    AsymmetricAlgorithmSelection::Rsa(RsaKeyBits::Rsa2048)
}

/// What a CA needs to enrol the attestation key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnrolmentRequest {
    /// The EK certificate (DER), as the TPM maker wrote it.
    pub ek_certificate: Vec<u8>,
    /// The EK's public area (TPM2B_PUBLIC).
    pub ek_public: Vec<u8>,
    /// The AK's public area (TPMT_PUBLIC) and Name.
    pub ak_public: Vec<u8>,
    pub ak_name: Vec<u8>,
}

/// A credential key certified by the AK.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyCertification {
    /// TPMS_ATTEST as the TPM marshalled it.
    pub cert_info: Vec<u8>,
    /// The AK's ECDSA P-256 / SHA-256 signature over it (DER).
    pub signature: Vec<u8>,
    /// The credential key's TPMT_PUBLIC.
    pub pub_area: Vec<u8>,
}

impl Tpm {
    /// The EK certificate, EK public area and AK public area a CA needs.
    pub fn enrolment_request(&mut self) -> Result<EnrolmentRequest> {
        let op = "attestation request";
        let ek_certificate =
            ek::retrieve_ek_pubcert(&mut self.ctx, ek_algorithm()).map_err(|e| Error::Tpm {
                op,
                code: format!("this TPM has no RSA 2048 EK certificate at 0x01C00002 ({e})"),
            })?;
        let ek = self.endorsement_key(op)?;
        let ek_public = self.ctx.read_public(ek).map(|(p, _, _)| p);
        self.flush_object(ek.into());
        let ek_public = ek_public
            .and_then(|p| p.marshall())
            .map_err(|e| Error::tss(op, e))?;
        let mut ek_2b = u16::try_from(ek_public.len())
            .map_err(|_| Error::Tpm {
                op,
                code: "EK public area too long".into(),
            })?
            .to_be_bytes()
            .to_vec();
        ek_2b.extend_from_slice(&ek_public);
        let (ak_public, ak_name) = self.with_attestation_key(|tpm, ak| {
            let (public, name, _) = tpm.ctx.read_public(ak).map_err(|e| Error::tss(op, e))?;
            let public = public.marshall().map_err(|e| Error::tss(op, e))?;
            Ok((public, name.value().to_vec()))
        })?;
        Ok(EnrolmentRequest {
            ek_certificate,
            ek_public: ek_2b,
            ak_public,
            ak_name,
        })
    }

    /// TPM2_ActivateCredential (Part 3 §12.5): the credential the CA sealed to our EK for
    /// our AK's Name. Fails for a credential made for another EK or another key.
    pub fn activate_credential(&mut self, id_object: &[u8], secret: &[u8]) -> Result<Vec<u8>> {
        let op = "activate credential";
        let blob = IdObject::try_from(id_object.to_vec()).map_err(|e| Error::tss(op, e))?;
        let secret = EncryptedSecret::try_from(secret.to_vec()).map_err(|e| Error::tss(op, e))?;
        let ek = self.endorsement_key(op)?;
        let out = self.with_attestation_key(|tpm, ak| {
            // The EK's policy (EK Credential Profile): PolicySecret(TPM_RH_ENDORSEMENT).
            let session = start_policy(&mut tpm.ctx, op)?;
            let done = (|| {
                let p = PolicySession::try_from(session).map_err(|e| Error::tss(op, e))?;
                with_empty_password(&mut tpm.ctx, |c| {
                    c.policy_secret(
                        p,
                        AuthHandle::Endorsement,
                        Default::default(),
                        Default::default(),
                        Default::default(),
                        None,
                    )
                })
                .map_err(|e| Error::tss(op, e))?;
                tpm.ctx
                    .execute_with_sessions(
                        (Some(AuthSession::Password), Some(session), None),
                        |c| c.activate_credential(ak, ek, blob, secret),
                    )
                    .map_err(|e| Error::tss(op, e))
            })();
            flush_session(&mut tpm.ctx, session);
            done.map(|d| d.value().to_vec())
        });
        self.flush_object(ek.into());
        out
    }

    /// TPM2_Certify of the credential key in `blob` by the AK, with `extra` as extraData.
    pub fn certify_key(&mut self, blob: &KeyBlob, extra: &[u8; 32]) -> Result<KeyCertification> {
        let op = "certify key";
        let pub_area = blob.public.marshall().map_err(|e| Error::tss(op, e))?;
        let key = self.load_object(&blob.public, &blob.private)?;
        let extra = Data::try_from(extra.to_vec()).map_err(|e| Error::tss(op, e));
        let out = extra.and_then(|extra| {
            self.attested_by_ak(op, |c, ak| {
                let (attest, sig) = c.certify(key.into(), ak, extra, SignatureScheme::Null)?;
                Ok((attest.marshall()?, sig))
            })
        });
        let out = out.map(|(cert_info, signature)| KeyCertification {
            cert_info,
            signature,
            pub_area,
        });
        self.flush_object(key.into());
        out
    }

    fn endorsement_key(&mut self, op: &'static str) -> Result<KeyHandle> {
        ek::create_ek_object_2(&mut self.ctx, ek_algorithm(), None).map_err(|e| Error::Tpm {
            op,
            code: format!(
                "no endorsement key ({e}); does the endorsement hierarchy have a password?"
            ),
        })
    }
}
