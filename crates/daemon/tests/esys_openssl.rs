//! The daemon's binary exports the tpm crate's `OSSL_LIB_CTX_new` and `OSSL_LIB_CTX_free`
//! (build.rs), so that ESYS keeps one OpenSSL library context instead of making one per
//! digest, HMAC and nonce — three quarters of a UV sign-in's time on swtpm before
//! (docs/PERFORMANCE.md "ESYS's OpenSSL contexts"). That the kept context is used and
//! signs correctly is tested in the tpm crate (`tests/esys_openssl.rs`); this checks that
//! the product's binary has the export those tests rely on.
#![allow(clippy::unwrap_used)]

use std::process::Command;

#[test]
fn the_daemon_exports_its_openssl_context_functions() {
    let out = Command::new("nm")
        .args(["-D", "--defined-only"])
        .arg(env!("CARGO_BIN_EXE_tpm-passkey"))
        .output()
        .expect("nm (binutils) runs");
    assert!(out.status.success(), "{out:?}");
    let syms = String::from_utf8_lossy(&out.stdout);
    for f in ["OSSL_LIB_CTX_new", "OSSL_LIB_CTX_free"] {
        assert!(
            syms.lines().any(|l| l.ends_with(&format!(" T {f}"))),
            "{f} is not in the daemon's dynamic symbols: ESYS would make an OpenSSL context per digest"
        );
    }
}
