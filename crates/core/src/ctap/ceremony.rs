//! The parts makeCredential (§6.1.2) and getAssertion (§6.2.2) share: the pinUvAuthParam
//! preamble (steps 1–2), how the request verifies the user (steps 4–6), the token check
//! (step 6), credProtect (§12.1), the user label a prompt shows, and the user's site
//! rules.

use tpm_passkey_ipc::{Operation, Prompt, SiteRule};
use tpm_passkey_wire::Status;

use crate::audit::{AuditEvent, AuditKind, Outcome};
use crate::pin::protocol::Protocol;
use crate::{Approver, Clock, Engine, KeyStore, PinHash};

/// How a request proves user verification, if it does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Uv {
    /// No user verification.
    None,
    /// A pinUvAuthToken (whose pinHash, if any, unlocks PIN-bound keys).
    Token,
    /// Built-in: the user types the PIN into our prompt.
    BuiltIn,
}

/// credProtect levels, §12.1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum CredProtect {
    /// userVerificationOptional (1).
    Optional,
    /// userVerificationOptionalWithCredentialIDList (2): discoverable use needs UV.
    OptionalWithList,
    /// userVerificationRequired (3): every use needs UV.
    Required,
}

impl CredProtect {
    /// A stored level; anything unknown is treated as the strictest.
    pub fn from_level(level: u8) -> Self {
        match level {
            1 => CredProtect::Optional,
            2 => CredProtect::OptionalWithList,
            _ => CredProtect::Required,
        }
    }

    /// A requested level (§12.1: 1–3), or None for anything else.
    pub fn requested(level: u64) -> Option<Self> {
        matches!(level, 1..=3).then(|| Self::from_level(level as u8))
    }

    pub fn level(self) -> u8 {
        match self {
            CredProtect::Optional => 1,
            CredProtect::OptionalWithList => 2,
            CredProtect::Required => 3,
        }
    }

    /// §12.1 for getAssertion: may this credential be used, given how it was found and
    /// whether the user was verified?
    pub fn allows(self, uv: bool, from_allow_list: bool) -> bool {
        match self {
            CredProtect::Optional => true,
            CredProtect::OptionalWithList => uv || from_allow_list,
            CredProtect::Required => uv,
        }
    }
}

/// "alice (Alice Liddell)", "alice", or None.
pub(crate) fn user_label(name: Option<&str>, display: Option<&str>) -> Option<String> {
    match (name, display) {
        (Some(n), Some(d)) if n != d => Some(format!("{n} ({d})")),
        (Some(n), _) => Some(n.to_owned()),
        (None, Some(d)) => Some(d.to_owned()),
        (None, None) => None,
    }
}

/// The account a found (discoverable) credential belongs to, as prompts name it.
pub(crate) fn account_label(f: &crate::credential::Found) -> Option<String> {
    f.user
        .as_ref()
        .and_then(|u| user_label(u.name.as_deref(), u.display_name.as_deref()))
}

/// The accounts of `found`, for a prompt that lets the person choose among them.
pub(crate) fn account_labels(found: &[crate::credential::Found]) -> Vec<String> {
    found
        .iter()
        .map(|f| account_label(f).unwrap_or_else(|| "an unnamed account".into()))
        .collect()
}

impl<K: KeyStore, A: Approver, C: Clock> Engine<K, A, C> {
    /// Steps 1–2 of §6.1.2 and §6.2.2: the zero-length pinUvAuthParam probe and the
    /// protocol checks. Returns the protocol when a pinUvAuthParam is present.
    pub(crate) fn pin_uv_preamble(
        &mut self,
        param: Option<&[u8]>,
        protocol: Option<u64>,
    ) -> Result<Option<Protocol>, Status> {
        let Some(param) = param else { return Ok(None) };
        if param.is_empty() {
            // Step 1: the platform asks which authenticator the user means.
            self.ask_user_pin(&Prompt::new(Operation::Select))?;
            return Err(if self.keys.pin_is_set() {
                Status::PinInvalid
            } else {
                Status::PinNotSet
            });
        }
        Ok(Some(Protocol::from_number(
            protocol.ok_or(Status::MissingParameter)?,
        )?))
    }

