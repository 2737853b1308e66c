//! The engine's [`KeyStore`] over the TPM: keys under the root, the PIN in its PIN Fail
//! index, reset by forgetting the seed.
//!
//! State saved by the engine (opaque to it): version (1) || root seed (32) || PIN index
//! handle (4, big-endian, 0 when no PIN is set). The seed is the only secret; the handle is
//! public, and the index's Name is checked when it is reopened.

use tpm_passkey_core::wire::cose::P256Key;
use tpm_passkey_core::{KeyError, KeyStore, NewKey, SecretBytes};

use crate::{
    Error, KeyAuth, KeyBlob, OwnerAuth, PinHash, PinIndex, Result, RootSeed, TctiChoice, Tpm,
};

const STATE_VERSION: u8 = 1;

/// See the module documentation.
#[derive(Debug)]
pub struct TpmKeyStore {
    tpm: Tpm,
    seed: RootSeed,
    pin: Option<PinIndex>,
}

impl TpmKeyStore {
    /// Opens the TPM and re-derives the root from the saved state; with no state (first
    /// start), makes a fresh seed.
    pub fn open(
        tcti: &TctiChoice,
        owner_auth: Option<&OwnerAuth>,
        state: Option<&SecretBytes>,
    ) -> Result<Self> {
        let (seed, handle) = match state {
            Some(s) => parse_state(s.expose_secret_bytes())?,
            None => (RootSeed::generate()?, None),
        };
        let mut tpm = Tpm::open(tcti, &seed, owner_auth)?;
        let pin = match handle {
            Some(h) => match tpm.open_pin_index(h) {
                Ok(i) => Some(i),
                Err(Error::NoPinIndex(_)) => {
                    tracing::error!(
                        handle = h,
                        "the PIN index is gone from the TPM; the PIN must be set again"
                    );
                    None
                }
                Err(e) => return Err(e),
            },
            None => None,
        };
        Ok(TpmKeyStore { tpm, seed, pin })
    }

    /// The TPM, for health and identity queries.
    pub fn tpm(&mut self) -> &mut Tpm {
        &mut self.tpm
    }

    fn index(&self) -> std::result::Result<&PinIndex, KeyError> {
        self.pin.as_ref().ok_or(KeyError::PinNotSet)
    }
}

fn parse_state(b: &[u8]) -> Result<(RootSeed, Option<u32>)> {
    if b.len() != 37 || b[0] != STATE_VERSION {
        return Err(Error::BadBlob("saved key-store state has the wrong format"));
    }
    let mut seed = [0u8; 32];
    seed.copy_from_slice(&b[1..33]);
    let handle = u32::from_be_bytes([b[33], b[34], b[35], b[36]]);
    Ok((RootSeed::from_bytes(seed), (handle != 0).then_some(handle)))
}

/// TPM errors as the engine sees them: PIN outcomes distinct, the rest opaque (detail in
/// the message, which never carries a secret).
fn to_key_error(e: Error) -> KeyError {
    match e {
        Error::AuthFailed { .. } => KeyError::PinInvalid,
        Error::PinBlocked => KeyError::PinBlocked,
        Error::PinRequired => KeyError::PinRequired,
        Error::BadBlob(_) => KeyError::BadBlob,
        other => KeyError::Other(other.to_string()),
    }
}

impl KeyStore for TpmKeyStore {
    fn create_key(&mut self, pin_bound: bool) -> std::result::Result<NewKey, KeyError> {
        let index = if pin_bound {
            Some(self.index()?.clone())
        } else {
            None
        };
        let made = self.tpm.create_key(index.as_ref()).map_err(to_key_error)?;
        let public = P256Key::from_sec1(made.public.to_sec1_point(false).as_bytes())
            .map_err(|_| KeyError::Other("TPM returned an unusable public key".into()))?;
        Ok(NewKey {
            blob: made.blob.to_bytes().map_err(to_key_error)?,
            public,
        })
    }

    fn sign(
        &mut self,
        blob: &[u8],
        digest: &[u8; 32],
        pin: Option<&PinHash>,
    ) -> std::result::Result<Vec<u8>, KeyError> {
        let blob = KeyBlob::from_bytes(blob).map_err(|_| KeyError::BadBlob)?;
        let index = self.pin.clone();
        let auth = match (pin, index.as_ref()) {
            (Some(p), Some(i)) => KeyAuth::pin(i, p),
            _ => KeyAuth::None,
        };
        let sig = self.tpm.sign(&blob, digest, auth).map_err(to_key_error)?;
        Ok(sig.to_der().as_bytes().to_vec())
    }

    fn pin_is_set(&self) -> bool {
        self.pin.is_some()
    }

    fn pin_retries(&mut self) -> std::result::Result<u8, KeyError> {
        let index = self.index()?.clone();
        let r = self.tpm.pin_retries(&index).map_err(to_key_error)?;
        Ok(u8::try_from(r.remaining).unwrap_or(u8::MAX))
    }

    fn set_pin(&mut self, pin: &PinHash) -> std::result::Result<(), KeyError> {
        if self.pin.is_some() {
            return Err(KeyError::Other("a PIN index already exists".into()));
        }
        self.pin = Some(self.tpm.define_pin_index(None, pin).map_err(to_key_error)?);
        Ok(())
    }

    fn verify_pin(&mut self, pin: &PinHash) -> std::result::Result<(), KeyError> {
        let index = self.index()?.clone();
        self.tpm.verify_pin(&index, pin).map_err(to_key_error)
    }

    fn change_pin(&mut self, old: &PinHash, new: &PinHash) -> std::result::Result<(), KeyError> {
        let index = self.index()?.clone();
        self.tpm.change_pin(&index, old, new).map_err(to_key_error)
    }

    fn reset(&mut self) -> std::result::Result<(), KeyError> {
        if let Some(index) = self.pin.take() {
            if let Err(e) = self.tpm.undefine_pin_index(index) {
                tracing::error!(error = %e, "could not delete the PIN index during reset");
            }
        }
        let seed = RootSeed::generate().map_err(to_key_error)?;
        self.tpm.replace_root(&seed).map_err(to_key_error)?;
        self.seed = seed;
        Ok(())
    }

    fn state(&self) -> SecretBytes {
        let mut b = Vec::with_capacity(37);
        b.push(STATE_VERSION);
        b.extend_from_slice(self.seed.expose_secret_bytes());
        b.extend_from_slice(&self.pin.as_ref().map_or(0, PinIndex::handle).to_be_bytes());
        SecretBytes::new(b)
    }
}
