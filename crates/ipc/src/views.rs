//! The things the daemon shows: produced by the engine (or the daemon) and shown as they
//! are by the app and the CLI. One type each; nobody mirrors them.

use serde::{Deserialize, Serialize};

use crate::{
    AgentKind, AuditKind, Operation, Outcome, PinProtection, SiteRule, TpmHealth, TpmPath,
};

/// A request for the user's decision, as the approval agent shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Prompt {
    pub operation: Operation,
    pub rp_id: Option<String>,
    pub rp_name: Option<String>,
    /// The account, as "name (display name)" when known.
    pub user: Option<String>,
    /// The approval yields a PIN/UV token for any site (no rpId was given): the prompt
    /// must say so rather than name one.
    #[serde(default)]
    pub any_site: bool,
    /// The PIN must be typed into the prompt (built-in user verification, or a reset).
    pub pin_required: bool,
    /// Retries left on the PIN, from the TPM.
    pub pin_retries: Option<u8>,
    /// The previous PIN typed for this request was wrong.
    pub pin_was_wrong: bool,
    /// The application that sent the request, when the transport can tell (its process
    /// name from /proc and its pid). Filled in by the daemon.
    #[serde(default)]
    pub client_name: Option<String>,
    #[serde(default)]
    pub client_pid: Option<u32>,
    /// A sign-in with several accounts for the site: the person chooses one in the prompt
    /// (the answer's `choice` is its index). Empty otherwise.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub accounts: Vec<String>,
}

impl Prompt {
    pub fn new(operation: Operation) -> Self {
        Prompt {
            operation,
            rp_id: None,
            rp_name: None,
            user: None,
            any_site: false,
            pin_required: false,
            pin_retries: None,
            pin_was_wrong: false,
            client_name: None,
            client_pid: None,
            accounts: Vec::new(),
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

/// One passkey (a discoverable credential), without key material.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Passkey {
    /// The credential id, hex.
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
pub struct AuditRecord {
    pub seq: i64,
    /// Unix seconds.
    pub time: i64,
    pub event: AuditKind,
    pub rp_id: Option<String>,
    pub detail: Option<String>,
    pub outcome: Outcome,
    /// The requesting application's process name, when the transport could tell.
    #[serde(default)]
    pub client: Option<String>,
}

/// One per-site rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SiteRuleEntry {
    pub rp_id: String,
    pub rule: SiteRule,
}

/// The TPM as the enrolment wizard and `tpm-passkey tpm` show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TpmView {
    /// The embedded swtpm: keys are not hardware-protected.
    pub simulated: bool,
    pub tcti: String,
    /// Which way the daemon reaches the TPM, and so who else can.
    #[serde(default)]
    pub path: TpmPath,
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

/// The registered approval agent, as the daemon saw it connect (SO_PEERCRED).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentView {
    pub kind: AgentKind,
    /// The agent's process name (/proc/PID/comm).
    pub name: Option<String>,
    pub pid: Option<u32>,
}

/// The daemon and authenticator at a glance (`tpm-passkey status`, the app's header).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusView {
    pub simulated: bool,
    pub tcti: String,
    /// Which way the daemon reaches the TPM, and so who else can.
    #[serde(default)]
    pub path: TpmPath,
    pub pin_set: bool,
    /// Wrong PINs the TPM still allows (None without a PIN).
    pub pin_retries: Option<u8>,
    /// How the PIN is protected; `legacy` and `lost` need the user's attention.
    pub pin_protection: PinProtection,
    pub always_uv: bool,
    pub min_pin_length: u8,
    pub credentials: u64,
    /// An approval agent is connected.
    pub agent: bool,
    /// Which one.
    #[serde(default)]
    pub agent_info: Option<AgentView>,
    /// Three wrong PINs since the daemon started: PIN checks are paused until it restarts
    /// (CTAP2_ERR_PIN_AUTH_BLOCKED).
    #[serde(default)]
    pub pin_auth_blocked: bool,
    /// Whether the TPM answers, and is the one the passkeys were made on.
    #[serde(default)]
    pub tpm: TpmHealth,
    /// The approval-fatigue defence's limits, and its cool-downs in force.
    #[serde(default)]
    pub fatigue: FatigueLimits,
    #[serde(default)]
    pub cooldowns: Vec<CooldownView>,
    /// Step-up by risk.
    #[serde(default)]
    pub step_up: StepUp,
    /// `tpm` attestation: provisioned, turned on, by which CA.
    #[serde(default)]
    pub attestation: AttestationView,
}

/// The attestation state (docs/DESIGN.md "TPM attestation").
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct AttestationView {
    /// An AK certificate from an organisation's CA is installed.
    pub provisioned: bool,
    /// New passkeys carry `tpm` attestation (else packed self-attestation).
    pub on: bool,
    /// The certificate's issuer, as its distinguished name.
    pub issuer: Option<String>,
}

