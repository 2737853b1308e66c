//! One swtpm per test: its own state dir and port pair, stopped when the fixture drops.
#![allow(dead_code, clippy::unwrap_used)]

pub mod attacker;
pub mod fault;
pub mod pause;
pub mod tap;

use tpm_passkey_tpm::{RootSeed, Swtpm, Tpm};

pub struct Fixture {
    pub swtpm: Swtpm,
    pub seed: [u8; 32],
    pub dir: tempfile::TempDir,
}

impl Fixture {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let swtpm = Swtpm::start(&dir.path().join("tpm")).expect("swtpm starts");
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).expect("random");
        Fixture { swtpm, seed, dir }
    }

    /// A fresh connection with this fixture's seed.
    pub fn tpm(&self) -> Tpm {
        Tpm::open(&self.swtpm.tcti(), &RootSeed::from_bytes(self.seed), None).expect("open TPM")
    }
}

pub fn digest(msg: &[u8]) -> [u8; 32] {
    use sha2::Digest as _;
    sha2::Sha256::digest(msg).into()
}
