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
    /// The TPM's rebuild-proof PIN index: nobody, the TPM owner included, can reset its
    /// retry counter or rebuild it.
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
            PinProtection::Sealed => "enforced by the TPM; nobody can reset its retries, the TPM owner included",
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
