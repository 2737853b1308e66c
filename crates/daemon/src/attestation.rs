//! Enrolling the TPM's attestation key with an organisation's CA (docs/DESIGN.md "TPM
//! attestation"), on the engine thread: the request a CA reads, and the CA's answer made
//! into an installed AK certificate.
//!
//! Request (`tpm-passkey-attestation-request-1`, bytes in hex): the EK certificate, the EK
//! public area (TPM2B_PUBLIC), the AK public area (TPMT_PUBLIC) and Name, and the TPM's
//! manufacturer, model and firmware for the certificate's subjectAltName (WebAuthn §8.3.1).
//!
//! Answer (`tpm-passkey-attestation-response-1`): TPM2_MakeCredential's credentialBlob and
//! secret (sealed to our EK, bound to the AK's Name, a 32-byte credential), and the AK
//! certificate chain (a JSON list of hex DER, AK certificate first) encrypted with
//! AES-256-GCM under that credential. Only the TPM with this EK and this AK can activate
//! it, so only it can read the certificate; the certificate's key is then checked to be
//! the AK's before it is kept.

use aes_gcm::aead::{Aead, KeyInit};
use serde::{Deserialize, Serialize};
use tpm_passkey_core::{hex, ManageError};
use x509_cert::der::Decode;

use crate::engine_thread::DaemonEngine;

#[derive(Serialize, Deserialize)]
struct Request {
    format: String,
    ek_certificate: String,
    ek_public: String,
    ak_public: String,
    ak_name: String,
    /// "id:XXXXXXXX" (TPM_PT_MANUFACTURER), the vendor string, "id:XXXXXXXX"
    /// (TPM_PT_FIRMWARE_VERSION_1): what WebAuthn §8.3.1 puts in the AK certificate.
    tpm_manufacturer: String,
    tpm_model: String,
    tpm_version: String,
}

#[derive(Deserialize)]
struct Response {
    format: String,
    credential_blob: String,
    encrypted_secret: String,
    nonce: String,
    encrypted_chain: String,
}

fn unhex(s: &str) -> Result<Vec<u8>, ManageError> {
    hex::decode(s)
        .ok_or_else(|| ManageError::Enrolment("the answer holds a field that is not hex".into()))
}

fn failed(e: impl std::fmt::Display) -> ManageError {
    ManageError::Enrolment(e.to_string())
}

/// The request JSON for the CA.
pub fn request(engine: &mut DaemonEngine) -> Result<String, ManageError> {
    let keys = engine.keys_mut();
    let r = keys.enrolment_request().map_err(failed)?;
    let info = keys.run(|k| k.tpm()?.info()).map_err(failed)?;
    let json = serde_json::to_string_pretty(&Request {
        format: "tpm-passkey-attestation-request-1".into(),
        ek_certificate: hex::encode(&r.ek_certificate),
        ek_public: hex::encode(&r.ek_public),
        ak_public: hex::encode(&r.ak_public),
        ak_name: hex::encode(&r.ak_name),
        tpm_manufacturer: format!("id:{:08X}", info.manufacturer_id),
        tpm_model: if info.vendor.is_empty() {
            "unknown".into()
        } else {
            info.vendor
        },
        tpm_version: format!("id:{:08X}", info.firmware_id),
    })
    .map_err(failed)?;
    Ok(json)
}

/// Activates the CA's answer, decrypts and checks the chain, and keeps it.
pub fn install(engine: &mut DaemonEngine, response: &str) -> Result<(), ManageError> {
    let r: Response = serde_json::from_str(response)
        .map_err(|e| failed(format!("the answer is not the CA's JSON ({e})")))?;
    if r.format != "tpm-passkey-attestation-response-1" {
        return Err(failed("the answer has an unknown format"));
    }
    let (blob, secret) = (unhex(&r.credential_blob)?, unhex(&r.encrypted_secret)?);
    // The activated credential is the key to the certificate: wiped after use.
    let credential = engine
        .keys_mut()
        .activate_credential(&blob, &secret)
        .map(zeroize::Zeroizing::new)
        .map_err(|e| match e {
            tpm_passkey_core::KeyError::Unreachable => ManageError::TpmUnreachable,
            e => failed(format!(
                "the TPM refused to activate the credential: it was not made for this TPM's endorsement key and attestation key ({e})"
            )),
        })?;
    let key: zeroize::Zeroizing<[u8; 32]> = zeroize::Zeroizing::new(
        credential
            .as_slice()
            .try_into()
            .map_err(|_| failed("the activated credential is not a 32-byte key"))?,
    );
    let nonce: [u8; 12] = unhex(&r.nonce)?
        .try_into()
        .map_err(|_| failed("the nonce is not 12 bytes"))?;
    let cipher = aes_gcm::Aes256Gcm::new(&(*key).into());
    let plain = cipher
        .decrypt(&nonce.into(), unhex(&r.encrypted_chain)?.as_slice())
        .map_err(|_| {
            failed("the certificate chain does not decrypt under the activated credential")
        })?;
    let chain: Vec<String> = serde_json::from_slice(&plain).map_err(failed)?;
    let chain: Vec<Vec<u8>> = chain.iter().map(|c| unhex(c)).collect::<Result<_, _>>()?;
    let leaf = chain.first().ok_or_else(|| failed("the chain is empty"))?;
    let cert = x509_cert::Certificate::from_der(leaf)
        .map_err(|e| failed(format!("the AK certificate is not DER X.509 ({e})")))?;
    let tbs = cert.tbs_certificate();
    let ak = engine.keys_mut().attestation_key().map_err(failed)?;
    if tbs.subject_public_key_info().subject_public_key.raw_bytes() != ak.as_slice() {
        return Err(failed(
            "the certificate is for another key than this TPM's attestation key",
        ));
    }
    let issuer = tbs.issuer().to_string();
    engine.install_attestation(&chain, &issuer)
}
