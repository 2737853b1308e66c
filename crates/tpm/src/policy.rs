//! Policy digests computed in software, exactly as the TPM computes them when the policy
//! commands run (TPM 2.0 Part 3 §23: PolicyUpdate and each command's description).
//! Computing them here avoids trial sessions, whose PolicySecret would need the PIN.
//!
//! [`PolicyDigest`] is a small builder: each method is the named policy command's effect on
//! `policySession→policyDigest`.

use sha2::{Digest as _, Sha256};

/// TPM_CC values (Part 2 §6.5.2) of the commands that appear in our policies.
pub(crate) mod cc {
    pub const NV_WRITE: u32 = 0x0000_0137;
    pub const NV_CHANGE_AUTH: u32 = 0x0000_013B;
    pub const NV_INCREMENT: u32 = 0x0000_0134;
    pub const NV_EXTEND: u32 = 0x0000_0136;
    pub const POLICY_NV_WRITTEN: u32 = 0x0000_018F;
    pub const POLICY_SECRET: u32 = 0x0000_0151;
    pub const POLICY_SIGNED: u32 = 0x0000_0160;
    pub const POLICY_AUTHORIZE: u32 = 0x0000_016A;
    pub const POLICY_AUTH_VALUE: u32 = 0x0000_016B;
    pub const POLICY_COMMAND_CODE: u32 = 0x0000_016C;
    pub const POLICY_OR: u32 = 0x0000_0171;
}

/// A SHA-256 policy digest under construction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PolicyDigest([u8; 32]);

impl Default for PolicyDigest {
    /// A fresh policy session's digest: all zeros (Part 1 §19.7.2).
    fn default() -> Self {
        PolicyDigest([0; 32])
    }
}

impl PolicyDigest {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn bytes(&self) -> [u8; 32] {
        self.0
    }

    /// PolicyUpdate(commandCode, arg2, arg3), Part 3 §23.2.3:
    /// `d = H(H(d ‖ commandCode ‖ arg2) ‖ arg3)`.
    fn update(self, command: u32, arg2: &[u8], arg3: &[u8]) -> Self {
        let inner: [u8; 32] = Sha256::new()
            .chain_update(self.0)
            .chain_update(command.to_be_bytes())
            .chain_update(arg2)
            .finalize()
            .into();
        PolicyDigest(
            Sha256::new()
                .chain_update(inner)
                .chain_update(arg3)
                .finalize()
                .into(),
        )
    }

    /// TPM2_PolicyCommandCode (§23.11): `d = H(d ‖ TPM_CC_PolicyCommandCode ‖ code)`.
    pub fn command_code(self, code: u32) -> Self {
        PolicyDigest(
            Sha256::new()
                .chain_update(self.0)
                .chain_update(cc::POLICY_COMMAND_CODE.to_be_bytes())
                .chain_update(code.to_be_bytes())
                .finalize()
                .into(),
        )
    }

    /// TPM2_PolicyAuthValue (§23.17): `d = H(d ‖ TPM_CC_PolicyAuthValue)`.
    pub fn auth_value(self) -> Self {
        PolicyDigest(
            Sha256::new()
                .chain_update(self.0)
                .chain_update(cc::POLICY_AUTH_VALUE.to_be_bytes())
                .finalize()
                .into(),
        )
    }

    /// TPM2_PolicyNvWritten (§23.24): `d = H(d ‖ TPM_CC_PolicyNvWritten ‖ writtenSet)`, the
    /// last a TPMI_YES_NO byte.
    pub fn nv_written(self, written: bool) -> Self {
        PolicyDigest(
            Sha256::new()
                .chain_update(self.0)
                .chain_update(cc::POLICY_NV_WRITTEN.to_be_bytes())
                .chain_update([u8::from(written)])
                .finalize()
                .into(),
        )
    }

    /// TPM2_PolicySecret (§23.4) with an empty policyRef.
    pub fn secret(self, auth_object_name: &[u8]) -> Self {
        self.update(cc::POLICY_SECRET, auth_object_name, &[])
    }

