//! CTAP1/U2F request APDUs (FIDO U2F Raw Message Formats §3, ISO 7816-4 short and extended
//! encodings) and status words, as carried by CTAPHID_MSG (CTAP 2.1 §11.2.9.1.1).

/// U2F status words (FIDO U2F Raw Message Formats §3.3).
pub mod sw {
    pub const NO_ERROR: u16 = 0x9000;
    pub const CONDITIONS_NOT_SATISFIED: u16 = 0x6985;
    pub const WRONG_DATA: u16 = 0x6a80;
    pub const WRONG_LENGTH: u16 = 0x6700;
    pub const CLA_NOT_SUPPORTED: u16 = 0x6e00;
    pub const INS_NOT_SUPPORTED: u16 = 0x6d00;
    /// ISO 7816-4 "no precise diagnosis": the authenticator cannot serve the request now
    /// (its TPM is unreachable). Not CONDITIONS_NOT_SATISFIED, which clients poll on.
    pub const NO_PRECISE_DIAGNOSIS: u16 = 0x6f00;
}

/// authenticate control byte (P1), U2F Raw Message Formats §5.1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthenticateMode {
    CheckOnly,
    EnforceUserPresence,
    DontEnforceUserPresence,
}

/// A parsed U2F request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum U2fRequest {
    Register {
        challenge: [u8; 32],
        application: [u8; 32],
    },
    Authenticate {
        mode: AuthenticateMode,
        challenge: [u8; 32],
        application: [u8; 32],
        key_handle: Vec<u8>,
    },
    Version,
}

/// Parses one APDU; the error is the status word to answer with.
pub fn parse(apdu: &[u8]) -> Result<U2fRequest, u16> {
    if apdu.len() < 4 {
        return Err(sw::WRONG_LENGTH);
    }
    let (cla, ins, p1) = (apdu[0], apdu[1], apdu[2]);
    if cla != 0 {
        return Err(sw::CLA_NOT_SUPPORTED);
    }
    let data = body(&apdu[4..])?;
    match ins {
        0x01 => {
            if data.len() != 64 {
                return Err(sw::WRONG_LENGTH);
            }
            Ok(U2fRequest::Register {
                challenge: take32(&data[..32]),
                application: take32(&data[32..]),
            })
        }
        0x02 => {
            let mode = match p1 {
                0x07 => AuthenticateMode::CheckOnly,
                0x03 => AuthenticateMode::EnforceUserPresence,
                0x08 => AuthenticateMode::DontEnforceUserPresence,
                _ => return Err(sw::WRONG_DATA),
            };
            if data.len() < 65 || data.len() != 65 + usize::from(data[64]) {
                return Err(sw::WRONG_LENGTH);
            }
            Ok(U2fRequest::Authenticate {
                mode,
                challenge: take32(&data[..32]),
                application: take32(&data[32..64]),
                key_handle: data[65..].to_vec(),
            })
        }
        0x03 => {
            if !data.is_empty() {
                return Err(sw::WRONG_LENGTH);
            }
            Ok(U2fRequest::Version)
        }
        _ => Err(sw::INS_NOT_SUPPORTED),
    }
}

fn take32(b: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(&b[..32]);
    out
}

/// The command data of an APDU body (everything after CLA INS P1 P2), in short or
/// extended form, with an optional Le that is ignored.
fn body(rest: &[u8]) -> Result<&[u8], u16> {
    match rest {
        [] => Ok(&[]),
        [_le] => Ok(&[]),
        [0, hi, lo, data @ ..] if rest.len() >= 3 => {
            let lc = usize::from(u16::from_be_bytes([*hi, *lo]));
            // Extended: Lc (3 bytes), data, optional Le (2 bytes).
            if lc == 0 {
                // "00 00 00" is Le only (case 2E); some clients also send Lc = 0 followed
                // by a 2-byte Le, which carries no data either.
                return if data.is_empty() || data.len() == 2 {
                    Ok(&[])
                } else {
                    Err(sw::WRONG_LENGTH)
                };
            }
            match data.len().checked_sub(lc) {
                Some(0) | Some(2) => Ok(&data[..lc]),
                _ => Err(sw::WRONG_LENGTH),
            }
        }
        [lc, data @ ..] => {
            let lc = usize::from(*lc);
            match data.len().checked_sub(lc) {
                Some(0) | Some(1) => Ok(&data[..lc]),
                _ => Err(sw::WRONG_LENGTH),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn register_extended_and_short() {
        let mut ext = vec![0, 1, 0, 0, 0, 0, 64];
        ext.extend([1u8; 32]);
        ext.extend([2u8; 32]);
        ext.extend([0, 0]);
        assert_eq!(
            parse(&ext),
            Ok(U2fRequest::Register {
                challenge: [1; 32],
                application: [2; 32]
            })
        );
        let mut short = vec![0, 1, 0, 0, 64];
        short.extend([1u8; 64]);
        assert!(matches!(parse(&short), Ok(U2fRequest::Register { .. })));
        short.truncate(20);
        assert_eq!(parse(&short), Err(sw::WRONG_LENGTH));
    }

    #[test]
    fn authenticate_and_errors() {
        let mut a = vec![0, 2, 7, 0, 0, 0, 68];
        a.extend([3u8; 64]);
        a.extend([3, 9, 9, 9]);
        assert_eq!(
            parse(&a),
            Ok(U2fRequest::Authenticate {
                mode: AuthenticateMode::CheckOnly,
                challenge: [3; 32],
                application: [3; 32],
                key_handle: vec![9, 9, 9]
            })
        );
        a[2] = 0x55;
        assert_eq!(parse(&a), Err(sw::WRONG_DATA));
        assert_eq!(parse(&[0, 3, 0, 0]), Ok(U2fRequest::Version));
        assert_eq!(parse(&[0, 3, 0, 0, 0, 0, 0]), Ok(U2fRequest::Version));
        assert_eq!(
            parse(&[0, 3, 0, 0, 0, 0, 0, 0, 0]),
            Ok(U2fRequest::Version),
            "Lc = 0 then Le"
        );
        assert_eq!(parse(&[0, 3, 0, 0, 0, 0, 0, 0]), Err(sw::WRONG_LENGTH));
        assert_eq!(parse(&[0, 9, 0, 0]), Err(sw::INS_NOT_SUPPORTED));
        assert_eq!(parse(&[1, 3, 0, 0]), Err(sw::CLA_NOT_SUPPORTED));
        assert_eq!(parse(&[0, 3]), Err(sw::WRONG_LENGTH));
    }
}
