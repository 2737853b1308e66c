//! The tests and benches of this crate export the two functions of `src/esys_openssl.rs`,
//! so that ESYS binds to them (the daemon's build script does the same for its binary).
fn main() {
    for kind in ["tests", "benches"] {
        for f in ["OSSL_LIB_CTX_new", "OSSL_LIB_CTX_free"] {
            println!("cargo:rustc-link-arg-{kind}=-Wl,--export-dynamic-symbol={f}");
        }
    }
}
