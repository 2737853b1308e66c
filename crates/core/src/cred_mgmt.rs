//! authenticatorCredentialManagement, CTAP 2.1 §6.8.

use tpm_passkey_wire::ctap2::{
    CredMgmt, CredMgmtResponse, CredMgmtSubCommand, RpEntity, UserEntity,
};
use tpm_passkey_wire::Status;

use crate::approver::Approver;
use crate::engine::{sha256, store_err, Engine, MAX_DISCOVERABLE};
use crate::pin_protocol::Protocol;
use crate::store::Credential;
use crate::token::permission;
use crate::{AuditEvent, KeyStore};

/// The state of an enumeration in progress (§6.8.3 / §6.8.5): what GetNext returns next.
pub(crate) enum Enumeration {
    Rps(Vec<RpEntity>),
    Credentials(Vec<Credential>),
}

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

impl<K: KeyStore, A: Approver> Engine<K, A> {
    pub(crate) fn credential_management(
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
        self.enumeration = None;
        // §6.8.2 steps: pinUvAuthParam over subCommand || subCommandParams, cm permission.
        let param = req
            .pin_uv_auth_param
            .as_deref()
            .ok_or(Status::PuatRequired)?;
        let protocol = Protocol::from_number(req.protocol.ok_or(Status::MissingParameter)?)?;
        let message = [&[req.sub_command.code()][..], &req.params_bytes].concat();
        self.token
            .check(protocol, &message, param, permission::CM, None)?;
        let bound_rp = self.token.rp_bound().map(str::to_owned);

        match req.sub_command {
            GetCredsMetadata | EnumerateRpsBegin if bound_rp.is_some() => {
                Err(Status::PinAuthInvalid)
            }
            GetCredsMetadata => {
                let n = self.store.credential_count().map_err(store_err)?;
                Ok(CredMgmtResponse {
                    existing_count: Some(n),
                    remaining_count: Some(MAX_DISCOVERABLE.saturating_sub(n)),
                    ..Default::default()
                })
            }
            EnumerateRpsBegin => {
                let mut rps: Vec<RpEntity> = Vec::new();
                for c in self.store.all_credentials().map_err(store_err)? {
                    if !rps.iter().any(|r| r.id == c.rp_id) {
                        rps.push(RpEntity {
                            id: c.rp_id,
                            name: c.rp_name,
                        });
                    }
                }
                if rps.is_empty() {
                    return Err(Status::NoCredentials);
                }
                let total = rps.len() as u64;
                let first = rps.remove(0);
                self.enumeration = Some(Enumeration::Rps(rps));
                Ok(CredMgmtResponse {
                    rp_id_hash: Some(sha256(first.id.as_bytes())),
                    rp: Some(first),
                    total_rps: Some(total),
                    ..Default::default()
                })
            }
            EnumerateCredentialsBegin => {
                let hash = req.params.rp_id_hash.ok_or(Status::MissingParameter)?;
                let mut creds: Vec<Credential> = self
                    .store
                    .all_credentials()
                    .map_err(store_err)?
                    .into_iter()
                    .filter(|c| sha256(c.rp_id.as_bytes()) == hash)
                    .collect();
                if let Some(rp) = &bound_rp {
                    if sha256(rp.as_bytes()) != hash {
                        return Err(Status::PinAuthInvalid);
                    }
                }
                if creds.is_empty() {
                    return Err(Status::NoCredentials);
                }
                let total = creds.len() as u64;
                let first = creds.remove(0);
                self.enumeration = Some(Enumeration::Credentials(creds));
                Ok(credential_response(&first, Some(total)))
            }
            DeleteCredential => {
                let id = req.params.credential_id.ok_or(Status::MissingParameter)?.id;
                let c = self
                    .store
                    .credential(&id)
                    .map_err(store_err)?
                    .ok_or(Status::NoCredentials)?;
                if bound_rp.as_deref().is_some_and(|rp| rp != c.rp_id) {
                    return Err(Status::PinAuthInvalid);
                }
                self.store.delete_credential(&id).map_err(store_err)?;
                self.audit(AuditEvent::new("delete", Some(&c.rp_id), "ok"));
                Ok(CredMgmtResponse::default())
            }
            UpdateUserInformation => {
                let id = req.params.credential_id.ok_or(Status::MissingParameter)?.id;
                let user = req.params.user.ok_or(Status::MissingParameter)?;
                let c = self
                    .store
                    .credential(&id)
                    .map_err(store_err)?
                    .ok_or(Status::NoCredentials)?;
                if bound_rp.as_deref().is_some_and(|rp| rp != c.rp_id) {
                    return Err(Status::PinAuthInvalid);
                }
                // §6.8.6: the user handle must be the credential's.
                if user.id != c.user_id {
                    return Err(Status::InvalidParameter);
                }
                self.store
                    .update_user(&id, user.name.as_deref(), user.display_name.as_deref())
                    .map_err(store_err)?;
                self.audit(AuditEvent::new("update_user", Some(&c.rp_id), "ok"));
                Ok(CredMgmtResponse::default())
            }
            _ => Err(Status::InvalidSubcommand),
        }
    }

    /// enumerateRPsGetNextRP (§6.8.3).
    fn next_rp(&mut self) -> Result<CredMgmtResponse, Status> {
        let rp = match &mut self.enumeration {
            Some(Enumeration::Rps(rps)) => next_of(rps),
            _ => None,
        };
        let Some(rp) = rp else {
            self.enumeration = None;
            return Err(Status::NotAllowed);
        };
        Ok(CredMgmtResponse {
            rp_id_hash: Some(sha256(rp.id.as_bytes())),
            rp: Some(rp),
            ..Default::default()
        })
    }

    /// enumerateCredentialsGetNextCredential (§6.8.5).
    fn next_credential(&mut self) -> Result<CredMgmtResponse, Status> {
        let c = match &mut self.enumeration {
            Some(Enumeration::Credentials(creds)) => next_of(creds),
            _ => None,
        };
        let Some(c) = c else {
            self.enumeration = None;
            return Err(Status::NotAllowed);
        };
        Ok(credential_response(&c, None))
    }
}

/// The next item of an enumeration, in order.
fn next_of<T>(items: &mut Vec<T>) -> Option<T> {
    (!items.is_empty()).then(|| items.remove(0))
}