    /// Steps 4–6 of §6.1.2 / §6.2.2: how this request verifies the user, given the uv
    /// option, a pinUvAuthParam, and alwaysUv (or the site's require-PIN rule).
    pub(crate) fn choose_uv(
        &self,
        uv_option: bool,
        has_token_param: bool,
        site_requires_pin: bool,
    ) -> Result<Uv, Status> {
        let pin_set = self.keys.pin_is_set();
        if has_token_param {
            return Ok(Uv::Token);
        }
        if uv_option {
            // Built-in user verification is configured once a PIN exists (getInfo "uv").
            return if pin_set {
                Ok(Uv::BuiltIn)
            } else {
                Err(Status::InvalidOption)
            };
        }
        if self.settings().always_uv || site_requires_pin {
            // §6.1.2 step 5 / §6.2.2 step 5 (alwaysUv): verify the user by the built-in
            // method when there is one; without any PIN there is none.
            return if pin_set {
                Ok(Uv::BuiltIn)
            } else {
                Err(Status::PinNotSet)
            };
        }
        Ok(Uv::None)
    }

    /// Step 6: pinUvAuthParam = authenticate(token, clientDataHash), with `permission` and
    /// the rpId binding. Returns the pinHash the token carries (PIN-bound keys need it).
    pub(crate) fn check_token(
        &mut self,
        protocol: Protocol,
        client_data_hash: &[u8],
        param: &[u8],
        permission: u64,
        rp_id: &str,
    ) -> Result<Option<PinHash>, Status> {
        let now = self.now();
        self.pin.check_token(
            protocol,
            client_data_hash,
            param,
            permission,
            Some(rp_id),
            now,
        )?;
        Ok(self.pin.token_pin().cloned())
    }

    /// Step-up by risk: whether a request for `rp_id` that does not ask for user
    /// verification must get the PIN anyway — the last PIN proof is older than the set age
    /// (or none since start), or the site has never had a verified ceremony here. Never
    /// without a PIN (there would be nothing to ask for).
    pub(crate) fn step_up_required(&self, rp_id: &str) -> Result<bool, Status> {
        let s = self.settings().step_up;
        if !s.enabled || !self.keys.pin_is_set() {
            return Ok(false);
        }
        let stale = self.last_uv.is_none_or(|t| {
            self.clock.now().saturating_sub(t) > std::time::Duration::from_secs(s.uv_max_age_secs)
        });
        Ok(stale || (s.new_sites && !self.store.site_known(rp_id)?))
    }

    /// A ceremony for `rp_id` verified the user: the site is known from now on.
    pub(crate) fn note_verified_site(&self, rp_id: &str) {
        if let Err(e) = self.store.mark_site_known(rp_id, self.clock.unix_secs()) {
            tracing::warn!(error = %e, "could not record a known site");
        }
    }

    /// The user's rule for `rp_id`: a blocked site is refused before any prompt (audited as
    /// `kind`); returns whether the site must get the PIN.
    pub(crate) fn apply_site_rule(&self, rp_id: &str, kind: AuditKind) -> Result<bool, Status> {
        match self.store.site_rule(rp_id)? {
            Some(SiteRule::Block) => {
                self.audit(AuditEvent::new(kind, Some(rp_id), Outcome::BlockedSite));
                Err(Status::OperationDenied)
            }
            Some(SiteRule::RequirePin) => Ok(true),
            None => Ok(false),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cred_protect_follows_section_12_1() {
        use CredProtect::*;
        assert!(Optional.allows(false, false));
        assert!(!OptionalWithList.allows(false, false));
        assert!(OptionalWithList.allows(false, true));
        assert!(!Required.allows(false, true));
        assert!(Required.allows(true, false));
        assert_eq!(CredProtect::requested(0), None);
        assert_eq!(CredProtect::requested(4), None);
        assert_eq!(CredProtect::from_level(9), Required, "unknown is strictest");
        for l in 1..=3u8 {
            assert_eq!(CredProtect::from_level(l).level(), l);
        }
    }
}
