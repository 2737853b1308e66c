//! authenticatorMakeCredential (0x01), CTAP 2.1 §6.1.

use super::common::{CredentialDescriptor, Options, RpEntity, UserEntity, MAX_LIST};
use super::HmacSecretInput;
use crate::cbor::{self, Map, MapBuilder, Value};
use crate::Status;

/// §6.1.1 request parameters (key numbers in the comments).
#[derive(Debug, Clone)]
pub struct MakeCredential {
    /// 0x01 clientDataHash
    pub client_data_hash: Vec<u8>,
    /// 0x02 rp
    pub rp: RpEntity,
    /// 0x03 user
    pub user: UserEntity,
    /// 0x04 pubKeyCredParams: (type is "public-key", alg) for each entry, in order.
    pub algorithms: Vec<(bool, i64)>,
    /// 0x05 excludeList
    pub exclude_list: Vec<CredentialDescriptor>,
    /// 0x06 extensions
    pub extensions: MakeCredentialExtensions,
    /// 0x07 options
    pub options: Options,
    /// 0x08 pinUvAuthParam
    pub pin_uv_auth_param: Option<Vec<u8>>,
    /// 0x09 pinUvAuthProtocol
    pub pin_uv_auth_protocol: Option<u64>,
    /// 0x0A enterpriseAttestation
    pub enterprise_attestation: Option<u64>,
}

/// The extensions we implement (§12): credProtect, credBlob, hmac-secret, minPinLength,
/// and CTAP 2.2's hmac-secret-mc (PRF outputs at registration).
#[derive(Debug, Clone, Default)]
pub struct MakeCredentialExtensions {
    pub cred_protect: Option<u64>,
    /// §12.2 credBlob: a small blob to keep with the credential.
    pub cred_blob: Option<Vec<u8>>,
    pub hmac_secret: bool,
    /// CTAP 2.2 §12.7 hmac-secret-mc: salts to evaluate at once (with hmac-secret: true).
    pub hmac_secret_mc: Option<HmacSecretInput>,
    pub min_pin_length: bool,
    /// §12.3 largeBlobKey: true asks for the credential's large-blob key.
    pub large_blob_key: bool,
}

impl MakeCredential {
    pub fn parse(params: &[u8]) -> Result<Self, Status> {
        let mut m = Map::decode(params)?;
        let client_data_hash = cbor::bytes(m.require(0x01)?)?;
        // A SHA-256 of the client data (WebAuthn §5.8.1): anything but 32 bytes is not one.
        if client_data_hash.len() != 32 {
            return Err(Status::InvalidLength);
        }
        let rp = RpEntity::parse(m.require(0x02)?)?;
        let user = UserEntity::parse(m.require(0x03)?)?;
        let params_list = cbor::array(m.require(0x04)?)?;
        if params_list.len() > MAX_LIST {
            return Err(Status::RequestTooLarge);
        }
        let algorithms = params_list
            .into_iter()
            .map(|p| {
                let mut pm = Map::from_value(p)?;
                let kind = cbor::text(pm.require_text("type")?)?;
                let alg = cbor::int(pm.require_text("alg")?)?;
                Ok((kind == "public-key", alg))
            })
            .collect::<Result<_, Status>>()?;
        let exclude_list = m
            .take(0x05)
            .map(CredentialDescriptor::parse_list)
            .transpose()?
            .unwrap_or_default();
        let extensions = m
            .take(0x06)
            .map(MakeCredentialExtensions::parse)
            .transpose()?
            .unwrap_or_default();
        let options = m
            .take(0x07)
            .map(Options::parse)
            .transpose()?
            .unwrap_or_default();
        let pin_uv_auth_param = m.take(0x08).map(cbor::bytes).transpose()?;
        let pin_uv_auth_protocol = m.take(0x09).map(cbor::uint).transpose()?;
        let enterprise_attestation = m.take(0x0a).map(cbor::uint).transpose()?;
        Ok(Self {
            client_data_hash,
            rp,
            user,
            algorithms,
            exclude_list,
            extensions,
            options,
            pin_uv_auth_param,
            pin_uv_auth_protocol,
            enterprise_attestation,
        })
    }
}

impl MakeCredentialExtensions {
    fn parse(v: Value) -> Result<Self, Status> {
        let mut m = Map::from_value(v)?;
        Ok(Self {
            cred_protect: m.take_text("credProtect").map(cbor::uint).transpose()?,
            cred_blob: m.take_text("credBlob").map(cbor::bytes).transpose()?,
            hmac_secret_mc: m
                .take_text("hmac-secret-mc")
                .map(HmacSecretInput::parse)
                .transpose()?,
            hmac_secret: m
                .take_text("hmac-secret")
                .map(cbor::boolean)
                .transpose()?
                .unwrap_or(false),
            min_pin_length: m
                .take_text("minPinLength")
                .map(cbor::boolean)
                .transpose()?
                .unwrap_or(false),
            large_blob_key: match m.take_text("largeBlobKey").map(cbor::boolean).transpose()? {
                // §12.3: only `true` is a valid input.
                Some(false) => return Err(Status::InvalidOption),
                Some(true) => true,
                None => false,
            },
        })
    }
}

/// §6.1.2 response: fmt (0x01), authData (0x02), attStmt (0x03), here always `packed`
/// self-attestation (WebAuthn §8.2: alg and sig, no x5c).
#[derive(Debug, Clone)]
pub struct MakeCredentialResponse {
    pub auth_data: Vec<u8>,
    pub alg: i64,
    /// packed: the credential key's signature over authData ‖ clientDataHash; tpm: the
    /// attestation key's over certInfo.
    pub signature: Vec<u8>,
    /// 0x05 largeBlobKey (§12.3).
    pub large_blob_key: Option<Vec<u8>>,
    /// Set for the `tpm` attestation format (WebAuthn §8.3); None: packed self-attestation.
    pub tpm: Option<TpmStatement>,
}

/// The parts of a `tpm` attestation statement besides alg and sig (WebAuthn §8.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TpmStatement {
    /// The attestation key's certificate first, then its chain (the root left out).
    pub x5c: Vec<Vec<u8>>,
    /// TPMS_ATTEST of TPM2_Certify of the credential key.
    pub cert_info: Vec<u8>,
    /// The credential key's TPMT_PUBLIC.
    pub pub_area: Vec<u8>,
}

impl MakeCredentialResponse {
    pub fn encode(&self) -> Vec<u8> {
        let mut att_stmt = MapBuilder::new()
            .put_text("alg", self.alg)
            .put_text("sig", Value::Bytes(self.signature.clone()));
        if let Some(t) = &self.tpm {
            att_stmt = att_stmt
                .put_text("ver", "2.0")
                .put_text(
                    "x5c",
                    Value::Array(t.x5c.iter().cloned().map(Value::Bytes).collect()),
                )
                .put_text("certInfo", Value::Bytes(t.cert_info.clone()))
                .put_text("pubArea", Value::Bytes(t.pub_area.clone()));
        }
        let att_stmt = att_stmt.build();
        let fmt = if self.tpm.is_some() { "tpm" } else { "packed" };
        cbor::encode(
            MapBuilder::new()
                .put(0x01, fmt)
                .put(0x02, Value::Bytes(self.auth_data.clone()))
                .put(0x03, att_stmt)
                .put_opt(0x05, self.large_blob_key.clone().map(Value::Bytes))
                .build(),
        )
    }
}
