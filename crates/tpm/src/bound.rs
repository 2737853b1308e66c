//! What a proof of the PIN may authorize.
//!
//! A policy session in which PolicySecret(PIN index) succeeded authorizes one command by
//! any object whose authPolicy is PolicySecret(that index) — every PIN-bound key, the
//! with-UV hmac-secret key — and a policy session needs no HMAC of its own (none of our
//! policies has PolicyAuthValue). So whoever can *name* the session can use it: on a TPM
//! without a resource manager (swtpm, /dev/tpm0) another program can, between two of our
//! commands. PolicySecret's cpHashA (TPM 2.0 Part 3 §23.4) closes that where the command
//! is known before the PIN is proven: the TPM then records the hash of the one command the
//! session may authorize, and refuses any other (TPM_RC_POLICY_FAIL / CPHASH; Part 1 §19.7.9).
//! cpHashA changes no policy digest, so no key or index is made again.
//!
//! cpHash = H(commandCode ‖ Name of each handle ‖ parameters as sent), Part 1 §18.7 — over
//! the parameters *as they cross the bus*, i.e. encrypted where a session encrypts them
//! (the TPM checks authorizations before it decrypts; see `change_auth`).

use std::time::Duration;

use sha2::{Digest as _, Sha256};

/// TPM_CC values (Part 2 §6.5.2) of the commands a PIN proof is bound to.
const TPM_CC_SIGN: u32 = 0x0000_015D;
const TPM_CC_HMAC: u32 = 0x0000_0155;
pub(crate) const TPM_CC_NV_CHANGE_AUTH: u32 = 0x0000_013B;
const TPM_ALG_ECDSA: u16 = 0x0018;
const TPM_ALG_SHA256: u16 = 0x000B;
const TPM_ST_HASHCHECK: u16 = 0x8024;
const TPM_RH_NULL: u32 = 0x4000_0007;

/// What the PolicySecret of a PIN proof lets its session do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ProofFor {
    /// Exactly the command with this cpHash.
    Command([u8; 32]),
    /// No command at all: a PIN check whose session is flushed right after (where it may
    /// not wait for a later command).
    Nothing,
    /// Any command, for at most this long, counted by the TPM's own clock (PolicySecret's
    /// expiration): a session kept for the signature that follows, only where nobody else
    /// can name it.
    Kept(Duration),
}

impl ProofFor {
    /// PolicySecret's cpHashA: empty for [`ProofFor::Kept`].
    pub(crate) fn cp_hash(&self) -> Option<[u8; 32]> {
        match self {
            ProofFor::Command(h) => Some(*h),
            ProofFor::Nothing => Some(nothing()),
            ProofFor::Kept(_) => None,
        }
    }

    /// PolicySecret's expiration (seconds, positive: no ticket is made).
    pub(crate) fn expiration(&self) -> Option<Duration> {
        match self {
            ProofFor::Kept(d) => Some(*d),
            _ => None,
        }
    }
}

/// A cpHash no command has: SHA-256 of a label, not of a command code and parameters.
fn nothing() -> [u8; 32] {
    Sha256::digest(b"tpm-passkey: this proof of the PIN authorizes no command").into()
}

fn cp_hash(command: u32, names: &[&[u8]], parameters: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new().chain_update(command.to_be_bytes());
    for n in names {
        h.update(n);
    }
    h.chain_update(parameters).finalize().into()
}

/// TPM2_Sign(key, digest, ECDSA-SHA256, null hash-check ticket) (Part 3 §20.2), as
/// `keys::sign_loaded` sends it.
pub(crate) fn sign(key_name: &[u8], digest: &[u8; 32]) -> [u8; 32] {
    let mut p = Vec::with_capacity(2 + 32 + 4 + 2 + 4 + 2);
    p.extend_from_slice(&32u16.to_be_bytes());
    p.extend_from_slice(digest);
    // TPMT_SIG_SCHEME
    p.extend_from_slice(&TPM_ALG_ECDSA.to_be_bytes());
    p.extend_from_slice(&TPM_ALG_SHA256.to_be_bytes());
    // TPMT_TK_HASHCHECK: tag, hierarchy, empty digest
    p.extend_from_slice(&TPM_ST_HASHCHECK.to_be_bytes());
    p.extend_from_slice(&TPM_RH_NULL.to_be_bytes());
    p.extend_from_slice(&0u16.to_be_bytes());
    cp_hash(TPM_CC_SIGN, &[key_name], &p)
}

/// TPM2_HMAC(key, buffer, SHA-256) (Part 3 §15.5), as `prf` sends it.
pub(crate) fn hmac(key_name: &[u8], buffer: &[u8]) -> [u8; 32] {
    let mut p = Vec::with_capacity(2 + buffer.len() + 2);
    p.extend_from_slice(&(buffer.len() as u16).to_be_bytes());
    p.extend_from_slice(buffer);
    p.extend_from_slice(&TPM_ALG_SHA256.to_be_bytes());
    cp_hash(TPM_CC_HMAC, &[key_name], &p)
}

/// TPM2_NV_ChangeAuth(index, newAuth) (Part 3 §31.12), `new_auth` being the TPM2B_AUTH
/// exactly as sent (its size, then the encrypted bytes).
pub(crate) fn nv_change_auth(index_name: &[u8], new_auth: &[u8]) -> [u8; 32] {
    cp_hash(TPM_CC_NV_CHANGE_AUTH, &[index_name], new_auth)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_command_and_argument_gives_its_own_cp_hash() {
        let name = [0x00, 0x0b, 1, 2, 3];
        let d = [5u8; 32];
        assert_ne!(sign(&name, &d), sign(&name, &[6u8; 32]));
        assert_ne!(sign(&name, &d), sign(&[0x00, 0x0b, 1, 2, 4], &d));
        assert_ne!(sign(&name, &d), hmac(&name, &d));
        assert_ne!(hmac(&name, b"a"), hmac(&name, b"b"));
        assert_ne!(nv_change_auth(&name, b"x"), nv_change_auth(&name, b"y"));
        assert_eq!(ProofFor::Kept(Duration::from_secs(30)).cp_hash(), None);
        assert_eq!(ProofFor::Nothing.cp_hash(), Some(nothing()));
        assert_eq!(ProofFor::Nothing.expiration(), None);
    }

    #[test]
    fn the_sign_cp_hash_is_part_1s_formula_over_part_3s_parameters() {
        let name = [0x00, 0x0b, 9, 9];
        let d = [1u8; 32];
        let mut want = Sha256::new();
        want.update([0x00, 0x00, 0x01, 0x5D]);
        want.update(name);
        want.update([0x00, 0x20]);
        want.update(d);
        want.update([
            0x00, 0x18, 0x00, 0x0B, 0x80, 0x24, 0x40, 0x00, 0x00, 0x07, 0x00, 0x00,
        ]);
        assert_eq!(sign(&name, &d), <[u8; 32]>::from(want.finalize()));
    }
}
