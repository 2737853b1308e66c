//! The PIN/UV auth state of CTAP 2.1 §6.5, owned by one type: the key-agreement key
//! (§6.5.6), the pinUvAuthToken (§6.5.2.1), and the consecutive wrong PINs since start-up
//! (§6.5.2.1 "pinRetries"/powerCycleState, §6.5.5.7). The PIN itself is never here: the
//! key store (the TPM) checks it and counts its own retries.
//!
//! * [`protocol`]: PIN/UV auth protocols one and two (ECDH, AES-CBC, HMAC).
//! * [`token`]: the token, its permissions, rpId binding and usage timer.

pub(crate) mod protocol;
pub(crate) mod token;

use std::time::Duration;

use tpm_passkey_wire::Status;

use crate::{PinHash, SecretBytes};
use protocol::{KeyAgreement, Protocol};
use token::PinToken;

/// §6.5.2: after this many consecutive wrong PINs, PIN checks are refused until restart.
pub const PIN_FAILURES_PER_BOOT: u8 = 3;

/// See the module documentation. The token is private: a token is issued only for a
/// [`Verified`] PIN, and every use of it goes through the methods below.
#[derive(Debug)]
pub(crate) struct PinState {
    key_agreement: KeyAgreement,
    token: PinToken,
    failures: u8,
}

/// A PIN the key store (the TPM) accepted just now. Made only by [`PinState::succeeded`],
/// which the PIN check calls on the TPM's yes: holding one is what issuing a token
/// (§6.5.5.7) and built-in user verification need.
#[derive(Debug)]
pub(crate) struct Verified(PinHash);

impl Verified {
    /// The pinHash that was verified (a PIN-bound key's authorization needs it).
    pub fn into_pin(self) -> PinHash {
        self.0
    }
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

    /// The right PIN (the key store said so): the consecutive count starts again.
    pub fn succeeded(&mut self, pin: &PinHash) -> Verified {
        self.failures = 0;
        Verified(pin.clone())
    }

    /// Three wrong PINs since start-up (§6.5.5.7 PIN_AUTH_BLOCKED): no PIN is checked
    /// again until the daemon restarts.
    pub fn paused(&self) -> bool {
        self.failures >= PIN_FAILURES_PER_BOOT
    }

    /// resetPinUvAuthToken + beginUsingPinUvAuthToken (§6.5.5.7): a fresh token for the
    /// verified PIN, with `permissions`, an optional rpId binding, and userIsPresent.
    pub fn issue_token(
        &mut self,
        verified: Verified,
        permissions: u64,
        rp_id: Option<String>,
        user_present: bool,
        now: Duration,
    ) -> Result<SecretBytes, Status> {
        self.token.issue(
            permissions,
            rp_id,
            Some(verified.into_pin()),
            user_present,
            now,
        )
    }

    /// Checks a pinUvAuthParam against the token ([`PinToken::check`]).
    pub fn check_token(
        &mut self,
        protocol: Protocol,
        message: &[u8],
        param: &[u8],
        permission: u64,
        rp_id: Option<&str>,
        now: Duration,
    ) -> Result<(), Status> {
        self.token
            .check(protocol, message, param, permission, rp_id, now)
    }

    /// The rpId the token is bound to, if any.
    pub fn token_rp_bound(&self) -> Option<&str> {
        self.token.rp_bound()
    }

    /// The pinHash the token was issued for.
    pub fn token_pin(&self) -> Option<&PinHash> {
        self.token.pin()
    }

    /// True once, if the token was issued with the user present ([`PinToken::take_user_present`]).
    pub fn take_user_present(&mut self) -> bool {
        self.token.take_user_present()
    }

    /// Records the account chosen in the prompt that issued the token.
    pub fn set_chosen(&mut self, credential_id: Vec<u8>) {
        self.token.set_chosen(credential_id);
    }

    /// The account chosen when the token was issued (taken).
    pub fn take_chosen(&mut self) -> Option<Vec<u8>> {
        self.token.take_chosen()
    }

    /// After a ceremony with user presence: clearPinUvAuthTokenPermissionsExceptLbw.
    pub fn end_ceremony(&mut self) {
        self.token.clear_permissions_except_lbw();
    }

    /// Forgets the token (a PIN change, a session's end).
    pub fn forget_token(&mut self) {
        self.token.reset();
    }
}
