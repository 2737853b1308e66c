//! The TPM's two key derivation functions (TPM 2.0 Part 1 §11.4.10), SHA-256 only: what
//! a session key, a parameter-encryption key and an ECC salt are made of. ESYS does this
//! for the sessions it starts; `change_auth` needs it for the one session it starts itself.

use hmac::{Hmac, Mac};
use sha2::{Digest as _, Sha256};
use zeroize::Zeroizing;

/// KDFa (Part 1 §11.4.10.2), the SP800-108 counter-mode KDF with HMAC-SHA-256:
/// `K(i) = HMAC(key, [i]₃₂ ‖ label ‖ 00 ‖ contextU ‖ contextV ‖ [bits]₃₂)`, concatenated and
/// cut to `bits` (a multiple of 8).
pub(crate) fn kdf_a(
    key: &[u8],
    label: &str,
    context_u: &[u8],
    context_v: &[u8],
    bits: u32,
) -> Zeroizing<Vec<u8>> {
    let bytes = (bits / 8) as usize;
    let mut out = Zeroizing::new(Vec::with_capacity(bytes + 32));
    let mut counter = 1u32;
    while out.len() < bytes {
        // HMAC takes a key of any length.
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key) else {
            break;
        };
        mac.update(&counter.to_be_bytes());
        mac.update(label.as_bytes());
        mac.update(&[0]);
        mac.update(context_u);
        mac.update(context_v);
        mac.update(&bits.to_be_bytes());
        out.extend_from_slice(&mac.finalize().into_bytes());
        counter += 1;
    }
    out.truncate(bytes);
    out
}

/// KDFe (Part 1 §11.4.10.3), the SP800-56A concatenation KDF with SHA-256:
/// `K(i) = H([i]₃₂ ‖ Z ‖ label ‖ 00 ‖ partyUInfo ‖ partyVInfo)`, cut to `bits`.
pub(crate) fn kdf_e(
    z: &[u8],
    label: &str,
    party_u: &[u8],
    party_v: &[u8],
    bits: u32,
) -> Zeroizing<Vec<u8>> {
    let bytes = (bits / 8) as usize;
    let mut out = Zeroizing::new(Vec::with_capacity(bytes + 32));
    let mut counter = 1u32;
    while out.len() < bytes {
        let block = Sha256::new()
            .chain_update(counter.to_be_bytes())
            .chain_update(z)
            .chain_update(label.as_bytes())
            .chain_update([0])
            .chain_update(party_u)
            .chain_update(party_v)
            .finalize();
        out.extend_from_slice(&block);
        counter += 1;
    }
    out.truncate(bytes);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kdf_a_is_the_counter_mode_hmac_of_part_1() {
        // One block, written out by hand from §11.4.10.2.
        let key = [7u8; 32];
        let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
        mac.update(&[0, 0, 0, 1]);
        mac.update(b"ATH\0");
        mac.update(b"u");
        mac.update(b"v");
        mac.update(&256u32.to_be_bytes());
        let one: [u8; 32] = mac.finalize().into_bytes().into();
        assert_eq!(kdf_a(&key, "ATH", b"u", b"v", 256).as_slice(), one);
        // Longer outputs continue the counter; shorter ones are a prefix of a run with
        // the same bit count only (bits is part of every block).
        let long = kdf_a(&key, "CFB", b"u", b"v", 384);
        assert_eq!(long.len(), 48);
        assert_ne!(&long[..32], kdf_a(&key, "CFB", b"u", b"v", 256).as_slice());
    }

    #[test]
    fn kdf_e_is_the_concatenation_kdf_of_part_1() {
        let z = [9u8; 32];
        let want: [u8; 32] = Sha256::new()
            .chain_update([0, 0, 0, 1])
            .chain_update(z)
            .chain_update(b"SECRET\0")
            .chain_update(b"U")
            .chain_update(b"V")
            .finalize()
            .into();
        assert_eq!(kdf_e(&z, "SECRET", b"U", b"V", 256).as_slice(), want);
    }
}
