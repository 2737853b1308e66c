//! Asking the user: presence, consent, and — for built-in user verification and reset —
//! the PIN typed into our own prompt. What is asked is an [`ipc::Prompt`](Prompt), the
//! same type the approval agent shows.

use tpm_passkey_ipc::Prompt;

use crate::PinHash;

/// An approval: the PIN typed (when the prompt asked for one) and the account chosen
/// (when it listed several).
#[derive(Debug, Default)]
pub struct Approval {
    pub pin: Option<PinHash>,
    pub choice: Option<usize>,
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
    /// Refused unseen: a cool-down of the approval-fatigue defence is in force
    /// (`fatigue`).
    #[error("refused without a prompt: too many prompts")]
    Throttled,
}

/// The approval channel. `ask` blocks until the user answers (or the request is
/// cancelled or times out). When `prompt.pin_required`, an approval must carry the PIN;
/// the engine checks it with the key store.
pub trait Approver {
    fn ask(&mut self, prompt: &Prompt) -> Result<Option<PinHash>, Refusal>;
    /// Tells the person something that needs no answer (a cool-down of the fatigue defence
    /// started): a desktop notification in the app, a line in the terminal agent.
    fn notify(&mut self, _text: &str) {}
    /// As [`Approver::ask`], for a prompt that may list accounts ([`Prompt::accounts`]):
    /// also which one the person chose (an index into them), when the agent let them.
    fn ask_choosing(&mut self, prompt: &Prompt) -> Result<Approval, Refusal> {
        Ok(Approval {
            pin: self.ask(prompt)?,
            choice: None,
        })
    }
    /// The application behind the request being processed (a process name), when the
    /// transport could tell; the audit log records it beside each event.
    fn requester(&self) -> Option<String> {
        None
    }
}
