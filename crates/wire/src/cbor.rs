//! Strict CBOR in, CTAP2 canonical CBOR out (CTAP 2.1 §8 "Message Encoding").
//!
//! Decoding accepts exactly one data item with no trailing bytes, and maps without
//! duplicate keys (§8: "duplicate keys are not allowed"). Values are pulled out of a
//! [`Map`] by key and converted with the typed getters, each of which answers a wrong type
//! with `CTAP2_ERR_CBOR_UNEXPECTED_TYPE`. Unknown keys are ignored, as §8 asks for
//! forward compatibility.
//!
//! Encoding sorts every map by the canonical order of §8 (shorter encoded key first, then
//! bytewise), which ciborium does not do on its own; integers and lengths are already in
//! their shortest form.

pub use ciborium::value::Value;

use crate::Status;

/// Decodes exactly one CBOR item from `bytes`.
pub fn decode(bytes: &[u8]) -> Result<Value, Status> {
    let mut rest = bytes;
    let value: Value = ciborium::de::from_reader(&mut rest).map_err(|_| Status::InvalidCbor)?;
    if !rest.is_empty() {
        return Err(Status::InvalidCbor);
    }
    Ok(value)
}

/// Encodes `value` in CTAP2 canonical form.
pub fn encode(value: Value) -> Vec<u8> {
    let mut out = Vec::new();
    // Writing into a Vec cannot fail for I/O reasons, and every Value is encodable.
    if ciborium::ser::into_writer(&canonical(value), &mut out).is_err() {
        out.clear();
    }
    out
}

/// Encodes `value` exactly as it is, without re-sorting (used to recompute the bytes a
/// client authenticated, e.g. credential management's subCommandParams, §6.8).
pub fn encode_as_is(value: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    if ciborium::ser::into_writer(value, &mut out).is_err() {
        out.clear();
    }
    out
}

/// Sorts every map inside `value` into canonical key order.
pub fn canonical(value: Value) -> Value {
    match value {
        Value::Map(entries) => {
            let mut keyed: Vec<(Vec<u8>, Value, Value)> = entries
                .into_iter()
                .map(|(k, v)| {
                    let k = canonical(k);
                    (encode_as_is(&k), k, canonical(v))
                })
                .collect();
            keyed.sort_by(|a, b| a.0.len().cmp(&b.0.len()).then_with(|| a.0.cmp(&b.0)));
            Value::Map(keyed.into_iter().map(|(_, k, v)| (k, v)).collect())
        }
        Value::Array(items) => Value::Array(items.into_iter().map(canonical).collect()),
        other => other,
    }
}

/// A decoded CBOR map whose values are taken out by key.
#[derive(Debug, Clone, Default)]
pub struct Map(Vec<(Value, Value)>);

impl Map {
    /// Decodes `bytes` as one CBOR map.
    pub fn decode(bytes: &[u8]) -> Result<Self, Status> {
        Self::from_value(decode(bytes)?)
    }

    /// Takes a value that must be a map without duplicate keys.
    pub fn from_value(value: Value) -> Result<Self, Status> {
        let Value::Map(entries) = value else {
            return Err(Status::CborUnexpectedType);
        };
        for (i, (k, _)) in entries.iter().enumerate() {
            if entries[..i].iter().any(|(other, _)| other == k) {
                return Err(Status::InvalidCbor);
            }
        }
        Ok(Map(entries))
    }

    /// Removes and returns the value under integer key `key`.
    pub fn take(&mut self, key: i64) -> Option<Value> {
        let pos = self.0.iter().position(|(k, _)| as_i64(k) == Some(key))?;
        Some(self.0.swap_remove(pos).1)
    }

    /// Removes and returns the value under text key `key`.
    pub fn take_text(&mut self, key: &str) -> Option<Value> {
        let pos = self
            .0
            .iter()
            .position(|(k, _)| matches!(k, Value::Text(t) if t == key))?;
        Some(self.0.swap_remove(pos).1)
    }

    /// The value under `key`, or CTAP2_ERR_MISSING_PARAMETER.
    pub fn require(&mut self, key: i64) -> Result<Value, Status> {
        self.take(key).ok_or(Status::MissingParameter)
    }

    /// The text-keyed value under `key`, or CTAP2_ERR_MISSING_PARAMETER.
    pub fn require_text(&mut self, key: &str) -> Result<Value, Status> {
        self.take_text(key).ok_or(Status::MissingParameter)
    }

    /// The remaining entries (keys not yet taken), e.g. to walk an options map.
    pub fn into_entries(self) -> Vec<(Value, Value)> {
        self.0
    }
}

fn as_i64(v: &Value) -> Option<i64> {
    match v {
        Value::Integer(i) => i64::try_from(i128::from(*i)).ok(),
        _ => None,
    }
}

/// The value as an integer.
pub fn int(v: Value) -> Result<i64, Status> {
    as_i64(&v).ok_or(Status::CborUnexpectedType)
}

/// The value as an unsigned integer that fits in `u64`.
pub fn uint(v: Value) -> Result<u64, Status> {
    let i = int(v)?;
    u64::try_from(i).map_err(|_| Status::CborUnexpectedType)
}

/// The value as a byte string.
pub fn bytes(v: Value) -> Result<Vec<u8>, Status> {
    match v {
        Value::Bytes(b) => Ok(b),
        _ => Err(Status::CborUnexpectedType),
    }
}

/// The value as a byte string of exactly `N` bytes (else CTAP1_ERR_INVALID_LENGTH).
pub fn fixed_bytes<const N: usize>(v: Value) -> Result<[u8; N], Status> {
    bytes(v)?.try_into().map_err(|_| Status::InvalidLength)
}

/// The value as a text string.
pub fn text(v: Value) -> Result<String, Status> {
    match v {
        Value::Text(t) => Ok(t),
        _ => Err(Status::CborUnexpectedType),
    }
}

/// The value as a boolean.
pub fn boolean(v: Value) -> Result<bool, Status> {
    match v {
        Value::Bool(b) => Ok(b),
        _ => Err(Status::CborUnexpectedType),
    }
}

/// The value as an array.
pub fn array(v: Value) -> Result<Vec<Value>, Status> {
    match v {
        Value::Array(a) => Ok(a),
        _ => Err(Status::CborUnexpectedType),
    }
}

/// Builds an integer-keyed response map; entries whose value is `None` are left out.
#[derive(Debug, Default)]
pub struct MapBuilder(Vec<(Value, Value)>);

impl MapBuilder {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn put(mut self, key: i64, value: impl Into<Value>) -> Self {
        self.0.push((Value::from(key), value.into()));
        self
    }

    pub fn put_opt(self, key: i64, value: Option<impl Into<Value>>) -> Self {
        match value {
            Some(v) => self.put(key, v),
            None => self,
        }
    }

    pub fn put_text(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.0.push((Value::Text(key.to_owned()), value.into()));
        self
    }

    pub fn build(self) -> Value {
        Value::Map(self.0)
    }
}

#[cfg(test)]
mod tests;
