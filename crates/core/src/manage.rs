//! Management from the user's own session (the app and the CLI, through the daemon's
//! control socket), outside CTAP: list and delete passkeys, set and change the PIN, reset,
//! settings, the audit log. Each action is audited like its CTAP counterpart.
//!
//! The control socket is reachable only by the same user, but a same-user program is not
//! necessarily the user: lowering protection (turning alwaysUv off, deleting a passkey,
//! reset) needs the PIN once one is set, checked by the TPM.

use serde::Serialize;
use tpm_passkey_wire::Status;

use crate::approver::Approver;
use crate::engine::{key_err, store_err, Engine, MAX_PIN_BYTES};
use crate::store::AuditRecord;
use crate::{AuditEvent, KeyStore, PinHash};

/// A passkey as the app lists it: no key material.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PasskeyInfo {
    /// The credential id, hex.
    pub id: String,
    pub rp_id: String,
    pub rp_name: Option<String>,
    pub user_name: Option<String>,
    pub user_display_name: Option<String>,
    pub created: i64,
    pub last_used: Option<i64>,
    pub sign_count: u32,
    pub pin_bound: bool,
    pub cred_protect: u8,
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

impl<K: KeyStore, A: Approver> Engine<K, A> {
    /// Every discoverable passkey, grouped by site.
    pub fn passkeys(&self) -> Result<Vec<PasskeyInfo>, Status> {
        Ok(self
            .store
            .all_credentials()
            .map_err(store_err)?
            .into_iter()
            .map(|c| PasskeyInfo {
                id: hex(&c.id),
                rp_id: c.rp_id,
                rp_name: c.rp_name,
                user_name: c.user_name,
                user_display_name: c.user_display_name,
                created: c.created,
                last_used: c.last_used,
                sign_count: c.sign_count,
                pin_bound: c.pin_bound,
                cred_protect: c.cred_protect,
            })
            .collect())
    }

    /// The PIN's retries left (None when no PIN is set).
    pub fn pin_retries_left(&mut self) -> Result<Option<u8>, Status> {
        if !self.keys.pin_is_set() {
            return Ok(None);
        }
        self.keys.pin_retries().map(Some).map_err(key_err)
    }

    /// Checks `pin` when a PIN is set (wrong PINs count in the TPM as anywhere else, and
    /// the three-per-start-up pause of §6.5.5.7 applies here too: the control socket must
    /// not be a way around it).
    pub(crate) fn require_pin(
        &mut self,
        pin: Option<&str>,
        event: &'static str,
    ) -> Result<(), Status> {
        if !self.keys.pin_is_set() {
            return Ok(());
        }
        let pin = pin.ok_or(Status::PuatRequired)?;
        self.refuse_if_blocked()?;
        self.verify_pin(&PinHash::from_pin(pin), event)
    }

    /// Deletes one passkey by its hex id; false if there was none.
    pub fn delete_passkey(&mut self, id_hex: &str, pin: Option<&str>) -> Result<bool, Status> {
        let id = unhex(id_hex).ok_or(Status::InvalidParameter)?;
        let Some(c) = self.store.credential(&id).map_err(store_err)? else {
            return Ok(false);
        };
        self.require_pin(pin, "delete")?;
        self.store.delete_credential(&id).map_err(store_err)?;
        self.audit(AuditEvent::new("delete", Some(&c.rp_id), "ok").detail("local"));
        Ok(true)
    }

    /// Sets the first PIN (§6.5.5.5's policy: minPINLength code points, at most 63 bytes).
    pub fn set_pin_local(&mut self, new: &str) -> Result<(), Status> {
        if self.keys.pin_is_set() {
            return Err(Status::NotAllowed);
        }
        let length = self.check_pin_policy(new)?;
        self.keys
            .set_pin(&PinHash::from_pin(new))
            .map_err(key_err)?;
        self.after_pin_change(length, "pin_set")
    }

    /// Changes the PIN after the TPM checked the old one.
    pub fn change_pin_local(&mut self, old: &str, new: &str) -> Result<(), Status> {
        if !self.keys.pin_is_set() {
            return Err(Status::PinNotSet);
        }
        let length = self.check_pin_policy(new)?;
        let old_hash = PinHash::from_pin(old);
        self.verify_pin(&old_hash, "pin_change")?;
        self.keys
            .change_pin(&old_hash, &PinHash::from_pin(new))
            .map_err(key_err)?;
        self.token.reset();
        self.after_pin_change(length, "pin_change")
    }

    fn check_pin_policy(&self, pin: &str) -> Result<u8, Status> {
        let code_points = pin.chars().count();
        if pin.len() > MAX_PIN_BYTES || code_points < usize::from(self.settings.min_pin_length) {
            return Err(Status::PinPolicyViolation);
        }
        Ok(code_points.min(255) as u8)
    }

    fn after_pin_change(&mut self, length: u8, event: &'static str) -> Result<(), Status> {
        self.save_key_state()?;
        self.settings.pin_length = length;
        self.settings.force_pin_change = false;
        self.save_settings()?;
        self.audit(AuditEvent::new(event, None, "ok").detail("local"));
        Ok(())
    }

    /// Turns alwaysUv on or off and sets the minimum PIN length (never lower). Turning
    /// alwaysUv off needs the PIN.
    pub fn set_settings_local(
        &mut self,
        always_uv: Option<bool>,
        min_pin_length: Option<u8>,
        pin: Option<&str>,
    ) -> Result<(), Status> {
        if let Some(n) = min_pin_length {
            if n < self.settings.min_pin_length || usize::from(n) > MAX_PIN_BYTES {
                return Err(Status::PinPolicyViolation);
            }
        }
        if always_uv == Some(false) && self.settings.always_uv {
            self.require_pin(pin, "config")?;
        }
        if let Some(on) = always_uv {
            self.settings.always_uv = on;
        }
        if let Some(n) = min_pin_length {
            self.settings.min_pin_length = n;
            if self.keys.pin_is_set() && self.settings.pin_length < n {
                self.settings.force_pin_change = true;
            }
        }
        self.save_settings()?;
        let detail = format!(
            "alwaysUv {}, minPINLength {}",
            if self.settings.always_uv { "on" } else { "off" },
            self.settings.min_pin_length
        );
        self.audit(AuditEvent::new("config", None, "ok").detail(detail));
        Ok(())
    }

    /// Erases every passkey and the PIN (the caller has asked the user to confirm).
    pub fn reset_local(&mut self, pin: Option<&str>) -> Result<(), Status> {
        self.require_pin(pin, "reset")?;
        self.erase_all()
    }

    /// The last `limit` audit records, oldest first.
    pub fn audit_tail(&self, limit: u32) -> Result<Vec<AuditRecord>, Status> {
        self.store.audit_tail(limit).map_err(store_err)
    }
}
