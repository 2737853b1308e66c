//! authenticatorLargeBlobs (0x0C), CTAP 2.1 §6.10: reading and writing the serialized
//! large-blob array in fragments.

use crate::cbor::{self, Map, MapBuilder, Value};
use crate::Status;

/// §6.10.2 request parameters: exactly one of `get` (a length to read) and `set` (a
/// fragment to write) at `offset`; `length` (the whole array's) with the first fragment.
#[derive(Debug, Clone)]
pub struct LargeBlobs {
    /// 0x01 get
    pub get: Option<u64>,
    /// 0x02 set
    pub set: Option<Vec<u8>>,
    /// 0x03 offset
    pub offset: u64,
    /// 0x04 length
    pub length: Option<u64>,
    /// 0x05 pinUvAuthParam
    pub pin_uv_auth_param: Option<Vec<u8>>,
    /// 0x06 pinUvAuthProtocol
    pub pin_uv_auth_protocol: Option<u64>,
}

impl LargeBlobs {
    pub fn parse(params: &[u8]) -> Result<Self, Status> {
        let mut m = Map::decode(params)?;
        Ok(Self {
            get: m.take(0x01).map(cbor::uint).transpose()?,
            set: m.take(0x02).map(cbor::bytes).transpose()?,
            offset: cbor::uint(m.require(0x03)?)?,
            length: m.take(0x04).map(cbor::uint).transpose()?,
            pin_uv_auth_param: m.take(0x05).map(cbor::bytes).transpose()?,
            pin_uv_auth_protocol: m.take(0x06).map(cbor::uint).transpose()?,
        })
    }
}

/// §6.10.2 response: the fragment read (0x01), or nothing for a write.
#[derive(Debug, Clone, Default)]
pub struct LargeBlobsResponse {
    pub config: Option<Vec<u8>>,
}

impl LargeBlobsResponse {
    pub fn encode(&self) -> Vec<u8> {
        match &self.config {
            Some(c) => cbor::encode(MapBuilder::new().put(0x01, Value::Bytes(c.clone())).build()),
            None => Vec::new(),
        }
    }
}
