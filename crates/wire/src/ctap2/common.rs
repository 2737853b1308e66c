//! Structures shared by several commands: WebAuthn's PublicKeyCredentialRpEntity,
//! PublicKeyCredentialUserEntity, PublicKeyCredentialDescriptor, and the options map.

use crate::cbor::{self, Map, MapBuilder, Value};
use crate::Status;

/// WebAuthn limits user handles to 64 bytes (§5.4.3 "user.id").
pub const MAX_USER_ID: usize = 64;
/// Longest list (allowList, excludeList, pubKeyCredParams) we accept; longer requests
/// are refused rather than processed item by item (CTAP 2.1 §6.4 maxCredentialCountInList).
pub const MAX_LIST: usize = 64;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RpEntity {
    pub id: String,
    pub name: Option<String>,
}

impl RpEntity {
    pub fn parse(v: Value) -> Result<Self, Status> {
        let mut m = Map::from_value(v)?;
        let id = cbor::text(m.require_text("id")?)?;
        let name = m.take_text("name").map(cbor::text).transpose()?;
        if let Some(icon) = m.take_text("icon") {
            cbor::text(icon)?;
        }
        Ok(Self { id, name })
    }

    pub fn to_cbor(&self) -> Value {
        let mut b = MapBuilder::new().put_text("id", self.id.clone());
        if let Some(n) = &self.name {
            b = b.put_text("name", n.clone());
        }
        b.build()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserEntity {
    pub id: Vec<u8>,
    pub name: Option<String>,
    pub display_name: Option<String>,
}

impl UserEntity {
    pub fn parse(v: Value) -> Result<Self, Status> {
        let mut m = Map::from_value(v)?;
        let id = cbor::bytes(m.require_text("id")?)?;
        if id.len() > MAX_USER_ID {
            return Err(Status::InvalidLength);
        }
        let name = m.take_text("name").map(cbor::text).transpose()?;
        let display_name = m.take_text("displayName").map(cbor::text).transpose()?;
        if let Some(icon) = m.take_text("icon") {
            cbor::text(icon)?;
        }
        Ok(Self {
            id,
            name,
            display_name,
        })
    }

    /// The user entity as returned to a client; `identifying` adds name and displayName,
    /// which CTAP 2.1 §6.2.2 returns only after user verification.
    pub fn to_cbor(&self, identifying: bool) -> Value {
        let mut b = MapBuilder::new().put_text("id", Value::Bytes(self.id.clone()));
        if identifying {
            if let Some(n) = &self.name {
                b = b.put_text("name", n.clone());
            }
            if let Some(d) = &self.display_name {
                b = b.put_text("displayName", d.clone());
            }
        }
        b.build()
    }
}

/// PublicKeyCredentialDescriptor. Entries whose type is not "public-key" are kept (with
/// `public_key == false`) so that the engine can skip them, as WebAuthn §5.8.3 asks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialDescriptor {
    pub id: Vec<u8>,
    pub public_key: bool,
}

impl CredentialDescriptor {
    pub fn parse(v: Value) -> Result<Self, Status> {
        let mut m = Map::from_value(v)?;
        let kind = cbor::text(m.require_text("type")?)?;
        let id = cbor::bytes(m.require_text("id")?)?;
        if let Some(t) = m.take_text("transports") {
            cbor::array(t)?;
        }
        Ok(Self {
            id,
            public_key: kind == "public-key",
        })
    }

    pub fn parse_list(v: Value) -> Result<Vec<Self>, Status> {
        let items = cbor::array(v)?;
        if items.len() > MAX_LIST {
            return Err(Status::RequestTooLarge);
        }
        items.into_iter().map(Self::parse).collect()
    }

    pub fn to_cbor(id: &[u8]) -> Value {
        MapBuilder::new()
            .put_text("id", Value::Bytes(id.to_vec()))
            .put_text("type", "public-key")
            .build()
    }
}

/// The options map (§6.1 "options", §6.2 "options"): absent means "not given".
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Options {
    pub rk: Option<bool>,
    pub up: Option<bool>,
    pub uv: Option<bool>,
}

impl Options {
    pub fn parse(v: Value) -> Result<Self, Status> {
        let mut out = Options::default();
        for (k, v) in Map::from_value(v)?.into_entries() {
            let key = cbor::text(k)?;
            let val = cbor::boolean(v)?;
            match key.as_str() {
                "rk" => out.rk = Some(val),
                "up" => out.up = Some(val),
                "uv" => out.uv = Some(val),
                _ => {}
            }
        }
        Ok(out)
    }
}
