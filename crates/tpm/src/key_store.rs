//! The engine's [`KeyStore`] over the TPM: keys under the root, the PIN in its PIN Fail
//! index, hmac-secret under two keyed-hash keys, reset by forgetting the seed.
//!
//! State saved by the engine (opaque to it), version 2:
//! `2 ‖ root seed (32) ‖ u16 len ‖ PIN index record ‖ u16 len ‖ hmac-secret key ‖ u16 len ‖
//! PIN-bound hmac-secret key` (a zero length for an absent part). The seed is the only
//! secret: with this TPM it re-creates the root, and so loads the blobs — what a stolen
//! security key allows, no more: PIN-bound keys still need the PIN at the TPM.
//! Version 1 (stores made before the rebuild-proof PIN index) was `1 ‖ seed ‖ handle (4)`;
//! it is read as a legacy index and written back as version 2.

use tpm_passkey_core::wire::cose::P256Key;
use tpm_passkey_core::{KeyError, KeyStore, NewKey, PinProtection, SecretBytes};

use crate::{
    Error, KeyAuth, KeyBlob, OwnerAuth, PinHash, PinIndex, PrfKey, Result, RootSeed, TctiChoice,
    Tpm,
};

const STATE_V1: u8 = 1;
const STATE_V2: u8 = 2;
/// What the hmac-secret keys MAC before the credential's material.
const PRF_LABEL: &[u8] = b"tpm-passkey hmac-secret v2";

/// See the module documentation.
#[derive(Debug)]
pub struct TpmKeyStore {
    tpm: Tpm,
    seed: RootSeed,
    pin: Option<PinIndex>,
    /// A PIN index was recorded but the TPM no longer has it.
    pin_lost: bool,
    prf: Option<PrfKey>,
    prf_uv: Option<PrfKey>,
}

/// The parts of a saved state.
#[derive(Default)]
struct Saved {
    seed: Option<RootSeed>,
    pin: Option<PinIndex>,
    prf: Option<PrfKey>,
    prf_uv: Option<PrfKey>,
}

impl TpmKeyStore {
    /// Opens the TPM and re-derives the root from the saved state; with no state (first
    /// start), makes a fresh seed. Missing hmac-secret keys are made (state changes: the
    /// engine saves it once it is open).
    pub fn open(
        tcti: &TctiChoice,
        owner_auth: Option<&OwnerAuth>,
        state: Option<&SecretBytes>,
    ) -> Result<Self> {
        let saved = match state {
            Some(s) => parse_state(s.expose_secret_bytes())?,
            None => Saved::default(),
        };
        let seed = match saved.seed {
            Some(s) => s,
            None => RootSeed::generate()?,
        };
        let mut tpm = Tpm::open(tcti, &seed, owner_auth)?;
        let mut pin_lost = false;
        let pin = match saved.pin {
            Some(record) => match tpm.open_pin_index(&record) {
                Ok(i) => Some(i),
                Err(Error::NoPinIndex(h)) => {
                    tracing::error!(
                        handle = h,
                        "the PIN index is gone from the TPM (deleted by its owner, or the TPM was cleared): PIN-bound passkeys cannot work again"
                    );
                    pin_lost = true;
                    None
                }
                Err(e) => return Err(e),
            },
            None => None,
        };
        let mut store = TpmKeyStore {
            tpm,
            seed,
            pin,
            pin_lost,
            prf: saved.prf,
            prf_uv: saved.prf_uv.filter(|_| !pin_lost),
        };
        store.ensure_prf_keys()?;
        Ok(store)
    }

    /// Makes the hmac-secret keys this state lacks: the without-UV one always, the
    /// PIN-bound one once a PIN index exists.
    fn ensure_prf_keys(&mut self) -> Result<()> {
        if self.prf.is_none() {
            self.prf = Some(self.tpm.create_prf_key(None)?);
        }
        if self.prf_uv.is_none() {
            if let Some(index) = &self.pin {
                self.prf_uv = Some(self.tpm.create_prf_key(Some(index))?);
            }
        }
        Ok(())
    }

    /// The TPM, for health and identity queries.
    pub fn tpm(&mut self) -> &mut Tpm {
        &mut self.tpm
    }

    /// The PIN index in use, if any.
    pub fn pin_index(&self) -> Option<&PinIndex> {
        self.pin.as_ref()
    }

    fn index(&self) -> std::result::Result<&PinIndex, KeyError> {
        self.pin.as_ref().ok_or(KeyError::PinNotSet)
    }
}

fn take_part(b: &[u8]) -> Result<(&[u8], &[u8])> {
    if b.len() < 2 {
        return Err(Error::BadBlob("saved key-store state is truncated"));
    }
    let len = usize::from(u16::from_be_bytes([b[0], b[1]]));
    let rest = &b[2..];
    if rest.len() < len {
        return Err(Error::BadBlob("saved key-store state is truncated"));
    }
    Ok(rest.split_at(len))
}

