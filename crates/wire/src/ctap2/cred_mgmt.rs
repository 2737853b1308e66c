//! authenticatorCredentialManagement (0x0A), CTAP 2.1 §6.8.

use super::common::{CredentialDescriptor, RpEntity, UserEntity};
use crate::cbor::{self, Map, MapBuilder, Value};
use crate::cose::{P256Key, ALG_ES256};
use crate::Status;

/// §6.8 subCommand values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CredMgmtSubCommand {
    GetCredsMetadata,
    EnumerateRpsBegin,
    EnumerateRpsGetNextRp,
    EnumerateCredentialsBegin,
    EnumerateCredentialsGetNextCredential,
    DeleteCredential,
    UpdateUserInformation,
}

impl CredMgmtSubCommand {
    pub fn code(self) -> u8 {
        match self {
            Self::GetCredsMetadata => 0x01,
            Self::EnumerateRpsBegin => 0x02,
            Self::EnumerateRpsGetNextRp => 0x03,
            Self::EnumerateCredentialsBegin => 0x04,
            Self::EnumerateCredentialsGetNextCredential => 0x05,
            Self::DeleteCredential => 0x06,
            Self::UpdateUserInformation => 0x07,
        }
    }

    fn from_u64(v: u64) -> Result<Self, Status> {
        Ok(match v {
            0x01 => Self::GetCredsMetadata,
            0x02 => Self::EnumerateRpsBegin,
            0x03 => Self::EnumerateRpsGetNextRp,
            0x04 => Self::EnumerateCredentialsBegin,
            0x05 => Self::EnumerateCredentialsGetNextCredential,
            0x06 => Self::DeleteCredential,
            0x07 => Self::UpdateUserInformation,
            _ => return Err(Status::InvalidSubcommand),
        })
    }
}

/// subCommandParams (0x02): rpIDHash (0x01), credentialID (0x02), user (0x03).
#[derive(Debug, Clone, Default)]
pub struct CredMgmtParams {
    pub rp_id_hash: Option<[u8; 32]>,
    pub credential_id: Option<CredentialDescriptor>,
    pub user: Option<UserEntity>,
}

/// §6.8 request.
#[derive(Debug, Clone)]
pub struct CredMgmt {
    pub sub_command: CredMgmtSubCommand,
    pub params: CredMgmtParams,
    /// The subCommandParams exactly as encoded by the client, which pinUvAuthParam covers.
    pub params_bytes: Vec<u8>,
    pub protocol: Option<u64>,
    pub pin_uv_auth_param: Option<Vec<u8>>,
}

impl CredMgmt {
    pub fn parse(params: &[u8]) -> Result<Self, Status> {
        let mut m = Map::decode(params)?;
        let sub_command = CredMgmtSubCommand::from_u64(cbor::uint(m.require(0x01)?)?)?;
        let (params, params_bytes) = match m.take(0x02) {
            Some(v) => {
                let bytes = cbor::encode_as_is(&v);
                let mut p = Map::from_value(v)?;
                let parsed = CredMgmtParams {
                    rp_id_hash: p.take(0x01).map(cbor::fixed_bytes::<32>).transpose()?,
                    credential_id: p.take(0x02).map(CredentialDescriptor::parse).transpose()?,
                    user: p.take(0x03).map(UserEntity::parse).transpose()?,
                };
                (parsed, bytes)
            }
            None => (CredMgmtParams::default(), Vec::new()),
        };
        Ok(Self {
            sub_command,
            params,
            params_bytes,
            protocol: m.take(0x03).map(cbor::uint).transpose()?,
            pin_uv_auth_param: m.take(0x04).map(cbor::bytes).transpose()?,
        })
    }
}

/// §6.8 response fields; unset ones are left out.
#[derive(Debug, Clone, Default)]
pub struct CredMgmtResponse {
    pub existing_count: Option<u64>,
    pub remaining_count: Option<u64>,
    pub rp: Option<RpEntity>,
    pub rp_id_hash: Option<[u8; 32]>,
    pub total_rps: Option<u64>,
    pub user: Option<UserEntity>,
    pub credential_id: Option<Vec<u8>>,
    pub public_key: Option<P256Key>,
    pub total_credentials: Option<u64>,
    pub cred_protect: Option<u8>,
}

impl CredMgmtResponse {
    pub fn encode(&self) -> Vec<u8> {
        let v = MapBuilder::new()
            .put_opt(0x01, self.existing_count)
            .put_opt(0x02, self.remaining_count)
            .put_opt(0x03, self.rp.as_ref().map(RpEntity::to_cbor))
            .put_opt(0x04, self.rp_id_hash.map(|h| Value::Bytes(h.to_vec())))
            .put_opt(0x05, self.total_rps)
            .put_opt(0x06, self.user.as_ref().map(|u| u.to_cbor(true)))
            .put_opt(
                0x07,
                self.credential_id
                    .as_deref()
                    .map(CredentialDescriptor::to_cbor),
            )
            .put_opt(0x08, self.public_key.as_ref().map(|k| k.to_cose(ALG_ES256)))
            .put_opt(0x09, self.total_credentials)
            .put_opt(0x0a, self.cred_protect)
            .build();
        match &v {
            Value::Map(m) if m.is_empty() => Vec::new(),
            _ => cbor::encode(v),
        }
    }
}
