//! The daemon (and its benches and tests) export the two functions of the tpm crate's
//! `esys_openssl` module, so that ESYS binds to them and keeps one OpenSSL library context
//! instead of making one per digest (docs/PERFORMANCE.md "ESYS's OpenSSL contexts").
fn main() {
    for kind in ["bins", "tests", "benches"] {
        for f in ["OSSL_LIB_CTX_new", "OSSL_LIB_CTX_free"] {
            println!("cargo:rustc-link-arg-{kind}=-Wl,--export-dynamic-symbol={f}");
        }
    }
}
