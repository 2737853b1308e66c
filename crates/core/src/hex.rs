//! Lowercase hex, as the control protocol and exports carry bytes (passkey ids, the audit
//! export, the attestation enrolment).

/// `b` as lowercase hex.
pub fn encode(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Hex (either case) to bytes; None for an odd length or any non-hex character (a `+` that
/// `from_str_radix` would take included).
pub fn decode(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) || !s.bytes().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn round_trips_and_refuses_what_is_not_hex() {
        assert_eq!(super::encode(&[0, 0xab, 0x7f]), "00ab7f");
        assert_eq!(super::decode("00AB7f"), Some(vec![0, 0xab, 0x7f]));
        for bad in ["0", "+a", "0g", "é1", " 1"] {
            assert_eq!(super::decode(bad), None, "{bad:?}");
        }
    }
}
