//! The words the daemon, the engine, the app and the CLI share: one enum each, serialized
//! in snake_case, so that no side turns strings back into meanings of its own.

use serde::{Deserialize, Serialize};

/// What the user is asked to approve.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Operation {
    /// makeCredential: create a passkey.
    Register,
    /// getAssertion: sign in.
    SignIn,
    /// makeCredential hit the excludeList: the user confirms they saw it (CTAP 2.1 §6.1.2
    /// step 11).
    AlreadyRegistered,
    /// authenticatorReset: erase every passkey (needs the PIN when one is set).
    Reset,
    /// authenticatorSelection, or the empty-pinUvAuthParam touch of §6.1.2 step 1.
    Select,
    /// Built-in user verification for a token (getPinUvAuthTokenUsingUvWithPermissions)
    /// when the permissions name neither registration nor sign-in.
    Verify,
    /// U2F register / authenticate.
    U2fRegister,
    U2fSignIn,
}

/// A per-site rule the user set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SiteRule {
    /// CTAP2_ERR_OPERATION_DENIED before any prompt.
    Block,
    /// As if alwaysUv were on for this site alone.
    RequirePin,
}

impl SiteRule {
    pub fn as_str(self) -> &'static str {
        match self {
            SiteRule::Block => "block",
            SiteRule::RequirePin => "require_pin",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "block" => Some(SiteRule::Block),
            "require_pin" => Some(SiteRule::RequirePin),
            _ => None,
        }
    }
}

/// What kind of approval agent a connection registers as. Not self-declared in effect:
/// the daemon accepts `scripted` only when built with the `scripted-agent` feature, and
/// records the agent's real process (SO_PEERCRED) whatever it claims.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AgentKind {
    /// The desktop app: a person answers.
    App,
    /// `tpm-passkey agent`: a person answers at a terminal.
    Terminal,
    /// `tpm-passkey-prompt`: the approval window the daemon starts for a request when no
    /// agent is registered; a person answers, and it exits once nothing waits.
    Prompt,
    /// `tpm-passkey agent --approve-all`: a script answers (tests, automation).
    Scripted,
}

/// How the PIN is protected where it lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum PinProtection {
    /// No PIN is set.
    NotSet,
    /// The TPM's rebuild-proof PIN index, and its enrolment anchors the audit index and
    /// what the PIN protects (issue 21): changes made without the PIN are refused even when
    /// someone with the TPM reseals the store.
    Anchored,
    /// The TPM's rebuild-proof PIN index: nobody, the TPM owner included, can reset its
    /// retry counter or rebuild it. Made before anchors: someone with the TPM can reseal
    /// an edited or older store. Re-enrol to anchor it.
    Sealed,
    /// A PIN index made by an earlier version: the TPM owner (on most machines any local
    /// program) can rewrite its retry counter. Re-enrol to replace it.
    Legacy,
    /// A PIN was set, but its index is gone from the TPM (deleted by its owner, or the TPM
    /// was cleared): PIN-bound passkeys can never work again.
    Lost,
}

impl PinProtection {
    /// What the user reads, with what to do.
    pub fn explain(self) -> &'static str {
        match self {
            PinProtection::NotSet => "no PIN set",
            PinProtection::Anchored => "enforced by the TPM; nobody can reset its retries, the TPM owner included, and what it protects cannot be loosened or rolled back on disk without it",
            PinProtection::Sealed => "enforced by the TPM; nobody can reset its retries, the TPM owner included. Set before anchors: someone with the TPM could loosen or roll back the store on disk unseen. Re-enrol to anchor it: `tpm-passkey reset`, set a PIN, and register again",
            PinProtection::Legacy => "older, weaker kind: the TPM owner (on most machines any local program) can reset its retries. Re-enrol to fix: `tpm-passkey reset`, set a PIN, and register your passkeys again",
            PinProtection::Lost => "the PIN's TPM index is gone (the TPM was cleared or its owner deleted it): PIN-bound passkeys cannot work again. Reset, set a PIN and register again",
        }
    }
}

/// The TPM as the daemon last saw it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum TpmHealth {
    #[default]
    Ready,
    /// The connection broke or hung; the daemon reconnects on its own and requests fail
    /// at once meanwhile.
    Unreachable,
    /// The TPM answers but is not the one the passkeys were made on (it was cleared, or
    /// the store was moved to another machine): earlier passkeys cannot work here.
    Replaced,
}

impl TpmHealth {
    /// What the user reads, with what to do.
    pub fn explain(self) -> &'static str {
        match self {
            TpmHealth::Ready => "ready",
            TpmHealth::Unreachable => "TPM unreachable: requests fail until it answers again; the daemon reconnects on its own",
            TpmHealth::Replaced => "this TPM was cleared or is not the one your passkeys were made on: they cannot work here. `tpm-passkey prune` removes them (the app: Passkeys → Remove dead passkeys)",
        }
    }
}