    /// TPM2_PolicySigned (§23.3).
    pub fn signed(self, key_name: &[u8], policy_ref: &[u8]) -> Self {
        self.update(cc::POLICY_SIGNED, key_name, policy_ref)
    }

    /// TPM2_PolicyAuthorize (§23.16): the digest is reset, then
    /// PolicyUpdate(TPM_CC_PolicyAuthorize, keySign.Name, policyRef).
    pub fn authorize(key_name: &[u8], policy_ref: &[u8]) -> Self {
        Self::new().update(cc::POLICY_AUTHORIZE, key_name, policy_ref)
    }

    /// TPM2_PolicyOR (§23.6): `d = H(0…0 ‖ TPM_CC_PolicyOR ‖ digests)`.
    pub fn or(branches: &[[u8; 32]]) -> Self {
        let mut h = Sha256::new()
            .chain_update([0u8; 32])
            .chain_update(cc::POLICY_OR.to_be_bytes());
        for b in branches {
            h.update(b);
        }
        PolicyDigest(h.finalize().into())
    }
}

/// What a key for TPM2_PolicyAuthorize signs: `aHash = H(approvedPolicy ‖ policyRef)`
/// (§23.16).
pub fn authorize_message(approved: &[u8; 32], policy_ref: &[u8]) -> [u8; 32] {
    Sha256::new()
        .chain_update(approved)
        .chain_update(policy_ref)
        .finalize()
        .into()
}

/// What the key of TPM2_PolicySigned signs: `aHash = H(nonceTPM ‖ expiration ‖ cpHashA ‖
/// policyRef)`, expiration as a big-endian INT32 (§23.3).
pub fn signed_message(
    nonce_tpm: &[u8],
    expiration: i32,
    cp_hash: &[u8],
    policy_ref: &[u8],
) -> [u8; 32] {
    Sha256::new()
        .chain_update(nonce_tpm)
        .chain_update(expiration.to_be_bytes())
        .chain_update(cp_hash)
        .chain_update(policy_ref)
        .finalize()
        .into()
}

/// PolicySecret(authObject) with an empty policyRef, from a fresh session: the authPolicy
/// of every PIN-bound key and of the PIN-bound hmac-secret key.
pub fn policy_secret_digest(auth_object_name: &[u8]) -> [u8; 32] {
    PolicyDigest::new().secret(auth_object_name).bytes()
}

/// PolicyCommandCode(NV_ChangeAuth) ∧ PolicyAuthValue: the authPolicy of PIN indices made
/// before the rebuild-proof index (docs/DESIGN.md "PIN index"). Kept to open those
/// stores, and to show in a test why it is not used any more: through it the TPM accepts
/// the old PIN without its pinCount/pinLimit check.
pub fn policy_change_auth_digest() -> [u8; 32] {
    PolicyDigest::new()
        .command_code(cc::NV_CHANGE_AUTH)
        .auth_value()
        .bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_are_deterministic_and_name_sensitive() {
        let a = policy_secret_digest(&[0x00, 0x0b, 1, 2, 3]);
        assert_eq!(a, policy_secret_digest(&[0x00, 0x0b, 1, 2, 3]));
        assert_ne!(a, policy_secret_digest(&[0x00, 0x0b, 1, 2, 4]));
        assert_ne!(policy_change_auth_digest(), [0u8; 32]);
        // The order of policy commands matters, and so does the policyRef.
        let n = [0x00, 0x0b, 7];
        assert_ne!(
            PolicyDigest::new()
                .command_code(cc::NV_WRITE)
                .signed(&n, b"a"),
            PolicyDigest::new()
                .command_code(cc::NV_WRITE)
                .signed(&n, b"b")
        );
        assert_ne!(
            PolicyDigest::or(&[[1; 32], [2; 32]]),
            PolicyDigest::or(&[[2; 32], [1; 32]])
        );
    }
}
