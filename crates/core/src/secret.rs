//! Secrets the engine handles, each zeroized on drop, redacted in `Debug`, and readable
//! only through a method named `expose_secret…`.

use secrecy::{ExposeSecret, SecretBox};
use sha2::{Digest as _, Sha256};
use zeroize::Zeroize;

/// The CTAP pinHash: LEFT(SHA-256(PIN), 16) (CTAP 2.1 §6.5.5.5 "setPIN", §6.5.5.7
/// "getPinToken"). It is what the TPM's PIN index holds as its authValue, so a PIN typed
/// into a browser (clientPIN) and one typed into our own prompt reach the same value.
pub struct PinHash(SecretBox<[u8; 16]>);

impl PinHash {
    /// Hashes a PIN the user typed. The caller's copy of the PIN is theirs to zeroize.
    pub fn from_pin(pin: &str) -> Self {
        let mut digest = Sha256::digest(pin.as_bytes());
        let mut out = [0u8; 16];
        out.copy_from_slice(&digest[..16]);
        digest.as_mut_slice().zeroize();
        Self::from_bytes(out)
    }

    /// Wraps a pinHash that arrived already hashed (clientPIN's pinHashEnc, decrypted).
    pub fn from_bytes(mut bytes: [u8; 16]) -> Self {
        let s = PinHash(SecretBox::new(Box::new(bytes)));
        bytes.zeroize();
        s
    }

    pub fn expose_secret_bytes(&self) -> &[u8; 16] {
        self.0.expose_secret()
    }
}

impl Clone for PinHash {
    fn clone(&self) -> Self {
        Self::from_bytes(*self.expose_secret_bytes())
    }
}

impl std::fmt::Debug for PinHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PinHash(<redacted>)")
    }
}

/// Variable-length secret bytes (key-store state, pinUvAuthTokens, shared secrets).
pub struct SecretBytes(SecretBox<[u8]>);

impl SecretBytes {
    /// Takes `bytes` over. The secret is copied into a box of exactly its length and the
    /// whole of `bytes` — its spare capacity included — is wiped before it is freed:
    /// `Vec::into_boxed_slice` would reallocate a vector with spare capacity and free the
    /// old buffer as it is (issue 23: the key-store state, root seed and all, was built in
    /// a 1024-byte vector).
    pub fn new(mut bytes: Vec<u8>) -> Self {
        let exact: Box<[u8]> = Box::from(bytes.as_slice());
        bytes.zeroize();
        SecretBytes(SecretBox::new(exact))
    }

    pub fn expose_secret_bytes(&self) -> &[u8] {
        self.0.expose_secret()
    }
}

impl Clone for SecretBytes {
    fn clone(&self) -> Self {
        Self::new(self.expose_secret_bytes().to_vec())
    }
}

impl std::fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "SecretBytes(<{} bytes redacted>)",
            self.expose_secret_bytes().len()
        )
    }
}

/// SHA-256, for rpIdHash and the digests the keys sign.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

/// Fills `buf` from the operating system's CSPRNG. Without OS randomness an authenticator
/// cannot work at all, so the error is mapped to CTAP1_ERR_OTHER by the caller.
pub fn random(buf: &mut [u8]) -> Result<(), tpm_passkey_wire::Status> {
    getrandom::fill(buf).map_err(|_| tpm_passkey_wire::Status::Other)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pin_hash_is_left_16_of_sha256_and_never_printed() {
        // SHA-256("1234") = 03ac674216f3e15c761ee1a5e255f067953623c8...
        let h = PinHash::from_pin("1234");
        assert_eq!(
            h.expose_secret_bytes(),
            &[
                0x03, 0xac, 0x67, 0x42, 0x16, 0xf3, 0xe1, 0x5c, 0x76, 0x1e, 0xe1, 0xa5, 0xe2, 0x55,
                0xf0, 0x67
            ]
        );
        let shown = format!("{h:?} {:?}", SecretBytes::new(vec![0xab; 4]));
        assert!(
            !shown.to_lowercase().contains("ab") && !shown.contains("171"),
            "{shown}"
        );
    }
}