/// Which way the daemon reaches its TPM, and so who else can reach it
/// (docs/THREAT-MODEL.md "TPM paths").
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum TpmPath {
    /// A TPM chip through the kernel's resource manager (/dev/tpmrm0): every open of the
    /// device has its own handles, so no other program can name the daemon's sessions.
    KernelResourceManager,
    /// A TPM through tpm2-abrmd, which keeps each client's handles apart.
    AccessBroker,
    /// A TPM chip opened directly (/dev/tpm0): one opener at a time, no resource manager.
    DirectDevice,
    /// The embedded simulator, reachable only through the daemon: no socket of its own,
    /// state readable by this account only. Keys are not hardware-protected.
    PrivateSimulator,
    /// A swtpm or mssim socket given with --tcti (tests): anyone who can connect to it
    /// shares its sessions. Keys are not hardware-protected.
    #[default]
    SharedSimulator,
}

impl TpmPath {
    /// What the user reads.
    pub fn explain(self) -> &'static str {
        match self {
            TpmPath::KernelResourceManager => "TPM chip via the kernel's resource manager",
            TpmPath::AccessBroker => "TPM via tpm2-abrmd (its resource manager)",
            TpmPath::DirectDevice => "TPM chip opened directly, without a resource manager",
            TpmPath::PrivateSimulator => {
                "embedded simulator, reachable only through this daemon — not hardware-protected"
            }
            TpmPath::SharedSimulator => {
                "simulator on a socket other programs can reach (tests only) — not isolated, not hardware-protected"
            }
        }
    }

    /// Whether no other program can use a session the daemon holds between two of its
    /// commands (docs/DESIGN.md "Sessions kept between requests").
    pub fn isolates_sessions(self) -> bool {
        matches!(
            self,
            TpmPath::KernelResourceManager | TpmPath::AccessBroker | TpmPath::PrivateSimulator
        )
    }
}

/// Why a prompt stopped waiting (`prompt_closed`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum PromptClosedReason {
    /// The client cancelled it, or its caller went away.
    Cancelled,
    /// Nobody answered in time.
    Timeout,
    /// The app's own: the daemon went away with the prompt.
    DaemonGone,
    /// A reason this build does not know (a newer daemon).
    #[serde(other)]
    Other,
}

impl PromptClosedReason {
    /// What a person reads.
    pub fn explain(self) -> &'static str {
        match self {
            PromptClosedReason::Cancelled => "cancelled",
            PromptClosedReason::Timeout => "timed out",
            PromptClosedReason::DaemonGone => "the service stopped",
            PromptClosedReason::Other => "closed",
        }
    }
}

/// What kind of refusal an `error` answer is: what a client decides on (ask for the PIN
/// and try again, wait and retry, show the text). The text itself is for people.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorKind {
    /// The request is allowed with the PIN: send it again with `pin`.
    PinRequired,
    /// The PIN given was wrong (the TPM counted it).
    WrongPin,
    /// The PIN is blocked, or paused until the service restarts.
    PinBlocked,
    /// No PIN is set, a PIN is already set, or the new PIN breaks the PIN rules.
    PinState,
    /// What the request names does not exist (a passkey id, a certificate).
    NotFound,
    /// The request is malformed or its values are out of range; sending it again as is
    /// will fail again.
    BadRequest,
    /// A confirmation phrase did not match.
    NotConfirmed,
    /// The person denied the prompt, or nobody answered it in time.
    Denied,
    /// The daemon cannot take this now (no room for another connection, an approval
    /// agent already registered, the engine busy): try again later.
    Busy,
    /// The TPM cannot be reached; the daemon reconnects on its own.
    TpmUnreachable,
    /// The work was tried and failed; the daemon's log has the detail.
    Failed,
    /// A kind this build does not know (a newer daemon), or none given (an older one).
    #[default]
    #[serde(other)]
    Other,
}

impl ErrorKind {
    /// Every kind, in the order docs/CONTROL.md lists them (a test keeps the two equal).
    pub const ALL: [ErrorKind; 12] = [
        ErrorKind::PinRequired,
        ErrorKind::WrongPin,
        ErrorKind::PinBlocked,
        ErrorKind::PinState,
        ErrorKind::NotFound,
        ErrorKind::BadRequest,
        ErrorKind::NotConfirmed,
        ErrorKind::Denied,
        ErrorKind::Busy,
        ErrorKind::TpmUnreachable,
        ErrorKind::Failed,
        ErrorKind::Other,
    ];
}

// The audit log's vocabulary (docs/CONTROL.md lists it; a test keeps the two equal).

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
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
    /// A stored entry whose event is not in this vocabulary (an edited log: its chain or
    /// checkpoints say so too). Never written.
    #[serde(other)]
    Unrecognised,
}

/// How it ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
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
    /// A stored entry whose outcome is not in this vocabulary. Never written.
    #[serde(other)]
    Unrecognised,
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
            AuditKind::Unrecognised => "unrecognised",
        }
    }

    /// The kind a stored name stands for ([`AuditKind::Unrecognised`] if none).
    pub fn from_stored(name: &str) -> Self {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str() == name)
            .unwrap_or(AuditKind::Unrecognised)
    }
}

/// The log's words compare with the kind (`record.event == "sign_in"`).
impl PartialEq<&str> for AuditKind {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
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
            Outcome::Unrecognised => "unrecognised",
        }
    }

    /// The outcome a stored name stands for ([`Outcome::Unrecognised`] if none).
    pub fn from_stored(name: &str) -> Self {
        Self::ALL
            .into_iter()
            .find(|o| o.as_str() == name)
            .unwrap_or(Outcome::Unrecognised)
    }
}

impl PartialEq<&str> for Outcome {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}
