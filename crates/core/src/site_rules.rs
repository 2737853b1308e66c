//! Site rules: the user's own policy on top of what sites ask. A blocked site gets
//! CTAP2_ERR_OPERATION_DENIED before any prompt is shown (so it cannot nag); a site that
//! must always get the PIN is treated as if alwaysUv were on for it alone.

use tpm_passkey_wire::Status;

use crate::engine::{store_err, Engine};
use crate::{Approver, AuditEvent, KeyStore};

/// One rule for one relying party id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SiteRule {
    Block,
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

impl<K: KeyStore, A: Approver> Engine<K, A> {
    /// Refuses a blocked site (audited as `event`, outcome "blocked_site"). Returns whether
    /// the site must get the PIN.
    pub(crate) fn apply_site_rule(&self, rp_id: &str, event: &'static str) -> Result<bool, Status> {
        match self.store.site_rule(rp_id).map_err(store_err)? {
            Some(SiteRule::Block) => {
                self.audit(AuditEvent::new(event, Some(rp_id), "blocked_site"));
                Err(Status::OperationDenied)
            }
            Some(SiteRule::RequirePin) => Ok(true),
            None => Ok(false),
        }
    }

    pub fn site_rules(&self) -> Result<Vec<(String, SiteRule)>, Status> {
        self.store.site_rules().map_err(store_err)
    }

    /// Sets or clears a site's rule. Weakening protection (clearing a rule, or turning a
    /// block into require-PIN) needs the PIN once one is set, as turning alwaysUv off does.
    pub fn set_site_rule_local(
        &mut self,
        rp_id: &str,
        rule: Option<SiteRule>,
        pin: Option<&str>,
    ) -> Result<(), Status> {
        let rp_id = rp_id.trim().to_ascii_lowercase();
        if rp_id.is_empty() || rp_id.len() > 253 || rp_id.contains(char::is_whitespace) {
            return Err(Status::InvalidParameter);
        }
        let old = self.store.site_rule(&rp_id).map_err(store_err)?;
        let weaker = matches!(
            (old, rule),
            (Some(_), None) | (Some(SiteRule::Block), Some(SiteRule::RequirePin))
        );
        if weaker {
            self.require_pin(pin, "config")?;
        }
        self.store.set_site_rule(&rp_id, rule).map_err(store_err)?;
        let detail = format!("site {}", rule.map_or("no rule", SiteRule::as_str));
        self.audit(AuditEvent::new("config", Some(&rp_id), "ok").detail(detail));
        Ok(())
    }
}
