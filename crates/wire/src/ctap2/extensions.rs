//! Extension outputs, typed (WebAuthn §9, CTAP 2.1 §12): the engine fills these, and they
//! encode themselves into the authenticator data's extensions map — canonical CBOR, keys
//! by their identifiers.

use crate::cbor::{MapBuilder, Value};

/// makeCredential extension outputs (§12.1 credProtect, §12.5 hmac-secret, §12.4
/// minPinLength).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MakeCredentialOutputs {
    pub cred_protect: Option<u8>,
    /// §12.2: whether the credBlob was kept.
    pub cred_blob: Option<bool>,
    pub hmac_secret: Option<bool>,
    /// CTAP 2.2 §12.7: the encrypted PRF outputs of hmac-secret-mc.
    pub hmac_secret_mc: Option<Vec<u8>>,
    pub min_pin_length: Option<u8>,
}

impl MakeCredentialOutputs {
    /// The extensions map, or None when no extension produced output (then the ED flag
    /// stays clear).
    pub fn to_cbor(&self) -> Option<Value> {
        if *self == Self::default() {
            return None;
        }
        let mut m = MapBuilder::new();
        if let Some(l) = self.cred_protect {
            m = m.put_text("credProtect", u64::from(l));
        }
        if let Some(b) = self.cred_blob {
            m = m.put_text("credBlob", b);
        }
        if let Some(b) = self.hmac_secret {
            m = m.put_text("hmac-secret", b);
        }
        if let Some(out) = &self.hmac_secret_mc {
            m = m.put_text("hmac-secret-mc", Value::Bytes(out.clone()));
        }
        if let Some(l) = self.min_pin_length {
            m = m.put_text("minPinLength", u64::from(l));
        }
        Some(m.build())
    }
}

/// getAssertion extension outputs (§12.5 hmac-secret: the encrypted HMAC outputs; §12.2
/// credBlob: the blob kept at registration, empty when there is none).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GetAssertionOutputs {
    pub hmac_secret: Option<Vec<u8>>,
    pub cred_blob: Option<Vec<u8>>,
}

impl GetAssertionOutputs {
    pub fn to_cbor(&self) -> Option<Value> {
        if *self == Self::default() {
            return None;
        }
        let mut m = MapBuilder::new();
        if let Some(b) = &self.cred_blob {
            m = m.put_text("credBlob", Value::Bytes(b.clone()));
        }
        if let Some(out) = &self.hmac_secret {
            m = m.put_text("hmac-secret", Value::Bytes(out.clone()));
        }
        Some(m.build())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cbor;

    #[test]
    fn outputs_encode_canonically_and_empty_means_none() {
        assert_eq!(MakeCredentialOutputs::default().to_cbor(), None);
        assert_eq!(GetAssertionOutputs::default().to_cbor(), None);
        let all = MakeCredentialOutputs {
            cred_protect: Some(2),
            cred_blob: Some(true),
            hmac_secret: Some(true),
            hmac_secret_mc: Some(vec![1; 32]),
            min_pin_length: Some(6),
        };
        // Canonical order: shorter keys first ("credBlob" 8, "credProtect" 11,
        // "hmac-secret" 11, "minPinLength" 12, "hmac-secret-mc" 14), then bytewise.
        let bytes = cbor::encode(all.to_cbor().unwrap());
        let keys = ciborium::de::from_reader::<ciborium::Value, _>(&bytes[..]).unwrap();
        let ciborium::Value::Map(m) = keys else {
            panic!()
        };
        let names: Vec<_> = m
            .iter()
            .map(|(k, _)| k.as_text().unwrap().to_owned())
            .collect();
        assert_eq!(
            names,
            [
                "credBlob",
                "credProtect",
                "hmac-secret",
                "minPinLength",
                "hmac-secret-mc"
            ]
        );
    }
}
