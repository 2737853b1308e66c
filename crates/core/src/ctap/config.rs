//! authenticatorConfig, CTAP 2.1 §6.11.

use tpm_passkey_wire::ctap2::{Config, ConfigSubCommand};
use tpm_passkey_wire::Status;

use crate::audit::{AuditEvent, AuditKind, Outcome};
use crate::engine::MAX_PIN_BYTES;
use crate::pin::protocol::Protocol;
use crate::pin::token::permission;
use crate::{Approver, Clock, Engine, KeyStore};

/// §6.11.4: how many relying parties may read minPINLength.
const MAX_MIN_PIN_LENGTH_RP_IDS: usize = 8;

impl<K: KeyStore, A: Approver, C: Clock> Engine<K, A, C> {
    pub(crate) fn config_cmd(&mut self, req: Config) -> Result<(), Status> {
        // §6.11.1: once a PIN exists, every subcommand needs a token with acfg over
        // 32×0xff || 0x0d || subCommand || subCommandParams.
        if self.keys.pin_is_set() {
            let param = req
                .pin_uv_auth_param
                .as_deref()
                .ok_or(Status::PuatRequired)?;
            let protocol = Protocol::from_number(req.protocol.ok_or(Status::MissingParameter)?)?;
            let mut message = vec![0xff; 32];
            message.push(0x0d);
            message.push(req.sub_command.code());
            message.extend_from_slice(&req.params_bytes);
            let now = self.now();
            self.pin
                .check_token(protocol, &message, param, permission::ACFG, None, now)?;
        }
        match req.sub_command {
            // §6.11.2: not enterprise-attestation capable.
            ConfigSubCommand::EnableEnterpriseAttestation => Err(Status::InvalidParameter),
            ConfigSubCommand::ToggleAlwaysUv => {
                // Turning it off loosens: the statement is signed with the token's PIN
                // (issue 21); a token with no PIN (none set) signs nothing.
                let pin = self
                    .settings()
                    .always_uv
                    .then(|| self.pin.token_pin().cloned())
                    .flatten();
                self.update_settings_anchored(pin.as_ref(), |s| s.always_uv = !s.always_uv)?;
                let detail = format!(
                    "alwaysUv {}",
                    if self.settings().always_uv {
                        "on"
                    } else {
                        "off"
                    }
                );
                self.audit(AuditEvent::new(AuditKind::Config, None, Outcome::Ok).detail(detail));
                Ok(())
            }
            ConfigSubCommand::SetMinPinLength {
                new_min_pin_length,
                rp_ids,
                force_change_pin,
            } => {
                // §6.11.4.
                let new_min = match new_min_pin_length {
                    Some(n) => u8::try_from(n).map_err(|_| Status::PinPolicyViolation)?,
                    None => self.settings().min_pin_length,
                };
                if new_min < self.settings().min_pin_length || usize::from(new_min) > MAX_PIN_BYTES
                {
                    return Err(Status::PinPolicyViolation);
                }
                if let Some(ids) = &rp_ids {
                    if ids.len() > MAX_MIN_PIN_LENGTH_RP_IDS {
                        return Err(Status::PinPolicyViolation);
                    }
                }
                if force_change_pin && !self.keys.pin_is_set() {
                    return Err(Status::PinNotSet);
                }
                let pin_set = self.keys.pin_is_set();
                self.update_settings(|s| {
                    s.min_pin_length = new_min;
                    if let Some(ids) = rp_ids {
                        s.min_pin_length_rp_ids = ids;
                    }
                    let too_short = pin_set && s.pin_length < new_min;
                    s.force_pin_change |= force_change_pin || too_short;
                })?;
                self.audit(
                    AuditEvent::new(AuditKind::Config, None, Outcome::Ok)
                        .detail(format!("minPINLength {new_min}")),
                );
                Ok(())
            }
            _ => Err(Status::InvalidSubcommand),
        }
    }
}
