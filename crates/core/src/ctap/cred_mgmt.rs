//! authenticatorCredentialManagement, CTAP 2.1 §6.8.

use tpm_passkey_wire::ctap2::{
    CredMgmt, CredMgmtResponse, CredMgmtSubCommand, RpEntity, UserEntity,
};
use tpm_passkey_wire::Status;

use crate::audit::{AuditEvent, AuditKind, Outcome};
use crate::engine::MAX_DISCOVERABLE;
use crate::pin::protocol::Protocol;
use crate::pin::token::permission;
use crate::secret::sha256;
use crate::session::Session;
use crate::store::Credential;
use crate::{Approver, Clock, Engine, KeyStore};

fn credential_response(c: &Credential, total: Option<u64>) -> CredMgmtResponse {
    CredMgmtResponse {
        user: Some(UserEntity {
            id: c.user_id.clone(),
            name: c.user_name.clone(),
            display_name: c.user_display_name.clone(),
        }),
        credential_id: Some(c.id.clone()),
        public_key: Some(c.public_key.clone()),
        total_credentials: total,
        cred_protect: Some(c.cred_protect),
        ..Default::default()
    }
}

fn rp_response(rp: RpEntity, total: Option<u64>) -> CredMgmtResponse {
    CredMgmtResponse {
        rp_id_hash: Some(sha256(rp.id.as_bytes())),
        rp: Some(rp),
        total_rps: total,
        ..Default::default()
    }
}

impl<K: KeyStore, A: Approver, C: Clock> Engine<K, A, C> {
    pub(crate) fn credential_management_cmd(
        &mut self,
        req: CredMgmt,
    ) -> Result<CredMgmtResponse, Status> {
        use CredMgmtSubCommand::*;
        // GetNext subcommands continue an enumeration and carry no pinUvAuthParam.
        match req.sub_command {
            EnumerateRpsGetNextRp => return self.next_rp(),
            EnumerateCredentialsGetNextCredential => return self.next_credential(),
            _ => {}
        }
        // §6.8.2 steps: pinUvAuthParam over subCommand || subCommandParams, cm permission.
        let param = req
            .pin_uv_auth_param
            .as_deref()
            .ok_or(Status::PuatRequired)?;
        let protocol = Protocol::from_number(req.protocol.ok_or(Status::MissingParameter)?)?;
        let message = [&[req.sub_command.code()][..], &req.params_bytes].concat();
        let now = self.now();
        self.pin
            .check_token(protocol, &message, param, permission::CM, None, now)?;
        let bound_rp = self.pin.token_rp_bound().map(str::to_owned);

        match req.sub_command {
            GetCredsMetadata | EnumerateRpsBegin if bound_rp.is_some() => {
                Err(Status::PinAuthInvalid)
            }
            GetCredsMetadata => {
                let n = self.store.credential_count()?;
                Ok(CredMgmtResponse {
                    existing_count: Some(n),
                    remaining_count: Some(MAX_DISCOVERABLE.saturating_sub(n)),
                    ..Default::default()
                })
            }
            EnumerateRpsBegin => {
                let mut rps: Vec<RpEntity> = self
                    .store
                    .relying_parties()?
                    .into_iter()
                    .map(|(id, name)| RpEntity { id, name })
                    .collect();
                if rps.is_empty() {
                    return Err(Status::NoCredentials);
                }
                let total = rps.len() as u64;
                let first = rps.remove(0);
                self.session = Session::Rps(rps.into_iter().map(|r| r.id).collect());
                Ok(rp_response(first, Some(total)))
            }
            EnumerateCredentialsBegin => {
                let hash = req.params.rp_id_hash.ok_or(Status::MissingParameter)?;
                if let Some(rp) = &bound_rp {
                    if sha256(rp.as_bytes()) != hash {
                        return Err(Status::PinAuthInvalid);
                    }
                }
                // The site whose rpIdHash this is: one hash per site, not per credential.
                let rp = self
                    .store
                    .rp_ids()?
                    .into_iter()
                    .find(|id| sha256(id.as_bytes()) == hash);
                let mut creds: Vec<Credential> = match rp {
                    Some(id) => self.store.credentials_for_rp(&id)?,
                    None => Vec::new(),
                };
                if creds.is_empty() {
                    return Err(Status::NoCredentials);
                }
                let total = creds.len() as u64;
                let first = creds.remove(0);
                self.session = Session::Credentials(creds.into_iter().map(|c| c.id).collect());
                Ok(credential_response(&first, Some(total)))
            }
            DeleteCredential => {
                let id = req.params.credential_id.ok_or(Status::MissingParameter)?.id;
                let c = self.store.credential(&id)?.ok_or(Status::NoCredentials)?;
                if bound_rp.as_deref().is_some_and(|rp| rp != c.rp_id) {
                    return Err(Status::PinAuthInvalid);
                }
                // Deleted with the token's PIN: it must never come back (issue 21).
                let pin = self.pin.token_pin().cloned();
                self.anchored_change(
                    pin.as_ref(),
                    |_| {},
                    std::slice::from_ref(&id),
                    |s| s.delete_credential(&id),
                )?;
                self.audit(AuditEvent::new(
                    AuditKind::Delete,
                    Some(&c.rp_id),
                    Outcome::Ok,
                ));
                Ok(CredMgmtResponse::default())
            }
            UpdateUserInformation => {
                let id = req.params.credential_id.ok_or(Status::MissingParameter)?.id;
                let user = req.params.user.ok_or(Status::MissingParameter)?;
                let c = self.store.credential(&id)?.ok_or(Status::NoCredentials)?;
                if bound_rp.as_deref().is_some_and(|rp| rp != c.rp_id) {
                    return Err(Status::PinAuthInvalid);
                }
                // §6.8.6: the user handle must be the credential's.
                if user.id != c.user_id {
                    return Err(Status::InvalidParameter);
                }
                self.sealed_change(|s| {
                    s.update_user(&id, user.name.as_deref(), user.display_name.as_deref())
                })?;
                self.audit(AuditEvent::new(
                    AuditKind::UpdateUser,
                    Some(&c.rp_id),
                    Outcome::Ok,
                ));
                Ok(CredMgmtResponse::default())
            }
            _ => Err(Status::InvalidSubcommand),
        }
    }

