//! The credential-ID and U2F key-handle codec (`tpm_passkey_core` credential/id.rs), which
//! every allowList entry and key handle from a relying party goes through: arbitrary IDs
//! are refused without a panic, and nothing but an ID this install wrapped for this relying
//! party is accepted — a wrapped ID with any byte changed must be refused.
#![no_main]
use libfuzzer_sys::fuzz_target;
use tpm_passkey_core::fuzzing::{unwrap, unwrap_u2f, wrap, wrap_u2f, Wrapped};
use tpm_passkey_core::SecretBytes;

fuzz_target!(|data: &[u8]| {
    let secret = SecretBytes::new(vec![7; 32]);
    let rp = [1u8; 32];
    // Arbitrary bytes as an ID: almost always refused, never a panic.
    let _ = unwrap(&secret, &rp, data);
    let _ = unwrap_u2f(&secret, &rp, data);

    // Round trip of what the fuzzer describes, then one flipped byte.
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let (nonce, blob) = rest.split_at(rest.len().min(16));
    let mut n = [0u8; 16];
    n[..nonce.len()].copy_from_slice(nonce);
    let w = Wrapped {
        nonce: n,
        pin_bound: flags & 1 != 0,
        hmac_secret: flags & 2 != 0,
        cred_protect: flags >> 6,
        blob: blob.to_vec(),
        prf_in_key_store: flags & 4 != 0,
    };
    let id = wrap(&secret, &rp, &w);
    // An ID needs a blob (a non-discoverable credential always has one).
    assert_eq!(
        unwrap(&secret, &rp, &id),
        (!w.blob.is_empty()).then(|| w.clone())
    );
    assert!(
        unwrap(&secret, &[2u8; 32], &id).is_none(),
        "another relying party"
    );
    let at = usize::from(flags) % id.len();
    let mut bad = id.clone();
    bad[at] ^= 0x01;
    assert!(
        unwrap(&secret, &rp, &bad).is_none(),
        "a changed byte at {at}"
    );
    let handle = wrap_u2f(&secret, &rp, blob);
    assert_eq!(
        unwrap_u2f(&secret, &rp, &handle).as_deref(),
        (!blob.is_empty()).then_some(blob)
    );
});
