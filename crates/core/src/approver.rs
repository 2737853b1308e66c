//! Asking the user: presence, consent, and — for built-in user verification — the PIN
//! typed into our own prompt.

use serde::Serialize;

use crate::PinHash;

/// What the user is asked to approve.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Operation {
    /// makeCredential: create a passkey.
    Register,
    /// getAssertion: sign in.
    SignIn,
    /// makeCredential hit the excludeList: the user confirms they saw it (§6.1.2 step 11).
    AlreadyRegistered,
    /// authenticatorReset: erase every passkey.
    Reset,
    /// authenticatorSelection, or the empty-pinUvAuthParam touch of §6.1.2 step 1.
    Select,
    /// Built-in user verification for a token (getPinUvAuthTokenUsingUvWithPermissions).
    Verify,
    /// U2F register / authenticate.
    U2fRegister,
    U2fSignIn,
}

/// A request for the user's decision, as the approval agent shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Prompt {
    pub operation: Operation,
    pub rp_id: Option<String>,
    pub rp_name: Option<String>,
    /// The account, as "name (display name)" when known.
    pub user: Option<String>,
    /// The PIN must be typed into the prompt (built-in user verification).
    pub pin_required: bool,
    /// Retries left on the PIN, from the key store.
    pub pin_retries: Option<u8>,
    /// The previous PIN typed for this request was wrong.
    pub pin_was_wrong: bool,
}

impl Prompt {
    pub fn new(operation: Operation) -> Self {
        Prompt {
            operation,
            rp_id: None,
            rp_name: None,
            user: None,
            pin_required: false,
            pin_retries: None,
            pin_was_wrong: false,
        }
    }

    pub fn rp(mut self, id: &str, name: Option<&str>) -> Self {
        self.rp_id = Some(id.to_owned());
        self.rp_name = name.map(str::to_owned);
        self
    }

    pub fn user(mut self, user: Option<String>) -> Self {
        self.user = user;
        self
    }
}

/// Why the user did not approve.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Refusal {
    #[error("denied by the user")]
    Denied,
    #[error("no answer in time")]
    Timeout,
    #[error("cancelled by the client")]
    Cancelled,
}

/// The approval channel. `ask` blocks until the user answers (or the request is
/// cancelled or times out). When `prompt.pin_required`, an approval must carry the PIN;
/// the engine checks it with the key store.
pub trait Approver {
    fn ask(&mut self, prompt: &Prompt) -> Result<Option<PinHash>, Refusal>;
    /// The application behind the request being processed (a process name), when the
    /// transport could tell; the audit log records it beside each event.
    fn requester(&self) -> Option<String> {
        None
    }
}
