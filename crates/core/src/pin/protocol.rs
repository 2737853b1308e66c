//! PIN/UV auth protocols one and two, CTAP 2.1 §6.5.6 and §6.5.7: ECDH key agreement on
//! P-256, AES-256-CBC for PINs, tokens and salts, HMAC-SHA-256 for authentication.

use aes::cipher::{block_padding::NoPadding, BlockDecryptMut, BlockEncryptMut, KeyIvInit};
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use p256::elliptic_curve::sec1::ToSec1Point;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tpm_passkey_wire::{cose::P256Key, Status};
use zeroize::Zeroize;

use crate::secret::{random, SecretBytes};

type HmacSha256 = Hmac<Sha256>;

/// pinUvAuthProtocol 1 or 2.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    One,
    Two,
}

impl Protocol {
    /// §6.5.4: an unsupported protocol number is CTAP1_ERR_INVALID_PARAMETER.
    pub fn from_number(n: u64) -> Result<Self, Status> {
        match n {
            1 => Ok(Protocol::One),
            2 => Ok(Protocol::Two),
            _ => Err(Status::InvalidParameter),
        }
    }

    /// authenticate(key, message), §6.5.6 (first 16 bytes) and §6.5.7 (all 32).
    pub fn authenticate(self, key: &[u8], message: &[u8]) -> Vec<u8> {
        let mut mac = match HmacSha256::new_from_slice(key) {
            Ok(m) => m,
            Err(_) => return Vec::new(), // HMAC takes keys of any length
        };
        mac.update(message);
        let tag = mac.finalize().into_bytes();
        match self {
            Protocol::One => tag[..16].to_vec(),
            Protocol::Two => tag.to_vec(),
        }
    }

    /// verify(key, message, signature) in constant time; a signature of the wrong length
    /// fails (§6.5.7 "verify": protocol two requires all 32 bytes).
    pub fn verify(self, key: &[u8], message: &[u8], signature: &[u8]) -> bool {
        let expected = self.authenticate(key, message);
        expected.len() == signature.len() && bool::from(expected.ct_eq(signature))
    }
}

/// The authenticator's key-agreement key (§6.5.6 "initialize", "regenerate"), made at
/// start-up and replaced after a wrong PIN and on reset. Its public half is computed once,
/// when it is made: every getKeyAgreement returns it (a browser asks before each token),
/// and deriving it is a scalar multiplication (~0.1 ms) each time.
#[derive(Clone)]
pub struct KeyAgreement {
    secret: p256::SecretKey,
    public: P256Key,
}

impl std::fmt::Debug for KeyAgreement {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyAgreement(<redacted>)")
    }
}

impl KeyAgreement {
    pub fn generate() -> Result<Self, Status> {
        loop {
            let mut b = [0u8; 32];
            random(&mut b)?;
            let made = p256::SecretKey::from_slice(&b);
            b.zeroize();
            // Out-of-range scalars (probability ~2^-32) are drawn again.
            if let Ok(secret) = made {
                let point = secret.public_key().to_sec1_point(false);
                // An uncompressed P-256 point is always 65 bytes.
                let public = P256Key::from_sec1(point.as_bytes()).map_err(|_| Status::Other)?;
                return Ok(Self { secret, public });
            }
        }
    }

    /// getPublicKey(), §6.5.6.
    pub fn public(&self) -> P256Key {
        self.public.clone()
    }

    /// decapsulate(peerCoseKey), §6.5.6 / §6.5.7: ECDH, then KDF. A point not on the curve
    /// is CTAP1_ERR_INVALID_PARAMETER.
    pub fn shared_secret(
        &self,
        protocol: Protocol,
        peer: &P256Key,
    ) -> Result<SharedSecret, Status> {
        self.agree(protocol, &Self::peer(peer)?)
    }

    /// The platform's key as a point on the curve, or CTAP1_ERR_INVALID_PARAMETER: the
    /// cheap half of [`KeyAgreement::shared_secret`], so that a bad key is refused before
    /// anything else happens.
    pub fn peer(peer: &P256Key) -> Result<p256::PublicKey, Status> {
        p256::PublicKey::from_sec1_bytes(&peer.to_sec1()).map_err(|_| Status::InvalidParameter)
    }

