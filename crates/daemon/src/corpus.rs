//! Seed corpora for the fuzz targets (fuzz/), captured from real clients: in test builds
//! (feature `scripted-agent`) with `TPM_PASSKEY_CORPUS_DIR` set, every CTAP2 request, U2F
//! APDU and control-socket line the daemon receives is written to
//! `DIR/<target>/<hash>`; `fuzz/seed_corpus.py` turns a capture into `fuzz/seeds/`. Release
//! builds have no such code: the inputs carry test PINs' encrypted forms and must never be
//! written by a product build.

#[cfg(feature = "scripted-agent")]
pub fn record(target: &str, bytes: &[u8]) {
    use std::hash::{Hash, Hasher};
    let Some(dir) = std::env::var_os("TPM_PASSKEY_CORPUS_DIR") else {
        return;
    };
    let dir = std::path::PathBuf::from(dir).join(target);
    if std::fs::create_dir_all(&dir).is_err() {
        return;
    }
    let mut h = std::collections::hash_map::DefaultHasher::new();
    bytes.hash(&mut h);
    let _ = std::fs::write(dir.join(format!("{:016x}", h.finish())), bytes);
}

#[cfg(not(feature = "scripted-agent"))]
pub fn record(_target: &str, _bytes: &[u8]) {}
