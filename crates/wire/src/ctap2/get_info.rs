//! authenticatorGetInfo (0x04) response, CTAP 2.1 §6.4.

use crate::cbor::{self, MapBuilder, Value};
use crate::cose::ALG_ES256;

/// The fields we report. Options are (name, value) pairs in any order; encoding sorts them.
#[derive(Debug, Clone)]
pub struct GetInfo {
    pub versions: Vec<&'static str>,
    pub extensions: Vec<&'static str>,
    pub aaguid: [u8; 16],
    pub options: Vec<(&'static str, bool)>,
    pub max_msg_size: u64,
    pub pin_uv_auth_protocols: Vec<u64>,
    pub max_credential_count_in_list: u64,
    pub max_credential_id_length: u64,
    pub force_pin_change: bool,
    pub min_pin_length: u64,
    pub firmware_version: u64,
    /// 0x0B maxSerializedLargeBlobArray (§6.10: at least 1024).
    pub max_serialized_large_blob_array: u64,
    /// 0x0F maxCredBlobLength (§12.2: at least 32).
    pub max_cred_blob_length: u64,
    pub remaining_discoverable_credentials: u64,
}

impl GetInfo {
    pub fn encode(&self) -> Vec<u8> {
        let text_list = |l: &[&'static str]| {
            Value::Array(l.iter().map(|s| Value::Text((*s).to_owned())).collect())
        };
        let mut options = MapBuilder::new();
        for (k, v) in &self.options {
            options = options.put_text(k, *v);
        }
        let algorithms = Value::Array(vec![MapBuilder::new()
            .put_text("alg", ALG_ES256)
            .put_text("type", "public-key")
            .build()]);
        cbor::encode(
            MapBuilder::new()
                .put(0x01, text_list(&self.versions))
                .put(0x02, text_list(&self.extensions))
                .put(0x03, Value::Bytes(self.aaguid.to_vec()))
                .put(0x04, options.build())
                .put(0x05, self.max_msg_size)
                .put(
                    0x06,
                    Value::Array(
                        self.pin_uv_auth_protocols
                            .iter()
                            .map(|p| Value::from(*p))
                            .collect(),
                    ),
                )
                .put(0x07, self.max_credential_count_in_list)
                .put(0x08, self.max_credential_id_length)
                .put(0x09, text_list(&["usb"]))
                .put(0x0a, algorithms)
                .put(0x0b, self.max_serialized_large_blob_array)
                .put(0x0c, self.force_pin_change)
                .put(0x0d, self.min_pin_length)
                .put(0x0e, self.firmware_version)
                .put(0x0f, self.max_cred_blob_length)
                .put(0x14, self.remaining_discoverable_credentials)
                .build(),
        )
    }
}
