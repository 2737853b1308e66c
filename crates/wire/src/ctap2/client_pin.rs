//! authenticatorClientPIN (0x06), CTAP 2.1 §6.5.

use crate::cbor::{self, Map, MapBuilder, Value};
use crate::cose::{P256Key, ALG_ECDH_ES_HKDF_256};
use crate::Status;

/// §6.5.5 subCommand values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PinSubCommand {
    GetPinRetries,
    GetKeyAgreement,
    SetPin,
    ChangePin,
    GetPinToken,
    GetPinUvAuthTokenUsingUvWithPermissions,
    GetUvRetries,
    GetPinUvAuthTokenUsingPinWithPermissions,
}

impl PinSubCommand {
    fn from_u64(v: u64) -> Result<Self, Status> {
        Ok(match v {
            0x01 => Self::GetPinRetries,
            0x02 => Self::GetKeyAgreement,
            0x03 => Self::SetPin,
            0x04 => Self::ChangePin,
            0x05 => Self::GetPinToken,
            0x06 => Self::GetPinUvAuthTokenUsingUvWithPermissions,
            0x07 => Self::GetUvRetries,
            0x09 => Self::GetPinUvAuthTokenUsingPinWithPermissions,
            _ => return Err(Status::InvalidSubcommand),
        })
    }
}

/// §6.5.4 request parameters.
#[derive(Debug, Clone)]
pub struct ClientPin {
    /// 0x01 pinUvAuthProtocol
    pub protocol: Option<u64>,
    /// 0x02 subCommand
    pub sub_command: PinSubCommand,
    /// 0x03 keyAgreement
    pub key_agreement: Option<P256Key>,
    /// 0x04 pinUvAuthParam
    pub pin_uv_auth_param: Option<Vec<u8>>,
    /// 0x05 newPinEnc
    pub new_pin_enc: Option<Vec<u8>>,
    /// 0x06 pinHashEnc
    pub pin_hash_enc: Option<Vec<u8>>,
    /// 0x09 permissions
    pub permissions: Option<u64>,
    /// 0x0A rpId
    pub rp_id: Option<String>,
}

impl ClientPin {
    pub fn parse(params: &[u8]) -> Result<Self, Status> {
        let mut m = Map::decode(params)?;
        let protocol = m.take(0x01).map(cbor::uint).transpose()?;
        let sub_command = PinSubCommand::from_u64(cbor::uint(m.require(0x02)?)?)?;
        Ok(Self {
            protocol,
            sub_command,
            key_agreement: m.take(0x03).map(P256Key::from_cose).transpose()?,
            pin_uv_auth_param: m.take(0x04).map(cbor::bytes).transpose()?,
            new_pin_enc: m.take(0x05).map(cbor::bytes).transpose()?,
            pin_hash_enc: m.take(0x06).map(cbor::bytes).transpose()?,
            permissions: m.take(0x09).map(cbor::uint).transpose()?,
            rp_id: m.take(0x0a).map(cbor::text).transpose()?,
        })
    }
}

/// §6.5.4 response fields; unset ones are left out.
#[derive(Debug, Clone, Default)]
pub struct ClientPinResponse {
    /// 0x01 keyAgreement
    pub key_agreement: Option<P256Key>,
    /// 0x02 pinUvAuthToken (encrypted)
    pub pin_uv_auth_token: Option<Vec<u8>>,
    /// 0x03 pinRetries
    pub pin_retries: Option<u8>,
    /// 0x04 powerCycleState
    pub power_cycle_state: Option<bool>,
    /// 0x05 uvRetries
    pub uv_retries: Option<u8>,
}

impl ClientPinResponse {
    /// The encoded map, or an empty body when nothing is set (setPIN, changePIN).
    pub fn encode(&self) -> Vec<u8> {
        if self.key_agreement.is_none()
            && self.pin_uv_auth_token.is_none()
            && self.pin_retries.is_none()
            && self.uv_retries.is_none()
        {
            return Vec::new();
        }
        cbor::encode(
            MapBuilder::new()
                .put_opt(
                    0x01,
                    self.key_agreement
                        .as_ref()
                        .map(|k| k.to_cose(ALG_ECDH_ES_HKDF_256)),
                )
                .put_opt(0x02, self.pin_uv_auth_token.clone().map(Value::Bytes))
                .put_opt(0x03, self.pin_retries)
                .put_opt(0x04, self.power_cycle_state)
                .put_opt(0x05, self.uv_retries)
                .build(),
        )
    }
}
