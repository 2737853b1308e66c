//! The messages, one JSON object per line, tagged by `type` (docs/CONTROL.md).

use serde::{Deserialize, Serialize};

use crate::{
    AgentKind, AgentNotice, AuditRecord, ErrorKind, FatigueLimits, Passkey, Pin, Prompt,
    PromptClosedReason, SiteRule, SiteRuleEntry, StatusView, StepUp, TpmView,
};

/// The words the user types to erase everything when they forgot the PIN (the app's
/// Settings → "I forgot my PIN"). The daemon checks them.
pub const FORGOTTEN_PIN_PHRASE: &str = "erase all passkeys";

/// Client → daemon.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum ClientMessage {
    Hello {
        protocol: u32,
    },
    /// Become the approval agent. Refused while another agent is connected (which is told,
    /// and the refusal audited), unless `take_over` carries the PIN (checked by the TPM).
    RegisterAgent {
        kind: AgentKind,
        #[serde(default)]
        take_over: Option<Pin>,
    },
    /// The user's decision on prompt `id`. `pin` is the PIN typed into the prompt when the
    /// prompt asked for one; the daemon hashes it and forgets it. `choice` is the index of
    /// the account chosen when the prompt listed `accounts`.
    Answer {
        id: u64,
        approve: bool,
        pin: Option<Pin>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        choice: Option<u32>,
    },
    Status,
    /// The TPM in use: maker, firmware, simulated or not, dictionary-attack lockout state.
    TpmInfo,
    ListPasskeys,
    /// `id` is the credential id in hex, as [`Passkey::id`].
    DeletePasskey {
        id: String,
        pin: Option<Pin>,
    },
    SetPin {
        pin: Pin,
    },
    ChangePin {
        old: Pin,
        new: Pin,
    },
    /// Erase every passkey and the PIN. Needs the PIN once one is set.
    Reset {
        pin: Option<Pin>,
    },
    /// Erase every passkey and the PIN without it (forgotten PIN): `confirm` must be
    /// [`FORGOTTEN_PIN_PHRASE`], typed by the user. Audited.
    ResetForgottenPin {
        confirm: String,
    },
    /// Make a credential for login and sudo through pam_u2f (`origin` is its relying party,
    /// `pam://HOST` by default), with the usual prompt and the PIN. Answered with
    /// [`DaemonMessage::PamCredential`].
    PamEnroll {
        origin: String,
        user: String,
    },
    /// Which of these public keys (pam_u2f's x ‖ y, base64) belong to credentials this
    /// authenticator holds for `origin`. Answered with [`DaemonMessage::PamOwned`].
    PamOwned {
        origin: String,
        public_keys: Vec<String>,
    },
    /// Remove the passkeys this TPM cannot use (it was cleared or replaced, or their PIN
    /// index is gone) and take this TPM as the authenticator's from now on. No PIN: only
    /// keys the TPM refuses are removed. Answered with [`DaemonMessage::Pruned`].
    PruneDeadPasskeys,
    SetSettings {
        always_uv: Option<bool>,
        min_pin_length: Option<u8>,
        pin: Option<Pin>,
    },
    /// Set the approval-fatigue limits; anything less strict than now needs the PIN.
    SetFatigueLimits {
        limits: FatigueLimits,
        pin: Option<Pin>,
    },
    /// Set step-up by risk; anything less strict than now needs the PIN.
    SetStepUp {
        step_up: StepUp,
        pin: Option<Pin>,
    },
    /// End the fatigue defence's cool-downs now (needs the PIN once one is set: a program
    /// that floods prompts must not lift its own cool-down).
    LiftCooldowns {
        pin: Option<Pin>,
    },
    AuditTail {
        limit: u32,
    },
    /// Check the audit log: its hash chain, its TPM-certified checkpoints and the TPM's
    /// audit index now. Answered with [`DaemonMessage::AuditChecked`].
    AuditVerify,
    /// The whole log with its checkpoints and a fresh TPM statement certified with `nonce`
    /// (32 bytes, hex; a random one when absent). Answered with
    /// [`DaemonMessage::AuditExported`].
    AuditExport {
        #[serde(default)]
        nonce: Option<String>,
    },
    ListSiteRules,
    /// What an organisation's CA needs to enrol the TPM's attestation key (docs/DESIGN.md
    /// "TPM attestation"). Answered with [`DaemonMessage::AttestationRequest`].
    AttestationRequest,
    /// The CA's answer (its JSON, as `attestation request` printed the request): activated
    /// in the TPM, the AK certificate decrypted, checked and kept.
    AttestationInstall {
        response: String,
    },
    /// `tpm` attestation on or off (on needs an installed certificate).
    SetAttestation {
        on: bool,
        pin: Option<Pin>,
    },
    /// The wizard's test sign-in: a built-in relying party registers and signs in, with the
    /// usual prompts; `ok` when the signature verified, else an error saying why.
    TestSignIn,
    /// Set or clear (`rule`: null) a site's rule. Clearing a rule (or turning a block into
    /// require_pin) needs the PIN once one is set.
    SetSiteRule {
        rp_id: String,
        rule: Option<SiteRule>,
        pin: Option<Pin>,
    },
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
        prompt: Prompt,
        timeout_ms: u64,
        /// When the daemon sent it (Unix ms): the app measures its own display latency.
        #[serde(default)]
        sent_unix_ms: u64,
        /// When the request raised it (Unix ms), before any agent was there to show it:
        /// a prompt that had to start the app is measured from here (cold start).
        #[serde(default)]
        asked_unix_ms: u64,
    },
    /// The prompt is no longer waiting, and why.
    PromptClosed {
        id: u64,
        reason: PromptClosedReason,
    },
    Status(StatusView),
    TpmInfo(TpmView),
    Passkeys {
        passkeys: Vec<Passkey>,
    },
    Audit {
        records: Vec<AuditRecord>,
    },
    /// The audit log checked: how many entries, the first that cannot be trusted (edited,
    /// after a removed one, or no longer vouched for by a checkpoint), and the checkpoints.
    AuditChecked(crate::AuditVerdict),
    AuditExported(Box<crate::AuditExport>),
    SiteRules {
        rules: Vec<SiteRuleEntry>,
    },
    /// The enrolment request, JSON for the CA.
    AttestationRequest {
        request: String,
    },
    /// A pam_u2f credential, as pam_u2f's authfile holds it: the key handle (the credential
    /// ID) and the public key (x ‖ y), both base64.
    PamCredential {
        key_handle: String,
        public_key: String,
    },
    /// The public keys of [`ClientMessage::PamOwned`] that are ours.
    PamOwned {
        ours: Vec<String>,
    },
    /// How many passkeys [`ClientMessage::PruneDeadPasskeys`] removed.
    Pruned {
        removed: u32,
    },
    /// CTAPHID_WINK from a client: "show yourself" (the app flashes its window).
    Wink,
    /// To the registered agent: another program tried to (or did) take its place.
    AgentNotice(AgentNotice),
    /// To the registered agent: something to tell the person that needs no answer (the
    /// approval-fatigue defence started a cool-down).
    Notice {
        text: String,
    },
    Ok,
    /// The request was refused; `message` says why and what to do, `kind` is what a
    /// client decides on (absent from older daemons: [`ErrorKind::Other`]).
    Error {
        #[serde(default)]
        kind: ErrorKind,
        message: String,
    },
}

impl DaemonMessage {
    /// An `error` answer.
    pub fn refusal(kind: ErrorKind, message: impl Into<String>) -> Self {
        DaemonMessage::Error {
            kind,
            message: message.into(),
        }
    }
}