    /// enumerateRPsGetNextRP (§6.8.3): the next relying party that still has credentials
    /// (looked up again, so that nothing erased meanwhile comes back).
    fn next_rp(&mut self) -> Result<CredMgmtResponse, Status> {
        let Session::Rps(mut rest) = std::mem::take(&mut self.session) else {
            return Err(Status::NotAllowed);
        };
        while !rest.is_empty() {
            let rp_id = rest.remove(0);
            if let Some(c) = self.store.credentials_for_rp(&rp_id)?.into_iter().next() {
                if !rest.is_empty() {
                    self.session = Session::Rps(rest);
                }
                return Ok(rp_response(
                    RpEntity {
                        id: c.rp_id,
                        name: c.rp_name,
                    },
                    None,
                ));
            }
        }
        Err(Status::NotAllowed)
    }

    /// enumerateCredentialsGetNextCredential (§6.8.5): the next credential that still
    /// exists.
    fn next_credential(&mut self) -> Result<CredMgmtResponse, Status> {
        let Session::Credentials(mut rest) = std::mem::take(&mut self.session) else {
            return Err(Status::NotAllowed);
        };
        while !rest.is_empty() {
            let id = rest.remove(0);
            if let Some(c) = self.store.credential(&id)? {
                if !rest.is_empty() {
                    self.session = Session::Credentials(rest);
                }
                return Ok(credential_response(&c, None));
            }
        }
        Err(Status::NotAllowed)
    }
}
