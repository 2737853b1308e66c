//! Secrets that pass through this crate, each wrapped so that it is zeroized on drop,
//! never printed by `Debug`, and only readable through a method named `expose_secret…`.

use secrecy::{ExposeSecret, SecretBox};
use zeroize::Zeroize;

use crate::{Error, Result};

/// The CTAP pinHash lives with the engine, which computes it from clientPIN; this crate
/// uses it as the PIN index's authValue.
pub use tpm_passkey_core::PinHash;

/// The 32-byte seed from which the root key is derived (it is the root template's
/// `unique` field). Whoever deletes it erases every credential made under it.
pub struct RootSeed(SecretBox<[u8; 32]>);

impl RootSeed {
    /// A fresh seed from the operating system's CSPRNG.
    pub fn generate() -> Result<Self> {
        let mut b = [0u8; 32];
        getrandom::fill(&mut b).map_err(|_| Error::Tpm {
            op: "seed",
            code: "no OS randomness".into(),
        })?;
        Ok(Self::from_bytes(b))
    }

    pub fn from_bytes(mut bytes: [u8; 32]) -> Self {
        let s = RootSeed(SecretBox::new(Box::new(bytes)));
        bytes.zeroize();
        s
    }

    pub fn expose_secret_bytes(&self) -> &[u8; 32] {
        self.0.expose_secret()
    }
}

impl std::fmt::Debug for RootSeed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RootSeed(<redacted>)")
    }
}

/// The owner-hierarchy authorization, when IT has set one (empty on most machines).
/// Cloned only to reconnect after a TPM outage; each copy zeroizes itself.
pub struct OwnerAuth(SecretBox<Vec<u8>>);

impl Clone for OwnerAuth {
    fn clone(&self) -> Self {
        OwnerAuth::new(self.expose_secret_bytes().to_vec())
    }
}

impl OwnerAuth {
    pub fn new(bytes: Vec<u8>) -> Self {
        OwnerAuth(SecretBox::new(Box::new(bytes)))
    }

    pub fn expose_secret_bytes(&self) -> &[u8] {
        self.0.expose_secret()
    }
}

impl std::fmt::Debug for OwnerAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OwnerAuth(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pin_hash_is_left_16_of_sha256() {
        // SHA-256("1234") = 03ac674216f3e15c761ee1a5e255f067953623c8b388b4459e13f978d7c846f4
        let h = PinHash::from_pin("1234");
        assert_eq!(
            h.expose_secret_bytes(),
            &[
                0x03, 0xac, 0x67, 0x42, 0x16, 0xf3, 0xe1, 0x5c, 0x76, 0x1e, 0xe1, 0xa5, 0xe2, 0x55,
                0xf0, 0x67
            ]
        );
    }

    #[test]
    fn debug_never_shows_secrets() {
        let h = PinHash::from_bytes([0xAB; 16]);
        let s = RootSeed::from_bytes([0xCD; 32]);
        let o = OwnerAuth::new(b"hunter2".to_vec());
        let all = format!("{h:?} {s:?} {o:?}");
        assert!(
            !all.contains("171") && !all.to_lowercase().contains("ab") && !all.contains("hunter2"),
            "{all}"
        );
        assert!(all.contains("redacted"));
    }

    #[test]
    fn generated_seeds_differ() {
        let a = RootSeed::generate().expect("seed");
        let b = RootSeed::generate().expect("seed");
        assert_ne!(a.expose_secret_bytes(), b.expose_secret_bytes());
    }
}
