//! The control socket's protocol: one JSON object per line in each direction
//! (docs/CONTROL.md). Serde types only, so the app can link it without the TPM stack.
//!
//! A client opens with [`ClientMessage::Hello`]; the daemon answers with
//! [`DaemonMessage::Hello`] carrying [`PROTOCOL_VERSION`]. An approval agent then sends
//! [`ClientMessage::RegisterAgent`] and receives [`DaemonMessage::Prompt`]s, each answered
//! by [`ClientMessage::Answer`] with the same id, or withdrawn by
//! [`DaemonMessage::PromptClosed`].
#![forbid(unsafe_code)]

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Bumped on any incompatible change; the daemon refuses other versions.
pub const PROTOCOL_VERSION: u32 = 1;

/// Where the daemon listens: `$XDG_RUNTIME_DIR/tpm-passkey/control.sock`.
pub fn default_control_path() -> Option<PathBuf> {
    std::env::var_os("XDG_RUNTIME_DIR")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .map(|d| d.join("tpm-passkey").join("control.sock"))
}

/// Who is registering as the approval agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AgentKind {
    /// The desktop app: a person answers.
    App,
    /// `tpm-passkey agent --approve-all`: a script answers (tests, automation).
    Scripted,
}

/// Client → daemon.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum ClientMessage {
    Hello {
        protocol: u32,
    },
    RegisterAgent {
        kind: AgentKind,
    },
    /// The user's decision on prompt `id`. `pin` is the PIN typed into the prompt when the
    /// prompt asked for one; the daemon hashes it and forgets it.
    Answer {
        id: u64,
        approve: bool,
        pin: Option<String>,
    },
    Status,
    /// The TPM in use: maker, firmware, simulated or not, dictionary-attack lockout state.
    TpmInfo,
    ListPasskeys,
    /// `id` is the credential id in hex, as [`PasskeyView::id`].
    DeletePasskey {
        id: String,
        pin: Option<String>,
    },
    SetPin {
        pin: String,
    },
    ChangePin {
        old: String,
        new: String,
    },
    /// Erase every passkey and the PIN. The client has asked the user to confirm.
    Reset {
        pin: Option<String>,
    },
    SetSettings {
        always_uv: Option<bool>,
        min_pin_length: Option<u8>,
        pin: Option<String>,
    },
    AuditTail {
        limit: u32,
    },
    ListSiteRules,
    /// The wizard's test sign-in: a built-in relying party registers and signs in, with the
    /// usual prompts; `ok` when the signature verified, else an error saying why.
    TestSignIn,
    /// `rule`: "block", "require_pin", or null to clear. Clearing a rule (or turning a
    /// block into require_pin) needs the PIN once one is set.
    SetSiteRule {
        rp_id: String,
        rule: Option<String>,
        pin: Option<String>,
    },
}

/// One per-site rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SiteRuleView {
    pub rp_id: String,
    /// "block" or "require_pin".
    pub rule: String,
}

/// One passkey, without key material.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PasskeyView {
    pub id: String,
    pub rp_id: String,
    pub rp_name: Option<String>,
    pub user_name: Option<String>,
    pub user_display_name: Option<String>,
    /// Unix seconds.
    pub created: i64,
    pub last_used: Option<i64>,
    pub sign_count: u32,
    pub pin_bound: bool,
    pub cred_protect: u8,
}

/// One audit record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditView {
    pub seq: i64,
    /// Unix seconds.
    pub time: i64,
    pub event: String,
    pub rp_id: Option<String>,
    pub detail: Option<String>,
    pub outcome: String,
    /// The requesting application's process name, when the transport could tell.
    #[serde(default)]
    pub client: Option<String>,
}

/// The TPM as the enrolment wizard and `tpm-passkey status` show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TpmView {
    /// The embedded swtpm: keys are not hardware-protected.
    pub simulated: bool,
    pub tcti: String,
    /// TPM_PT_MANUFACTURER as letters ("IBM", "INTC", "STM", …).
    pub manufacturer: String,
    pub vendor: String,
    pub firmware: String,
    /// TPM-wide dictionary-attack state (the PIN has its own counter; see DESIGN.md).
    pub lockout_counter: u32,
    pub lockout_max_tries: u32,
    /// Seconds after which one counted failure is forgotten.
    pub lockout_recovery_secs: u32,
    pub in_lockout: bool,
}

/// What a prompt asks, as an agent shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PromptView {
    /// "register", "sign_in", "already_registered", "reset", "select", "verify",
    /// "u2f_register", "u2f_sign_in".
    pub operation: String,
    pub rp_id: Option<String>,
    pub rp_name: Option<String>,
    pub user: Option<String>,
    pub pin_required: bool,
    pub pin_retries: Option<u8>,
    pub pin_was_wrong: bool,
    /// The application that sent the request, when the transport can tell (its process
    /// name from /proc and its pid).
    #[serde(default)]
    pub client_name: Option<String>,
    #[serde(default)]
    pub client_pid: Option<u32>,
}

/// Daemon → client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum DaemonMessage {
    Hello {
        protocol: u32,
        version: String,
    },
    Prompt {
        id: u64,
        prompt: PromptView,
        timeout_ms: u64,
        /// When the daemon sent it (Unix ms): the app measures its own display latency.
        #[serde(default)]
        sent_unix_ms: u64,
    },
    /// The prompt is no longer waiting: "cancelled" by the client, "timeout", "answered".
    PromptClosed {
        id: u64,
        reason: String,
    },
    Status {
        simulated: bool,
        tcti: String,
        pin_set: bool,
        /// Wrong PINs the TPM still allows (None without a PIN).
        pin_retries: Option<u8>,
        always_uv: bool,
        min_pin_length: u8,
        credentials: u64,
        agent: bool,
        /// Three wrong PINs since the daemon started: PIN checks are paused until it
        /// restarts (CTAP2_ERR_PIN_AUTH_BLOCKED).
        #[serde(default)]
        pin_auth_blocked: bool,
    },
    TpmInfo(TpmView),
    Passkeys {
        passkeys: Vec<PasskeyView>,
    },
    Audit {
        records: Vec<AuditView>,
    },
    SiteRules {
        rules: Vec<SiteRuleView>,
    },
    /// CTAPHID_WINK from a client: "show yourself" (the app flashes its window).
    Wink,
    Ok,
    /// The request was refused; `message` says why and what to do.
    Error {
        message: String,
    },
}

/// One line of JSON (with its newline).
pub fn encode<T: Serialize>(msg: &T) -> String {
    let mut s = serde_json::to_string(msg).unwrap_or_else(|_| "{}".into());
    s.push('\n');
    s
}

/// Parses one line.
pub fn decode<'a, T: Deserialize<'a>>(line: &'a str) -> Result<T, serde_json::Error> {
    serde_json::from_str(line.trim_end())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip_as_tagged_json_lines() {
        let m = ClientMessage::Answer {
            id: 7,
            approve: true,
            pin: None,
        };
        let line = encode(&m);
        assert_eq!(
            line,
            "{\"type\":\"answer\",\"id\":7,\"approve\":true,\"pin\":null}\n"
        );
        assert_eq!(decode::<ClientMessage>(&line).unwrap(), m);
        assert!(decode::<ClientMessage>("{\"type\":\"nope\"}").is_err());
    }
}
