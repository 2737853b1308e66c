//! The user-visible settings (CTAP 2.1 §6.11 authenticatorConfig, §6.4 getInfo), kept as
//! one JSON value in the store.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settings {
    /// alwaysUv: every credential needs user verification (default on, as Windows Hello).
    pub always_uv: bool,
    /// minPINLength in Unicode code points (§6.4, default 4).
    pub min_pin_length: u8,
    /// Relying parties allowed to read minPINLength (§12.4).
    pub min_pin_length_rp_ids: Vec<String>,
    /// forcePINChange (§6.4 0x0C).
    pub force_pin_change: bool,
    /// Length of the current PIN in code points (0 when unknown), to decide forcePINChange.
    pub pin_length: u8,
    /// The approval-fatigue defence's limits (settings saved before it existed get the
    /// defaults).
    #[serde(default)]
    pub fatigue: crate::fatigue::FatigueLimits,
    /// Step-up by risk (settings saved before it existed get the defaults).
    #[serde(default)]
    pub step_up: tpm_passkey_ipc::StepUp,
    /// `tpm` attestation (WebAuthn §8.3) with the installed AK certificate, instead of
    /// packed self-attestation; off unless the person turns it on.
    #[serde(default)]
    pub tpm_attestation: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            always_uv: true,
            min_pin_length: 4,
            min_pin_length_rp_ids: Vec::new(),
            force_pin_change: false,
            pin_length: 0,
            fatigue: crate::fatigue::FatigueLimits::default(),
            step_up: tpm_passkey_ipc::StepUp::default(),
            tpm_attestation: false,
        }
    }
}
