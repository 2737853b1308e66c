//! The hmac-secret extension's assertion side (CTAP 2.1 §12.5).

use tpm_passkey_wire::ctap2::HmacSecretInput;
use tpm_passkey_wire::Status;

use crate::credential::{id, Found};
use crate::pin::protocol::Protocol;
use crate::{Approver, Clock, Engine, KeyStore, PinHash};

impl<K: KeyStore, A: Approver, C: Clock> Engine<K, A, C> {
    /// Verify saltAuth, decrypt one or two salts, return
    /// encrypt(HMAC(CredRandom, salt1) [|| HMAC(CredRandom, salt2)]). CredRandom comes from
    /// the key store (the TPM, with the PIN for the with-UV value); credentials made before
    /// that derive it from the install secret, so that their outputs do not change.
    pub(crate) fn hmac_secret(
        &mut self,
        cred: &Found,
        input: &HmacSecretInput,
        pin: Option<&PinHash>,
        uv: bool,
    ) -> Result<Vec<u8>, Status> {
        let protocol = Protocol::from_number(input.protocol)?;
        let shared = self
            .pin
            .key_agreement()
            .shared_secret(protocol, &input.key_agreement)?;
        if !shared.verify(&input.salt_enc, &input.salt_auth) {
            return Err(Status::ExtensionFirst);
        }
        let salts = shared.decrypt(&input.salt_enc)?;
        let salts = salts.expose_secret_bytes();
        if salts.len() != 32 && salts.len() != 64 {
            return Err(Status::InvalidLength);
        }
        let cred_random = if cred.prf_in_key_store {
            // CredRandomWithUV needs the PIN in the key store, like a PIN-bound key.
            let pin = if uv {
                Some(pin.ok_or(Status::PuatRequired)?)
            } else {
                None
            };
            self.keys.cred_random(&cred.material, pin)?
        } else {
            id::cred_random(&self.install_secret, &cred.material, uv)
        };
        let mut out = Vec::with_capacity(salts.len());
        for salt in salts.chunks(32) {
            out.extend(Protocol::Two.authenticate(cred_random.expose_secret_bytes(), salt));
        }
        let encrypted = shared.encrypt(&out);
        zeroize::Zeroize::zeroize(&mut out);
        encrypted
    }
}
