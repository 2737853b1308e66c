//! Audit events: every approval, denial, PIN failure, management action and change of
//! approval agent. The vocabulary is two enums, so that what the log can contain is
//! exactly what the code emits (docs/CONTROL.md lists it, and a test keeps the two equal).
//! No field ever carries a secret.

pub use tpm_passkey_ipc::{AuditKind, Outcome};

impl From<crate::Refusal> for Outcome {
    fn from(r: crate::Refusal) -> Self {
        match r {
            crate::Refusal::Denied => Outcome::Denied,
            crate::Refusal::Timeout => Outcome::Timeout,
            crate::Refusal::Cancelled => Outcome::Cancelled,
            crate::Refusal::Throttled => Outcome::Throttled,
        }
    }
}

/// One event as the engine records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent {
    pub kind: AuditKind,
    pub rp_id: Option<String>,
    pub detail: Option<String>,
    pub outcome: Outcome,
    /// The requesting application (process name), filled in by the engine from the
    /// approver, or by the daemon for control-socket requests.
    pub client: Option<String>,
}

impl AuditEvent {
    pub fn new(kind: AuditKind, rp_id: Option<&str>, outcome: Outcome) -> Self {
        AuditEvent {
            kind,
            rp_id: rp_id.map(str::to_owned),
            detail: None,
            outcome,
            client: None,
        }
    }

    pub fn detail(mut self, d: impl Into<String>) -> Self {
        self.detail = Some(d.into());
        self
    }

    pub fn client(mut self, c: Option<String>) -> Self {
        self.client = c;
        self
    }
}
