//! COSE_Key (RFC 9052 §7, RFC 9053 §7.1.1) for the two P-256 uses in CTAP: an ES256
//! credential public key (alg -7) and the ECDH key-agreement key of the PIN/UV auth
//! protocols (alg -25, ECDH-ES+HKDF-256, CTAP 2.1 §6.5.6 "getPublicKey()").

use crate::cbor::{self, Map, MapBuilder, Value};
use crate::Status;

/// COSE algorithm ES256 (ECDSA with SHA-256).
pub const ALG_ES256: i64 = -7;
/// COSE algorithm ECDH-ES+HKDF-256, the alg CTAP puts on key-agreement keys.
pub const ALG_ECDH_ES_HKDF_256: i64 = -25;

const KTY: i64 = 1;
const ALG: i64 = 3;
const CRV: i64 = -1;
const X: i64 = -2;
const Y: i64 = -3;
const KTY_EC2: i64 = 2;
const CRV_P256: i64 = 1;

/// An uncompressed P-256 point as COSE carries it: two 32-byte coordinates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct P256Key {
    pub x: [u8; 32],
    pub y: [u8; 32],
}

impl P256Key {
    /// From a SEC1 uncompressed point (0x04 || x || y).
    pub fn from_sec1(sec1: &[u8]) -> Result<Self, Status> {
        if sec1.len() != 65 || sec1[0] != 0x04 {
            return Err(Status::InvalidParameter);
        }
        let mut x = [0u8; 32];
        let mut y = [0u8; 32];
        x.copy_from_slice(&sec1[1..33]);
        y.copy_from_slice(&sec1[33..]);
        Ok(Self { x, y })
    }

    /// As a SEC1 uncompressed point (0x04 || x || y).
    pub fn to_sec1(&self) -> [u8; 65] {
        let mut out = [0u8; 65];
        out[0] = 0x04;
        out[1..33].copy_from_slice(&self.x);
        out[33..].copy_from_slice(&self.y);
        out
    }

    /// The COSE_Key map with the given algorithm.
    pub fn to_cose(&self, alg: i64) -> Value {
        MapBuilder::new()
            .put(KTY, KTY_EC2)
            .put(ALG, alg)
            .put(CRV, CRV_P256)
            .put(X, Value::Bytes(self.x.to_vec()))
            .put(Y, Value::Bytes(self.y.to_vec()))
            .build()
    }

    /// Parses a COSE_Key that must be an EC2 key on P-256. The alg field is not checked:
    /// clients differ in what they put on key-agreement keys, and the curve decides.
    pub fn from_cose(value: Value) -> Result<Self, Status> {
        let mut map = Map::from_value(value)?;
        if cbor::int(map.require(KTY)?)? != KTY_EC2 || cbor::int(map.require(CRV)?)? != CRV_P256 {
            return Err(Status::InvalidParameter);
        }
        if let Some(alg) = map.take(ALG) {
            cbor::int(alg)?;
        }
        let x = cbor::fixed_bytes::<32>(map.require(X)?).map_err(|_| Status::InvalidParameter)?;
        let y = cbor::fixed_bytes::<32>(map.require(Y)?).map_err(|_| Status::InvalidParameter)?;
        Ok(Self { x, y })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cose_round_trip_and_refusals() {
        let key = P256Key {
            x: [1; 32],
            y: [2; 32],
        };
        let cose = key.to_cose(ALG_ES256);
        assert_eq!(P256Key::from_cose(cose.clone()).unwrap(), key);
        let bytes = cbor::encode(cose);
        // Canonical: 1, 3, -1, -2, -3.
        assert_eq!(&bytes[..7], &[0xa5, 0x01, 0x02, 0x03, 0x26, 0x20, 0x01]);

        let wrong_crv = MapBuilder::new()
            .put(KTY, 2)
            .put(CRV, 2)
            .put(X, Value::Bytes(vec![0; 32]))
            .put(Y, Value::Bytes(vec![0; 32]))
            .build();
        assert_eq!(P256Key::from_cose(wrong_crv), Err(Status::InvalidParameter));
        let short = MapBuilder::new()
            .put(KTY, 2)
            .put(CRV, 1)
            .put(X, Value::Bytes(vec![0; 31]))
            .put(Y, Value::Bytes(vec![0; 32]))
            .build();
        assert_eq!(P256Key::from_cose(short), Err(Status::InvalidParameter));
        let missing = MapBuilder::new().put(KTY, 2).put(CRV, 1).build();
        assert_eq!(P256Key::from_cose(missing), Err(Status::MissingParameter));
        assert_eq!(P256Key::from_sec1(&[4; 64]), Err(Status::InvalidParameter));
    }
}
