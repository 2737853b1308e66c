//! Authenticator data, WebAuthn Level 2 §6.1: rpIdHash (32) || flags (1) || signCount (4,
//! big-endian) || [attestedCredentialData] || [extensions CBOR map].

use crate::cbor::{self, Value};
use crate::cose::{P256Key, ALG_ES256};

/// Flag bits, WebAuthn §6.1 "flags".
pub mod flags {
    /// User Present.
    pub const UP: u8 = 0x01;
    /// User Verified.
    pub const UV: u8 = 0x04;
    /// Attested credential data included.
    pub const AT: u8 = 0x40;
    /// Extension data included.
    pub const ED: u8 = 0x80;
}

/// WebAuthn §6.5.1 "Attested Credential Data".
#[derive(Debug, Clone)]
pub struct AttestedCredential<'a> {
    pub aaguid: [u8; 16],
    pub credential_id: &'a [u8],
    pub public_key: &'a P256Key,
}

/// Assembles authenticator data. `flags` carries UP/UV; AT and ED are set from the
/// presence of attested credential data and extensions.
pub fn build(
    rp_id_hash: &[u8; 32],
    mut flag_bits: u8,
    sign_count: u32,
    attested: Option<&AttestedCredential<'_>>,
    extensions: Option<Value>,
) -> Vec<u8> {
    if attested.is_some() {
        flag_bits |= flags::AT;
    }
    if extensions.is_some() {
        flag_bits |= flags::ED;
    }
    let mut out = Vec::with_capacity(37 + 200);
    out.extend_from_slice(rp_id_hash);
    out.push(flag_bits);
    out.extend_from_slice(&sign_count.to_be_bytes());
    if let Some(a) = attested {
        out.extend_from_slice(&a.aaguid);
        // Credential IDs are at most 1023 bytes (WebAuthn §6.5.1), and ours far shorter.
        let len = u16::try_from(a.credential_id.len()).unwrap_or(u16::MAX);
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(a.credential_id);
        out.extend_from_slice(&cbor::encode(a.public_key.to_cose(ALG_ES256)));
    }
    if let Some(ext) = extensions {
        out.extend_from_slice(&cbor::encode(ext));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_matches_webauthn() {
        let key = P256Key {
            x: [9; 32],
            y: [8; 32],
        };
        let att = AttestedCredential {
            aaguid: [7; 16],
            credential_id: &[1, 2, 3],
            public_key: &key,
        };
        let ext = cbor::MapBuilder::new().put_text("credProtect", 2).build();
        let data = build(
            &[5; 32],
            flags::UP | flags::UV,
            0x01020304,
            Some(&att),
            Some(ext),
        );
        assert_eq!(&data[..32], &[5; 32]);
        assert_eq!(data[32], flags::UP | flags::UV | flags::AT | flags::ED);
        assert_eq!(&data[33..37], &[1, 2, 3, 4]);
        assert_eq!(&data[37..53], &[7; 16]);
        assert_eq!(&data[53..55], &[0, 3]);
        assert_eq!(&data[55..58], &[1, 2, 3]);
        let rest = &data[58..];
        let cose_len = cbor::encode(key.to_cose(ALG_ES256)).len();
        assert_eq!(
            P256Key::from_cose(cbor::decode(&rest[..cose_len]).unwrap()).unwrap(),
            key
        );
        assert!(cbor::decode(&rest[cose_len..]).is_ok());

        let plain = build(&[0; 32], flags::UP, 1, None, None);
        assert_eq!(plain.len(), 37);
        assert_eq!(plain[32], flags::UP);
    }
}
