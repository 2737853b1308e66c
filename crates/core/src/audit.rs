//! Audit events: every approval, denial, PIN failure, management action and change of
//! approval agent. The vocabulary is two enums, so that what the log can contain is
//! exactly what the code emits (docs/CONTROL.md lists it, and a test keeps the two equal).
//! No field ever carries a secret.

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AuditKind {
    /// makeCredential (detail: "discoverable" or "server-side").
    Register,
    /// getAssertion with user presence.
    SignIn,
    /// getAssertion without user presence (how clients probe an allowList).
    SilentCheck,
    /// Built-in user verification for a token whose permissions name no ceremony.
    Uv,
    PinSet,
    PinChange,
    /// A PIN checked through clientPIN or for a local action.
    PinVerify,
    /// A passkey deleted (credential management, or locally: detail "local").
    Delete,
    /// credential management's updateUserInformation.
    UpdateUser,
    /// Every passkey and the PIN erased (detail: "forgotten PIN" for the no-PIN path).
    Reset,
    /// A setting or site rule changed (detail says which).
    Config,
    U2fRegister,
    U2fSignIn,
    /// An approval agent registered (detail: its kind and process).
    AgentRegistered,
    /// A program asked to be the approval agent while one was connected, and was refused.
    AgentRefused,
    /// A program proved the PIN and replaced the approval agent.
    AgentReplaced,
    /// The list of passkeys (accounts) was read over the control socket.
    ReadPasskeys,
    /// The audit log was read over the control socket.
    ReadAudit,
    /// The fatigue defence started a cool-down (detail: why, and for how long).
    PromptFlood,
}

/// How it ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Outcome {
    Ok,
    Denied,
    Timeout,
    Cancelled,
    WrongPin,
    /// The PIN is blocked (the TPM refused even to check it).
    Blocked,
    /// The site is blocked by the user's rule: refused before any prompt.
    BlockedSite,
    /// makeCredential found a credential of the excludeList.
    Excluded,
    /// Refused without a prompt: a cool-down of the fatigue defence.
    Throttled,
}

impl AuditKind {
    pub const ALL: [AuditKind; 19] = [
        AuditKind::Register,
        AuditKind::SignIn,
        AuditKind::SilentCheck,
        AuditKind::Uv,
        AuditKind::PinSet,
        AuditKind::PinChange,
        AuditKind::PinVerify,
        AuditKind::Delete,
        AuditKind::UpdateUser,
        AuditKind::Reset,
        AuditKind::Config,
        AuditKind::U2fRegister,
        AuditKind::U2fSignIn,
        AuditKind::AgentRegistered,
        AuditKind::AgentRefused,
        AuditKind::AgentReplaced,
        AuditKind::ReadPasskeys,
        AuditKind::ReadAudit,
        AuditKind::PromptFlood,
    ];

    /// The name stored in the log.
    pub fn as_str(self) -> &'static str {
        match self {
            AuditKind::Register => "register",
            AuditKind::SignIn => "sign_in",
            AuditKind::SilentCheck => "silent_check",
            AuditKind::Uv => "uv",
            AuditKind::PinSet => "pin_set",
            AuditKind::PinChange => "pin_change",
            AuditKind::PinVerify => "pin_verify",
            AuditKind::Delete => "delete",
            AuditKind::UpdateUser => "update_user",
            AuditKind::Reset => "reset",
            AuditKind::Config => "config",
            AuditKind::U2fRegister => "u2f_register",
            AuditKind::U2fSignIn => "u2f_sign_in",
            AuditKind::AgentRegistered => "agent_registered",
            AuditKind::AgentRefused => "agent_refused",
            AuditKind::AgentReplaced => "agent_replaced",
            AuditKind::ReadPasskeys => "read_passkeys",
            AuditKind::ReadAudit => "read_audit",
            AuditKind::PromptFlood => "prompt_flood",
        }
    }
}

impl Outcome {
    pub const ALL: [Outcome; 9] = [
        Outcome::Ok,
        Outcome::Denied,
        Outcome::Timeout,
        Outcome::Cancelled,
        Outcome::WrongPin,
        Outcome::Blocked,
        Outcome::BlockedSite,
        Outcome::Excluded,
        Outcome::Throttled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Denied => "denied",
            Outcome::Timeout => "timeout",
            Outcome::Cancelled => "cancelled",
            Outcome::WrongPin => "wrong_pin",
            Outcome::Blocked => "blocked",
            Outcome::BlockedSite => "blocked_site",
            Outcome::Excluded => "excluded",
            Outcome::Throttled => "throttled",
        }
    }
}

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
