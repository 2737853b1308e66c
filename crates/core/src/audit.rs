//! Audit events: every approval, denial, PIN failure and management action.

/// One event as the engine records it. `event` and `outcome` come from a fixed vocabulary
/// so that the log can be filtered; no field ever carries a secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent {
    /// "register", "sign_in", "silent_check" (an up=false assertion), "uv", "pin_set", "pin_change", "pin_verify", "delete", "reset", "config", "u2f_register", "u2f_sign_in".
    pub event: &'static str,
    pub rp_id: Option<String>,
    pub detail: Option<String>,
    /// "ok", "denied", "timeout", "cancelled", "wrong_pin", "blocked", "error".
    pub outcome: &'static str,
    /// The requesting application (process name), filled in by the engine from the
    /// approver; None for management through the control socket.
    pub client: Option<String>,
}

impl AuditEvent {
    pub fn new(event: &'static str, rp_id: Option<&str>, outcome: &'static str) -> Self {
        AuditEvent {
            event,
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
}
