//! authenticatorGetAssertion (0x02) and authenticatorGetNextAssertion (0x08), CTAP 2.1
//! §6.2 and §6.3.

use super::common::{CredentialDescriptor, Options, UserEntity};
use crate::cbor::{self, Map, MapBuilder, Value};
use crate::cose::P256Key;
use crate::Status;

/// §6.2.1 request parameters.
#[derive(Debug, Clone)]
pub struct GetAssertion {
    /// 0x01 rpId
    pub rp_id: String,
    /// 0x02 clientDataHash
    pub client_data_hash: Vec<u8>,
    /// 0x03 allowList
    pub allow_list: Vec<CredentialDescriptor>,
    /// 0x04 extensions: hmac-secret
    pub hmac_secret: Option<HmacSecretInput>,
    /// 0x04 extensions: credBlob = true (§12.2: the authenticator input of the client's
    /// getCredBlob)
    pub get_cred_blob: bool,
    /// 0x04 extensions: largeBlobKey = true (§12.3)
    pub large_blob_key: bool,
    /// 0x05 options
    pub options: Options,
    /// 0x06 pinUvAuthParam
    pub pin_uv_auth_param: Option<Vec<u8>>,
    /// 0x07 pinUvAuthProtocol
    pub pin_uv_auth_protocol: Option<u64>,
}

/// The hmac-secret extension input, §12.5: keyAgreement (1), saltEnc (2), saltAuth (3),
/// pinUvAuthProtocol (4, default 1).
#[derive(Debug, Clone)]
pub struct HmacSecretInput {
    pub key_agreement: P256Key,
    pub salt_enc: Vec<u8>,
    pub salt_auth: Vec<u8>,
    pub protocol: u64,
}

impl GetAssertion {
    pub fn parse(params: &[u8]) -> Result<Self, Status> {
        let mut m = Map::decode(params)?;
        let rp_id = cbor::text(m.require(0x01)?)?;
        let client_data_hash = cbor::bytes(m.require(0x02)?)?;
        // A SHA-256 of the client data (WebAuthn §5.8.1): anything but 32 bytes is not one.
        if client_data_hash.len() != 32 {
            return Err(Status::InvalidLength);
        }
        let allow_list = m
            .take(0x03)
            .map(CredentialDescriptor::parse_list)
            .transpose()?
            .unwrap_or_default();
        let (hmac_secret, get_cred_blob, large_blob_key) = match m.take(0x04) {
            Some(ext) => {
                let mut e = Map::from_value(ext)?;
                (
                    e.take_text("hmac-secret")
                        .map(HmacSecretInput::parse)
                        .transpose()?,
                    e.take_text("credBlob")
                        .map(cbor::boolean)
                        .transpose()?
                        .unwrap_or(false),
                    match e.take_text("largeBlobKey").map(cbor::boolean).transpose()? {
                        Some(false) => return Err(Status::InvalidOption),
                        Some(true) => true,
                        None => false,
                    },
                )
            }
            None => (None, false, false),
        };
        let options = m
            .take(0x05)
            .map(Options::parse)
            .transpose()?
            .unwrap_or_default();
        let pin_uv_auth_param = m.take(0x06).map(cbor::bytes).transpose()?;
        let pin_uv_auth_protocol = m.take(0x07).map(cbor::uint).transpose()?;
        Ok(Self {
            rp_id,
            client_data_hash,
            allow_list,
            hmac_secret,
            get_cred_blob,
            large_blob_key,
            options,
            pin_uv_auth_param,
            pin_uv_auth_protocol,
        })
    }
}

impl HmacSecretInput {
    pub(crate) fn parse(v: Value) -> Result<Self, Status> {
        let mut m = Map::from_value(v)?;
        Ok(Self {
            key_agreement: P256Key::from_cose(m.require(0x01)?)?,
            salt_enc: cbor::bytes(m.require(0x02)?)?,
            salt_auth: cbor::bytes(m.require(0x03)?)?,
            protocol: m.take(0x04).map(cbor::uint).transpose()?.unwrap_or(1),
        })
    }
}

/// §6.2.2 response.
#[derive(Debug, Clone)]
pub struct GetAssertionResponse {
    /// 0x01 credential
    pub credential_id: Vec<u8>,
    /// 0x02 authData
    pub auth_data: Vec<u8>,
    /// 0x03 signature
    pub signature: Vec<u8>,
    /// 0x04 user, with whether name/displayName may be included
    pub user: Option<(UserEntity, bool)>,
    /// 0x05 numberOfCredentials
    pub number_of_credentials: Option<usize>,
    /// 0x06 userSelected: the person chose this account on the authenticator's own
    /// prompt, so the platform need not ask again (§6.2.2).
    pub user_selected: bool,
    /// 0x07 largeBlobKey (§12.3)
    pub large_blob_key: Option<Vec<u8>>,
}

impl GetAssertionResponse {
    pub fn encode(&self) -> Vec<u8> {
        cbor::encode(
            MapBuilder::new()
                .put(0x01, CredentialDescriptor::to_cbor(&self.credential_id))
                .put(0x02, Value::Bytes(self.auth_data.clone()))
                .put(0x03, Value::Bytes(self.signature.clone()))
                .put_opt(0x04, self.user.as_ref().map(|(u, ident)| u.to_cbor(*ident)))
                .put_opt(0x05, self.number_of_credentials.map(|n| n as u64))
                .put_opt(0x06, self.user_selected.then_some(true))
                .put_opt(0x07, self.large_blob_key.clone().map(Value::Bytes))
                .build(),
        )
    }
}