    /// The costly half: the ECDH (a scalar multiplication) and the KDF.
    pub fn agree(
        &self,
        protocol: Protocol,
        peer: &p256::PublicKey,
    ) -> Result<SharedSecret, Status> {
        let shared = p256::ecdh::diffie_hellman(self.secret.to_nonzero_scalar(), peer.as_affine());
        let z = shared.raw_secret_bytes();
        let (hmac_key, aes_key) = match protocol {
            Protocol::One => {
                let k = Sha256::digest(z).to_vec();
                (SecretBytes::new(k.clone()), SecretBytes::new(k))
            }
            Protocol::Two => {
                let hk = Hkdf::<Sha256>::new(Some(&[0u8; 32]), z);
                let mut h = vec![0u8; 32];
                let mut a = vec![0u8; 32];
                hk.expand(b"CTAP2 HMAC key", &mut h)
                    .map_err(|_| Status::Other)?;
                hk.expand(b"CTAP2 AES key", &mut a)
                    .map_err(|_| Status::Other)?;
                (SecretBytes::new(h), SecretBytes::new(a))
            }
        };
        Ok(SharedSecret {
            protocol,
            hmac_key,
            aes_key,
        })
    }
}

/// The result of key agreement with one platform key.
#[derive(Debug)]
pub struct SharedSecret {
    pub protocol: Protocol,
    hmac_key: SecretBytes,
    aes_key: SecretBytes,
}

impl SharedSecret {
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        self.protocol
            .verify(self.hmac_key.expose_secret_bytes(), message, signature)
    }

    /// encrypt(key, demPlaintext): protocol one with a zero IV, two with a random IV
    /// prepended. `plaintext` must be a whole number of AES blocks.
    pub fn encrypt(&self, plaintext: &[u8]) -> Result<Vec<u8>, Status> {
        if !plaintext.len().is_multiple_of(16) {
            return Err(Status::Other);
        }
        let mut iv = [0u8; 16];
        if self.protocol == Protocol::Two {
            random(&mut iv)?;
        }
        let mut buf = plaintext.to_vec();
        let len = buf.len();
        cbc::Encryptor::<aes::Aes256>::new_from_slices(self.aes_key.expose_secret_bytes(), &iv)
            .map_err(|_| Status::Other)?
            .encrypt_padded_mut::<NoPadding>(&mut buf, len)
            .map_err(|_| Status::Other)?;
        Ok(match self.protocol {
            Protocol::One => buf,
            Protocol::Two => [iv.as_slice(), &buf].concat(),
        })
    }

    /// decrypt(key, demCiphertext); a length that is not a whole number of blocks (after
    /// the IV for protocol two) is CTAP1_ERR_INVALID_PARAMETER... except where a command
    /// names another status, which the caller maps.
    pub fn decrypt(&self, ciphertext: &[u8]) -> Result<SecretBytes, Status> {
        let (iv, body) = match self.protocol {
            Protocol::One => ([0u8; 16], ciphertext),
            Protocol::Two => {
                if ciphertext.len() < 16 {
                    return Err(Status::InvalidParameter);
                }
                let mut iv = [0u8; 16];
                iv.copy_from_slice(&ciphertext[..16]);
                (iv, &ciphertext[16..])
            }
        };
        if body.is_empty() || body.len() % 16 != 0 {
            return Err(Status::InvalidParameter);
        }
        let mut buf = body.to_vec();
        let out =
            cbc::Decryptor::<aes::Aes256>::new_from_slices(self.aes_key.expose_secret_bytes(), &iv)
                .map_err(|_| Status::Other)?
                .decrypt_padded_mut::<NoPadding>(&mut buf)
                .map_err(|_| Status::InvalidParameter)?
                .len();
        buf.truncate(out);
        Ok(SecretBytes::new(buf))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_sides_agree_and_round_trip() {
        let a = KeyAgreement::generate().unwrap();
        let b = KeyAgreement::generate().unwrap();
        for p in [Protocol::One, Protocol::Two] {
            let sa = a.shared_secret(p, &b.public()).unwrap();
            let sb = b.shared_secret(p, &a.public()).unwrap();
            let ct = sa.encrypt(&[7u8; 64]).unwrap();
            assert_eq!(ct.len(), if p == Protocol::One { 64 } else { 80 });
            assert_eq!(sb.decrypt(&ct).unwrap().expose_secret_bytes(), &[7u8; 64]);
            let tag = p.authenticate(sa.hmac_key.expose_secret_bytes(), b"msg");
            assert!(sb.verify(b"msg", &tag));
            assert!(!sb.verify(b"msh", &tag));
            assert!(!sb.verify(b"msg", &tag[..tag.len() - 1]));
            assert_eq!(
                sb.decrypt(&ct[..ct.len() - 1]).err(),
                Some(Status::InvalidParameter)
            );
        }
    }

    #[test]
    fn points_off_the_curve_are_refused() {
        let a = KeyAgreement::generate().unwrap();
        let bogus = P256Key {
            x: [1; 32],
            y: [1; 32],
        };
        assert_eq!(
            a.shared_secret(Protocol::Two, &bogus).err(),
            Some(Status::InvalidParameter)
        );
        assert_eq!(Protocol::from_number(3), Err(Status::InvalidParameter));
    }
}
