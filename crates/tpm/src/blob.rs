//! The key blob: what a credential keeps of its TPM key (the public area and the private
//! area wrapped by the root). It is opaque to everyone but this crate.
//!
//! Layout (all lengths big-endian u16, no trailing bytes):
//! `"TPK" ‖ version=1 ‖ len ‖ TPMT_PUBLIC ‖ len ‖ TPM2B_PRIVATE buffer`.
//! Decoding checks the layout and that the public area is exactly one of the two
//! credential-key shapes this crate creates; the TPM then checks the private area's
//! integrity against the public area and the root on Load.

use p256::ecdsa::VerifyingKey;
use tss_esapi::{
    structures::{Private, Public},
    traits::{Marshall, UnMarshall},
};

use crate::{templates, Error, Result};

const MAGIC: [u8; 4] = *b"TPK\x01";
/// TPMT_PUBLIC of a P-256 key with a 32-byte policy is ~120 bytes, TPM2B_PRIVATE ~130.
const MAX_PART: usize = 1024;

/// How a key may be used, as its public area (and so the TPM) says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Protection {
    /// Empty authValue, userWithAuth set: anyone holding the blob may sign.
    UserPresence,
    /// userWithAuth clear, authPolicy = PolicySecret(PIN index): the TPM signs only after
    /// the PIN has been proven to the PIN index. Holds the policy digest.
    Pin { policy: [u8; 32] },
}

/// A credential key's public and wrapped private area.
#[derive(Clone, PartialEq, Eq)]
pub struct KeyBlob {
    pub(crate) public: Public,
    pub(crate) private: Private,
    protection: Protection,
}

impl std::fmt::Debug for KeyBlob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The private part is encrypted by the root, but it is still key material: keep it
        // out of logs.
        f.debug_struct("KeyBlob")
            .field("protection", &self.protection)
            .finish_non_exhaustive()
    }
}

impl KeyBlob {
    pub(crate) fn new(public: Public, private: Private) -> Result<Self> {
        let protection = protection_of(&public)?;
        Ok(KeyBlob {
            public,
            private,
            protection,
        })
    }

    pub fn protection(&self) -> Protection {
        self.protection
    }

    /// The credential's public key, read from the public area.
    pub fn verifying_key(&self) -> Result<VerifyingKey> {
        ecc_public_key(&self.public)
    }

    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        parts_to_bytes(&MAGIC, &self.public, &self.private)
    }

    /// Parses a blob. Every malformed input is an [`Error::BadBlob`], never a panic.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let (public, private) = parts_from_bytes(&MAGIC, bytes)?;
        KeyBlob::new(public, private)
    }
}

/// The P-256 public key of an ECC public area.
pub(crate) fn ecc_public_key(public: &Public) -> Result<VerifyingKey> {
    let Public::Ecc { unique, .. } = public else {
        return Err(Error::BadBlob("not an ECC key"));
    };
    let (x, y) = (unique.x().value(), unique.y().value());
    if x.len() > 32 || y.len() > 32 {
        return Err(Error::BadBlob("point coordinate too long"));
    }
    let mut sec1 = [0u8; 65];
    sec1[0] = 0x04;
    sec1[1 + 32 - x.len()..33].copy_from_slice(x);
    sec1[33 + 32 - y.len()..].copy_from_slice(y);
    VerifyingKey::from_sec1_bytes(&sec1).map_err(|_| Error::BadBlob("public point not on P-256"))
}

/// `magic ‖ u16 len ‖ TPMT_PUBLIC ‖ u16 len ‖ TPM2B_PRIVATE buffer`, shared by every blob
/// this crate writes.
pub(crate) fn parts_to_bytes(
    magic: &[u8; 4],
    public: &Public,
    private: &Private,
) -> Result<Vec<u8>> {
    let public = public
        .marshall()
        .map_err(|e| Error::tss("marshal public", e))?;
    let private = private.value();
    let mut out = Vec::with_capacity(8 + public.len() + private.len());
    out.extend_from_slice(magic);
    for part in [&public[..], private] {
        let len = u16::try_from(part.len()).map_err(|_| Error::BadBlob("part too long"))?;
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(part);
    }
    Ok(out)
}

/// Parses [`parts_to_bytes`]: every malformed input is an [`Error::BadBlob`], never a
/// panic. The caller checks that the public area is one of its templates.
pub(crate) fn parts_from_bytes(magic: &[u8; 4], bytes: &[u8]) -> Result<(Public, Private)> {
    let rest = bytes
        .strip_prefix(&magic[..])
        .ok_or(Error::BadBlob("wrong magic or version"))?;
    let (public_bytes, rest) = take_part(rest)?;
    let (private, rest) = take_part(rest)?;
    if !rest.is_empty() {
        return Err(Error::BadBlob("trailing bytes"));
    }
    let public = Public::unmarshall(public_bytes)
        .map_err(|_| Error::BadBlob("public area does not parse"))?;
    // Marshalling again must give back the same bytes; a difference means garbage
    // after the structure inside the part.
    if public.marshall().ok().as_deref() != Some(public_bytes) {
        return Err(Error::BadBlob("public area is not canonical"));
    }
    let private =
        Private::try_from(private.to_vec()).map_err(|_| Error::BadBlob("private area too long"))?;
    Ok((public, private))
}

fn take_part(b: &[u8]) -> Result<(&[u8], &[u8])> {
    if b.len() < 2 {
        return Err(Error::BadBlob("truncated"));
    }
    let len = usize::from(u16::from_be_bytes([b[0], b[1]]));
    if len == 0 || len > MAX_PART {
        return Err(Error::BadBlob("part length out of range"));
    }
    let rest = &b[2..];
    if rest.len() < len {
        return Err(Error::BadBlob("truncated"));
    }
    Ok(rest.split_at(len))
}

/// Accepts exactly the public areas [`templates::credential_key`] creates, or
/// [`templates::credential_key_v1`] created (with any policy digest and any point), and
/// says which protection they carry.
fn protection_of(public: &Public) -> Result<Protection> {
    let Public::Ecc {
        auth_policy,
        unique,
        ..
    } = public
    else {
        return Err(Error::BadBlob("not an ECC key"));
    };
    let policy: Option<[u8; 32]> = match auth_policy.value() {
        [] => None,
        d => Some(
            d.try_into()
                .map_err(|_| Error::BadBlob("policy digest is not SHA-256"))?,
        ),
    };
    let mut known = [
        templates::credential_key(policy)?,
        templates::credential_key_v1(policy)?,
    ];
    for expected in &mut known {
        if let Public::Ecc { unique: u, .. } = expected {
            *u = unique.clone();
        }
    }
    if !known.contains(public) {
        return Err(Error::BadBlob("not a tpm-passkey credential key"));
    }
    Ok(match policy {
        None => Protection::UserPresence,
        Some(policy) => Protection::Pin { policy },
    })
}

#[cfg(test)]
mod tests;
