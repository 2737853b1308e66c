//! authenticatorConfig (0x0D), CTAP 2.1 §6.11.

use crate::cbor::{self, Map};
use crate::Status;

/// §6.11 subCommands (with their parameters).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigSubCommand {
    EnableEnterpriseAttestation,
    ToggleAlwaysUv,
    /// setMinPINLength: newMinPINLength (0x01), minPinLengthRPIDs (0x02), forceChangePin (0x03).
    SetMinPinLength {
        new_min_pin_length: Option<u64>,
        rp_ids: Option<Vec<String>>,
        force_change_pin: bool,
    },
    VendorPrototype,
}

impl ConfigSubCommand {
    pub fn code(&self) -> u8 {
        match self {
            Self::EnableEnterpriseAttestation => 0x01,
            Self::ToggleAlwaysUv => 0x02,
            Self::SetMinPinLength { .. } => 0x03,
            Self::VendorPrototype => 0xff,
        }
    }
}

/// §6.11 request.
#[derive(Debug, Clone)]
pub struct Config {
    pub sub_command: ConfigSubCommand,
    /// subCommandParams exactly as the client encoded them (covered by pinUvAuthParam).
    pub params_bytes: Vec<u8>,
    pub protocol: Option<u64>,
    pub pin_uv_auth_param: Option<Vec<u8>>,
}

impl Config {
    pub fn parse(params: &[u8]) -> Result<Self, Status> {
        let mut m = Map::decode(params)?;
        let code = cbor::uint(m.require(0x01)?)?;
        let raw = m.take(0x02);
        let params_bytes = raw.as_ref().map(cbor::encode_as_is).unwrap_or_default();
        let sub_command = match code {
            0x01 => ConfigSubCommand::EnableEnterpriseAttestation,
            0x02 => ConfigSubCommand::ToggleAlwaysUv,
            0x03 => {
                let mut p = raw.map(Map::from_value).transpose()?.unwrap_or_default();
                let rp_ids = p
                    .take(0x02)
                    .map(|v| cbor::array(v)?.into_iter().map(cbor::text).collect())
                    .transpose()?;
                ConfigSubCommand::SetMinPinLength {
                    new_min_pin_length: p.take(0x01).map(cbor::uint).transpose()?,
                    rp_ids,
                    force_change_pin: p
                        .take(0x03)
                        .map(cbor::boolean)
                        .transpose()?
                        .unwrap_or(false),
                }
            }
            0xff => ConfigSubCommand::VendorPrototype,
            _ => return Err(Status::InvalidSubcommand),
        };
        Ok(Self {
            sub_command,
            params_bytes,
            protocol: m.take(0x03).map(cbor::uint).transpose()?,
            pin_uv_auth_param: m.take(0x04).map(cbor::bytes).transpose()?,
        })
    }
}
