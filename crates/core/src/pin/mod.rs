//! The PIN/UV auth state of CTAP 2.1 §6.5, owned by one type: the key-agreement key
//! (§6.5.6), the pinUvAuthToken (§6.5.2.1), and the consecutive wrong PINs since start-up
//! (§6.5.2.1 "pinRetries"/powerCycleState, §6.5.5.7). The PIN itself is never here: the
//! key store (the TPM) checks it and counts its own retries.
//!
//! * [`protocol`]: PIN/UV auth protocols one and two (ECDH, AES-CBC, HMAC).
//! * [`token`]: the token, its permissions, rpId binding and usage timer.

pub(crate) mod protocol;
pub(crate) mod token;

use tpm_passkey_wire::Status;

use protocol::KeyAgreement;
use token::PinToken;

/// §6.5.2: after this many consecutive wrong PINs, PIN checks are refused until restart.
pub const PIN_FAILURES_PER_BOOT: u8 = 3;

/// See the module documentation.
#[derive(Debug)]
pub(crate) struct PinState {
    key_agreement: KeyAgreement,
    pub token: PinToken,
    failures: u8,
}

impl PinState {
    pub fn new() -> Result<Self, Status> {
        Ok(PinState {
            key_agreement: KeyAgreement::generate()?,
            token: PinToken::default(),
            failures: 0,
        })
    }

    /// Everything forgotten (authenticator reset).
    pub fn reset(&mut self) -> Result<(), Status> {
        *self = PinState::new()?;
        Ok(())
    }

    pub fn key_agreement(&self) -> &KeyAgreement {
        &self.key_agreement
    }

    /// A wrong PIN: the platform's shared secret is in doubt, so a new key-agreement key
    /// (§6.5.5.7 "obtain a new key agreement key"), the token is gone, and the failure
    /// counts towards the per-boot pause.
    pub fn failed(&mut self) -> Result<(), Status> {
        self.key_agreement = KeyAgreement::generate()?;
        self.token.reset();
        self.failures = self.failures.saturating_add(1);
        Ok(())
    }

    /// The right PIN: the consecutive count starts again.
    pub fn succeeded(&mut self) {
        self.failures = 0;
    }

    /// Three wrong PINs since start-up (§6.5.5.7 PIN_AUTH_BLOCKED): no PIN is checked
    /// again until the daemon restarts.
    pub fn paused(&self) -> bool {
        self.failures >= PIN_FAILURES_PER_BOOT
    }
}
