//! The X.509 certificate U2F registration requires (FIDO U2F raw message formats §4.3).
//! With self-attestation there is no attestation CA: the certificate is issued by the
//! credential key to itself, "CN=tpm-passkey U2F self-attestation", so it reveals nothing
//! beyond the key the relying party receives anyway.
//!
//! DER (X.690) by hand: a fixed v3 TBSCertificate with no extensions, signed with
//! ecdsa-with-SHA256 (RFC 5280 §4.1, RFC 5758 §3.2).

use sha2::{Digest, Sha256};
use tpm_passkey_wire::cose::P256Key;

const SEQUENCE: u8 = 0x30;
const SET: u8 = 0x31;
const INTEGER: u8 = 0x02;
const BIT_STRING: u8 = 0x03;
const OID: u8 = 0x06;
const UTF8_STRING: u8 = 0x0c;
const UTC_TIME: u8 = 0x17;
const GENERALIZED_TIME: u8 = 0x18;
const CONTEXT_0: u8 = 0xa0;

/// 1.2.840.10045.4.3.2 ecdsa-with-SHA256
const ECDSA_WITH_SHA256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02];
/// 1.2.840.10045.2.1 id-ecPublicKey
const EC_PUBLIC_KEY: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
/// 1.2.840.10045.3.1.7 prime256v1
const PRIME256V1: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
/// 2.5.4.3 commonName
const COMMON_NAME: &[u8] = &[0x55, 0x04, 0x03];

fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let n = content.len();
    if n < 0x80 {
        out.push(n as u8);
    } else if n <= 0xff {
        out.extend_from_slice(&[0x81, n as u8]);
    } else {
        out.extend_from_slice(&[0x82, (n >> 8) as u8, n as u8]);
    }
    out.extend_from_slice(content);
    out
}

fn seq(parts: &[&[u8]]) -> Vec<u8> {
    tlv(SEQUENCE, &parts.concat())
}

fn algorithm() -> Vec<u8> {
    seq(&[&tlv(OID, ECDSA_WITH_SHA256)])
}

fn name() -> Vec<u8> {
    let cn = seq(&[
        &tlv(OID, COMMON_NAME),
        &tlv(UTF8_STRING, b"tpm-passkey U2F self-attestation"),
    ]);
    seq(&[&tlv(SET, &cn)])
}

/// The TBSCertificate for `key`; the serial number is derived from the key.
pub fn tbs(key: &P256Key) -> Vec<u8> {
    let sec1 = key.to_sec1();
    let mut serial = Sha256::digest(sec1)[..8].to_vec();
    serial[0] &= 0x7f; // positive
    serial[0] |= 0x01; // and no leading zero byte
    let validity = seq(&[
        &tlv(UTC_TIME, b"250101000000Z"),
        &tlv(GENERALIZED_TIME, b"99991231235959Z"),
    ]);
    let spki = seq(&[
        &seq(&[&tlv(OID, EC_PUBLIC_KEY), &tlv(OID, PRIME256V1)]),
        &tlv(BIT_STRING, &[&[0u8][..], &sec1].concat()),
    ]);
    seq(&[
        &tlv(CONTEXT_0, &tlv(INTEGER, &[2])),
        &tlv(INTEGER, &serial),
        &algorithm(),
        &name(),
        &validity,
        &name(),
        &spki,
    ])
}

/// The certificate: TBS, algorithm, and the DER ECDSA signature over the TBS.
pub fn certificate(tbs: &[u8], signature_der: &[u8]) -> Vec<u8> {
    seq(&[
        tbs,
        &algorithm(),
        &tlv(BIT_STRING, &[&[0u8][..], signature_der].concat()),
    ])
}
