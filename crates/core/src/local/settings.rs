//! Settings and site rules from the user's own session. Strengthening needs nothing;
//! weakening (alwaysUv off, lifting a rule, a block turned into require-PIN) needs the PIN.

use tpm_passkey_ipc::{Pin, SiteRule, SiteRuleEntry};

use crate::audit::{AuditEvent, AuditKind, Outcome};
use crate::engine::MAX_PIN_BYTES;
use crate::{Approver, Clock, Engine, KeyStore, ManageError};

impl<K: KeyStore, A: Approver, C: Clock> Engine<K, A, C> {
    /// Turns alwaysUv on or off and sets the minimum PIN length (never lower). Turning
    /// alwaysUv off needs the PIN.
    pub fn set_settings_local(
        &mut self,
        always_uv: Option<bool>,
        min_pin_length: Option<u8>,
        pin: Option<&Pin>,
    ) -> Result<(), ManageError> {
        if let Some(n) = min_pin_length {
            if n < self.settings().min_pin_length || usize::from(n) > MAX_PIN_BYTES {
                return Err(ManageError::PinPolicy {
                    min: self.settings().min_pin_length,
                });
            }
        }
        let verified = if always_uv == Some(false) && self.settings().always_uv {
            self.require_pin_hash(pin, AuditKind::Config)?
        } else {
            None
        };
        let pin_set = self.keys.pin_is_set();
        self.update_settings_anchored(verified.as_ref(), |s| {
            if let Some(on) = always_uv {
                s.always_uv = on;
            }
            if let Some(n) = min_pin_length {
                s.min_pin_length = n;
                if pin_set && s.pin_length < n {
                    s.force_pin_change = true;
                }
            }
        })
        .map_err(ManageError::from_status)?;
        let detail = format!(
            "alwaysUv {}, minPINLength {}",
            if self.settings().always_uv {
                "on"
            } else {
                "off"
            },
            self.settings().min_pin_length
        );
        self.audit(AuditEvent::new(AuditKind::Config, None, Outcome::Ok).detail(detail));
        Ok(())
    }

    /// Sets the approval-fatigue limits. Anything less strict than the current ones (a
    /// higher count, a shorter window or cool-down, the defence off) needs the PIN: a program
    /// flooding prompts must not be able to switch the defence off.
    pub fn set_fatigue_limits_local(
        &mut self,
        limits: crate::FatigueLimits,
        pin: Option<&Pin>,
    ) -> Result<(), ManageError> {
        let old = self.settings().fatigue;
        if limits.enabled && (limits.window_secs == 0 || limits.cooldown_secs == 0) {
            return Err(ManageError::BadPromptLimits);
        }
        let verified = if crate::fatigue::Fatigue::stricter_or_equal(&limits, &old) {
            None
        } else {
            self.require_pin_hash(pin, AuditKind::Config)?
        };
        self.update_settings_anchored(verified.as_ref(), |s| s.fatigue = limits)
            .map_err(ManageError::from_status)?;
        let detail = if limits.enabled {
            format!(
                "prompt limits: {} not approved per site in {} s, {} denials in a row, cool-down {} s",
                limits.unapproved_per_site,
                limits.window_secs,
                limits.denials_in_a_row,
                limits.cooldown_secs
            )
        } else {
            "prompt limits off".to_owned()
        };
        self.audit(AuditEvent::new(AuditKind::Config, None, Outcome::Ok).detail(detail));
        Ok(())
    }

    /// Sets step-up by risk. Anything less strict (off, a longer age, new sites not asked)
    /// needs the PIN.
    pub fn set_step_up_local(
        &mut self,
        step_up: tpm_passkey_ipc::StepUp,
        pin: Option<&Pin>,
    ) -> Result<(), ManageError> {
        let old = self.settings().step_up;
        let verified = if crate::protection::step_up_stricter_or_equal(&step_up, &old) {
            None
        } else {
            self.require_pin_hash(pin, AuditKind::Config)?
        };
        self.update_settings_anchored(verified.as_ref(), |s| s.step_up = step_up)
            .map_err(ManageError::from_status)?;
        let detail = if step_up.enabled {
            format!(
                "step-up: the PIN after {} s without it{}",
                step_up.uv_max_age_secs,
                if step_up.new_sites {
                    ", and for new sites"
                } else {
                    ""
                }
            )
        } else {
            "step-up off".to_owned()
        };
        self.audit(AuditEvent::new(AuditKind::Config, None, Outcome::Ok).detail(detail));
        Ok(())
    }

    /// Ends the fatigue defence's cool-downs; needs the PIN once one is set.
    pub fn lift_cooldowns_local(&mut self, pin: Option<&Pin>) -> Result<(), ManageError> {
        self.require_pin(pin, AuditKind::Config)?;
        self.fatigue.clear();
        self.audit(
            AuditEvent::new(AuditKind::Config, None, Outcome::Ok)
                .detail("prompt cool-downs lifted"),
        );
        Ok(())
    }

    /// The cool-downs in force, for status screens.
    pub fn cooldowns(&mut self) -> Vec<tpm_passkey_ipc::CooldownView> {
        let now = self.clock.now().as_secs();
        self.fatigue
            .active(now)
            .into_iter()
            .map(|c| tpm_passkey_ipc::CooldownView {
                site: c.site,
                seconds_left: c.until.saturating_sub(now),
                reason: c.reason,
            })
            .collect()
    }

    pub fn site_rules(&self) -> Result<Vec<SiteRuleEntry>, ManageError> {
        Ok(self
            .store
            .site_rules()
            .map_err(|e| ManageError::from_status(e.into()))?
            .into_iter()
            .map(|(rp_id, rule)| SiteRuleEntry { rp_id, rule })
            .collect())
    }

    /// Sets or clears a site's rule. Weakening protection (clearing a rule, or turning a
    /// block into require-PIN) needs the PIN once one is set, as turning alwaysUv off does.
    pub fn set_site_rule_local(
        &mut self,
        rp_id: &str,
        rule: Option<SiteRule>,
        pin: Option<&Pin>,
    ) -> Result<(), ManageError> {
        let rp_id = rp_id.trim().to_ascii_lowercase();
        if rp_id.is_empty() || rp_id.len() > 253 || rp_id.contains(char::is_whitespace) {
            return Err(ManageError::NotASite);
        }
        let old = self
            .store
            .site_rule(&rp_id)
            .map_err(|e| ManageError::from_status(e.into()))?;
        let weaker = matches!(
            (old, rule),
            (Some(_), None) | (Some(SiteRule::Block), Some(SiteRule::RequirePin))
        );
        let verified = if weaker {
            self.require_pin_hash(pin, AuditKind::Config)?
        } else {
            None
        };
        let site = rp_id.clone();
        self.anchored_change(
            verified.as_ref(),
            |rules| match rule {
                Some(r) => drop(rules.insert(site, r)),
                None => drop(rules.remove(&site)),
            },
            &[],
            |s| s.set_site_rule(&rp_id, rule),
        )
        .map_err(ManageError::from_status)?;
        let detail = format!("site {}", rule.map_or("no rule", SiteRule::as_str));
        self.audit(AuditEvent::new(AuditKind::Config, Some(&rp_id), Outcome::Ok).detail(detail));
        Ok(())
    }
}