/// The approval-fatigue defence's limits (docs/DESIGN.md "Approval fatigue"): more than
/// `unapproved_per_site` prompts for one site not approved within `window_secs`, or
/// `denials_in_a_row` denials, and prompts are refused unseen for `cooldown_secs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct FatigueLimits {
    pub enabled: bool,
    /// 0: no per-site limit.
    pub unapproved_per_site: u32,
    pub window_secs: u64,
    /// 0: no limit on denials in a row.
    pub denials_in_a_row: u32,
    pub cooldown_secs: u64,
}

impl Default for FatigueLimits {
    /// 4 prompts for a site not approved in 60 s, or 5 denials in a row: 5 minutes without
    /// prompts.
    fn default() -> Self {
        FatigueLimits {
            enabled: true,
            unapproved_per_site: 4,
            window_secs: 60,
            denials_in_a_row: 5,
            cooldown_secs: 300,
        }
    }
}

/// Step-up by risk (docs/DESIGN.md "Step-up"): a request that does not ask for user
/// verification still gets the PIN prompt when the last successful PIN check is older than
/// `uv_max_age_secs` (or there was none since the daemon started), or, with `new_sites`,
/// when the site has never had a verified ceremony here. Only with a PIN set; with alwaysUv
/// on (the default) every request asks for the PIN anyway.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct StepUp {
    pub enabled: bool,
    pub uv_max_age_secs: u64,
    pub new_sites: bool,
}

impl Default for StepUp {
    /// On: the PIN at least every 8 hours, and for every site's first ceremony.
    fn default() -> Self {
        StepUp {
            enabled: true,
            uv_max_age_secs: 8 * 3600,
            new_sites: true,
        }
    }
}

/// A cool-down in force: prompts for `site` (None: every site) are refused unseen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CooldownView {
    pub site: Option<String>,
    pub seconds_left: u64,
    pub reason: String,
}

/// Told to the registered agent when another program tried to take its place.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AgentNoticeKind {
    /// Another program asked to be the agent and was refused: you stay.
    Contested,
    /// Another program proved the PIN and took over: you no longer get prompts.
    Replaced,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentNotice {
    pub notice: AgentNoticeKind,
    /// The other program.
    pub by: AgentView,
}

/// The audit log checked (`tpm-passkey audit verify`, docs/DESIGN.md "Audit checkpoints").
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct AuditVerdict {
    pub entries: u64,
    /// The first entry that cannot be trusted: edited, after a removed one, or in a stretch
    /// a checkpoint no longer vouches for. None when everything checks.
    pub first_bad_seq: Option<i64>,
    /// What is wrong, in words, when something is.
    pub problem: Option<String>,
    /// How many TPM-certified checkpoints the log has, and how many of them verified.
    pub checkpoints: u64,
    pub checkpoints_verified: u64,
    /// The last entry a verified checkpoint covers (entries after it are not vouched for
    /// by the TPM yet: a checkpoint is made every few entries and at shutdown).
    pub vouched_through: Option<i64>,
    /// Whether the TPM itself was asked (a fresh statement of its audit index matched the
    /// checkpoints): false when this install has no audit index.
    pub tpm_checked: bool,
    /// Worth knowing, not a fault: the audit index was made anew at some point, so older
    /// checkpoints are vouched for by an index the TPM no longer has.
    #[serde(default)]
    pub notice: Option<String>,
}

/// The audit log as evidence (`tpm-passkey audit export --json`): everything a verifier
/// elsewhere needs, with the attestation key's public part. Bytes are lowercase hex.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditExport {
    /// "tpm-passkey-audit-1".
    pub format: String,
    /// The attestation key, SEC1 uncompressed P-256 point; None without an audit index.
    pub attestation_key: Option<String>,
    /// The audit index's Name (the TPM statements name it).
    pub audit_index_name: Option<String>,
    pub entries: Vec<ExportedEntry>,
    pub checkpoints: Vec<ExportedCheckpoint>,
    /// The index's value when the export was made, certified with `nonce`.
    pub statement: Option<ExportedStatement>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportedEntry {
    #[serde(flatten)]
    pub record: AuditRecord,
    /// SHA-256(previous hash ‖ this entry's fields), as stored.
    pub hash: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportedCheckpoint {
    pub seq: i64,
    pub head: String,
    pub counter: u64,
    /// TPMS_ATTEST of TPM2_NV_Certify, and the attestation key's signature (DER).
    pub attest: String,
    pub signature: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportedStatement {
    pub nonce: String,
    pub attest: String,
    pub signature: String,
}
