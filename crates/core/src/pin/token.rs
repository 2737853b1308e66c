//! The pinUvAuthToken and its state, CTAP 2.1 §6.5.2.1 "pinUvAuthToken state" and
//! §6.5.2.2 usage timer.
//!
//! Because the TPM, not this process, checks the PIN, a PIN-bound key can sign only with
//! the pinHash in hand. The token therefore carries the pinHash it was issued for, and
//! drops it (zeroized) whenever the token's permissions are cleared or it expires.

use std::time::Duration;

use tpm_passkey_wire::Status;

use crate::pin::protocol::Protocol;
use crate::secret::{random, SecretBytes};
use crate::PinHash;

/// Permission bits, §6.5.5.7 "permissions".
pub mod permission {
    pub const MC: u64 = 0x01;
    pub const GA: u64 = 0x02;
    pub const CM: u64 = 0x04;
    pub const BE: u64 = 0x08;
    pub const LBW: u64 = 0x10;
    pub const ACFG: u64 = 0x20;
}

/// §6.5.2.2: a token not used within this time after it was issued expires.
const INITIAL_USAGE_LIMIT: Duration = Duration::from_secs(30);
/// §6.5.2.2: the maximum usage period, after which a token expires however it is used.
const MAX_USAGE_PERIOD: Duration = Duration::from_secs(600);

#[derive(Debug)]
struct Active {
    permissions: u64,
    rp_id: Option<String>,
    pin: Option<PinHash>,
    /// userPresent (§6.5.2.1): the user was present when the token was issued (our
    /// built-in UV prompt is also a presence check), so the next ceremony needs no
    /// second prompt.
    user_present: bool,
    /// When it was issued, on the engine's monotonic clock.
    issued: Duration,
    used: bool,
    /// The account the person chose in the prompt that issued the token (a credential ID),
    /// for the discoverable getAssertion that follows.
    chosen: Option<Vec<u8>>,
}

/// The authenticator's single pinUvAuthToken (shared by both protocols).
#[derive(Debug, Default)]
pub struct PinToken {
    token: Option<SecretBytes>,
    state: Option<Active>,
}

impl PinToken {
    /// resetPinUvAuthToken + beginUsingPinUvAuthToken(userIsPresent): a fresh random token
    /// with the given permissions, optional rpId binding, and the pinHash that unlocked it.
    /// `now` is the engine's monotonic time.
    pub fn issue(
        &mut self,
        permissions: u64,
        rp_id: Option<String>,
        pin: Option<PinHash>,
        user_present: bool,
        now: Duration,
    ) -> Result<SecretBytes, Status> {
        let mut t = vec![0u8; 32];
        random(&mut t)?;
        let token = SecretBytes::new(t);
        self.token = Some(token.clone());
        self.state = Some(Active {
            permissions,
            rp_id,
            pin,
            user_present,
            issued: now,
            used: false,
            chosen: None,
        });
        Ok(token)
    }

    /// Forgets the token (and the pinHash with it).
    pub fn reset(&mut self) {
        self.token = None;
        self.state = None;
    }

    /// pinUvAuthTokenUsageTimerObserver (§6.5.2.2): past the initial usage limit unused, or
    /// past the maximum usage period, the token expires.
    fn expire_if_due(&mut self, now: Duration) {
        if let Some(s) = &self.state {
            let age = now.saturating_sub(s.issued);
            if age > MAX_USAGE_PERIOD || (!s.used && age > INITIAL_USAGE_LIMIT) {
                self.reset();
            }
        }
    }

    /// Checks pinUvAuthParam = authenticate(token, message) and that the token carries
    /// `permission`; with `rp_id`, also the rpId binding, binding an unbound token
    /// (§6.1.2 step 6, §6.2.2 step 6). Every failure is CTAP2_ERR_PIN_AUTH_INVALID.
    pub fn check(
        &mut self,
        protocol: Protocol,
        message: &[u8],
        param: &[u8],
        permission: u64,
        rp_id: Option<&str>,
        now: Duration,
    ) -> Result<(), Status> {
        self.expire_if_due(now);
        let (Some(token), Some(state)) = (&self.token, &mut self.state) else {
            return Err(Status::PinAuthInvalid);
        };
        if !protocol.verify(token.expose_secret_bytes(), message, param) {
            return Err(Status::PinAuthInvalid);
        }
        if state.permissions & permission == 0 {
            return Err(Status::PinAuthInvalid);
        }
        if let Some(rp) = rp_id {
            match &state.rp_id {
                Some(bound) if bound != rp => return Err(Status::PinAuthInvalid),
                Some(_) => {}
                None => state.rp_id = Some(rp.to_owned()),
            }
        }
        state.used = true;
        Ok(())
    }

    /// Whether the token is bound to an rpId (credential management refuses some
    /// subcommands for such tokens, §6.8).
    pub fn rp_bound(&self) -> Option<&str> {
        self.state.as_ref().and_then(|s| s.rp_id.as_deref())
    }

    /// The pinHash the current token was issued for.
    pub fn pin(&self) -> Option<&PinHash> {
        self.state.as_ref().and_then(|s| s.pin.as_ref())
    }

    /// getUserPresentFlagValue then clearUserPresentFlag (§6.1.2 step 13, §6.2.2 step 9):
    /// true once, if the token was issued with the user present.
    pub fn take_user_present(&mut self) -> bool {
        self.state
            .as_mut()
            .is_some_and(|s| std::mem::take(&mut s.user_present))
    }

    /// Records the account the person chose in the prompt that issued the token.
    pub fn set_chosen(&mut self, credential_id: Vec<u8>) {
        if let Some(s) = &mut self.state {
            s.chosen = Some(credential_id);
        }
    }

    /// The account chosen when the token was issued (taken: it serves one ceremony).
    pub fn take_chosen(&mut self) -> Option<Vec<u8>> {
        self.state.as_mut().and_then(|s| s.chosen.take())
    }

    /// clearPinUvAuthTokenPermissionsExceptLbw (§6.1.2 step 14, §6.2.2): after a
    /// makeCredential or getAssertion with user presence the token cannot be used again for
    /// either, and the pinHash it held is dropped.
    pub fn clear_permissions_except_lbw(&mut self) {
        if let Some(s) = &mut self.state {
            s.permissions &= permission::LBW;
            s.pin = None;
            s.user_present = false;
            s.chosen = None;
        }
    }
}