fn seed_of(b: &[u8]) -> RootSeed {
    let mut seed = [0u8; 32];
    seed.copy_from_slice(&b[..32]);
    RootSeed::from_bytes(seed)
}

fn parse_state(b: &[u8]) -> Result<Saved> {
    match b.split_first() {
        Some((&STATE_V1, rest)) if rest.len() == 36 => {
            let handle = u32::from_be_bytes([rest[32], rest[33], rest[34], rest[35]]);
            Ok(Saved {
                seed: Some(seed_of(rest)),
                pin: (handle != 0).then(|| PinIndex::legacy_at(handle)),
                ..Saved::default()
            })
        }
        Some((&STATE_V2, rest)) if rest.len() >= 32 => {
            let seed = seed_of(rest);
            let (pin, rest) = take_part(&rest[32..])?;
            let (prf, rest) = take_part(rest)?;
            let (prf_uv, rest) = take_part(rest)?;
            if !rest.is_empty() {
                return Err(Error::BadBlob("saved key-store state has trailing bytes"));
            }
            fn opt(b: &[u8]) -> Option<&[u8]> {
                (!b.is_empty()).then_some(b)
            }
            Ok(Saved {
                seed: Some(seed),
                pin: opt(pin).map(PinIndex::from_record).transpose()?,
                prf: opt(prf).map(PrfKey::from_bytes).transpose()?,
                prf_uv: opt(prf_uv).map(PrfKey::from_bytes).transpose()?,
            })
        }
        _ => Err(Error::BadBlob("saved key-store state has the wrong format")),
    }
}

/// TPM errors as the engine sees them: PIN outcomes distinct, the rest opaque (detail in
/// the message, which never carries a secret). Only the PIN index's own authorization
/// failure is a wrong PIN; an owner-password failure is not the user's PIN.
fn to_key_error(e: Error) -> KeyError {
    match e {
        Error::AuthFailed { op } if op == crate::pin::PIN_CHECK_OP => KeyError::PinInvalid,
        Error::PinBlocked => KeyError::PinBlocked,
        Error::PinRequired => KeyError::PinRequired,
        Error::BadBlob(_) => KeyError::BadBlob,
        other => KeyError::Other(other.to_string()),
    }
}

fn put_part(out: &mut Vec<u8>, part: &[u8]) {
    // Every part is far below 64 KiB (a record is < 200 bytes, a key blob < 400).
    let len = u16::try_from(part.len()).unwrap_or(0);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&part[..usize::from(len)]);
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
        let index = self.tpm.define_pin_index(None, pin).map_err(to_key_error)?;
        let prf_uv = self
            .tpm
            .create_prf_key(Some(&index))
            .map_err(to_key_error)?;
        self.pin = Some(index);
        self.prf_uv = Some(prf_uv);
        self.pin_lost = false;
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

    fn cred_random(
        &mut self,
        material: &[u8],
        pin: Option<&PinHash>,
    ) -> std::result::Result<SecretBytes, KeyError> {
        let input = [PRF_LABEL, material].concat();
        let out = match pin {
            Some(p) => {
                let index = self.index()?.clone();
                let key = self.prf_uv.clone().ok_or(KeyError::PinNotSet)?;
                self.tpm.prf(&key, &input, KeyAuth::pin(&index, p))
            }
            None => {
                let key = self
                    .prf
                    .clone()
                    .ok_or_else(|| KeyError::Other("no hmac-secret key".into()))?;
                self.tpm.prf(&key, &input, KeyAuth::None)
            }
        };
        let mut bytes = out.map_err(to_key_error)?;
        let secret = SecretBytes::new(bytes.to_vec());
        zeroize::Zeroize::zeroize(&mut bytes);
        Ok(secret)
    }

    fn pin_protection(&self) -> PinProtection {
        match &self.pin {
            Some(i) if i.is_legacy() => PinProtection::Legacy,
            Some(_) => PinProtection::Sealed,
            None if self.pin_lost => PinProtection::Lost,
            None => PinProtection::NotSet,
        }
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
        self.pin_lost = false;
        self.prf_uv = None;
        self.prf = Some(self.tpm.create_prf_key(None).map_err(to_key_error)?);
        Ok(())
    }

    fn state(&self) -> SecretBytes {
        let mut b = Vec::with_capacity(1024);
        b.push(STATE_V2);
        b.extend_from_slice(self.seed.expose_secret_bytes());
        put_part(
            &mut b,
            &self
                .pin
                .as_ref()
                .map(PinIndex::to_record)
                .unwrap_or_default(),
        );
        for key in [&self.prf, &self.prf_uv] {
            let bytes = key
                .as_ref()
                .and_then(|k| k.to_bytes().ok())
                .unwrap_or_default();
            put_part(&mut b, &bytes);
        }
        SecretBytes::new(b)
    }
}
