//! Policy digests computed in software, exactly as the TPM computes them when the
//! policy commands run (TPM 2.0 Part 3 §23: PolicyUpdate and the command descriptions).
//! Computing them here avoids a trial session, whose PolicySecret would need the PIN.

use sha2::{Digest as _, Sha256};

const TPM_CC_POLICY_SECRET: u32 = 0x0000_0151;
const TPM_CC_POLICY_AUTH_VALUE: u32 = 0x0000_016B;
const TPM_CC_POLICY_COMMAND_CODE: u32 = 0x0000_016C;
const TPM_CC_NV_CHANGE_AUTH: u32 = 0x0000_013B;

/// PolicySecret(authObject) with an empty policyRef (Part 3 §23.4):
/// `d = H(H(0…0 ‖ TPM_CC_PolicySecret ‖ authObject.Name) ‖ policyRef)`.
pub fn policy_secret_digest(auth_object_name: &[u8]) -> [u8; 32] {
    let first: [u8; 32] = Sha256::new()
        .chain_update([0u8; 32])
        .chain_update(TPM_CC_POLICY_SECRET.to_be_bytes())
        .chain_update(auth_object_name)
        .finalize()
        .into();
    Sha256::digest(first).into()
}

/// The PIN index's own authPolicy: PolicyCommandCode(TPM_CC_NV_ChangeAuth) then
/// PolicyAuthValue (Part 3 §23.11, §23.18). It lets the holder of the current PIN run
/// TPM2_NV_ChangeAuth. The policy is part of the index's Name, and the Name is part of
/// every PIN-bound key's policy, so it is fixed now even though tss-esapi 7 cannot send
/// NV_ChangeAuth yet (see docs/DESIGN.md, "PIN change").
pub fn policy_change_auth_digest() -> [u8; 32] {
    let after_cc: [u8; 32] = Sha256::new()
        .chain_update([0u8; 32])
        .chain_update(TPM_CC_POLICY_COMMAND_CODE.to_be_bytes())
        .chain_update(TPM_CC_NV_CHANGE_AUTH.to_be_bytes())
        .finalize()
        .into();
    Sha256::new()
        .chain_update(after_cc)
        .chain_update(TPM_CC_POLICY_AUTH_VALUE.to_be_bytes())
        .finalize()
        .into()
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
    }
}
