//! CTAP status codes, CTAP 2.1 §8.2 "Status codes". The numeric value is what goes on the
//! wire as the first byte of every CTAP2 response.

/// A CTAP status code other than success. `Result<T, Status>` is the engine's return type,
/// and the `u8` is the byte a client sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
#[repr(u8)]
pub enum Status {
    #[error("CTAP1_ERR_INVALID_COMMAND")]
    InvalidCommand = 0x01,
    #[error("CTAP1_ERR_INVALID_PARAMETER")]
    InvalidParameter = 0x02,
    #[error("CTAP1_ERR_INVALID_LENGTH")]
    InvalidLength = 0x03,
    #[error("CTAP1_ERR_INVALID_SEQ")]
    InvalidSeq = 0x04,
    #[error("CTAP2_ERR_LARGE_BLOB_STORAGE_FULL")]
    LargeBlobStorageFull = 0x18,
    #[error("CTAP2_ERR_CBOR_UNEXPECTED_TYPE")]
    CborUnexpectedType = 0x11,
    #[error("CTAP2_ERR_INVALID_CBOR")]
    InvalidCbor = 0x12,
    #[error("CTAP2_ERR_MISSING_PARAMETER")]
    MissingParameter = 0x14,
    #[error("CTAP2_ERR_LIMIT_EXCEEDED")]
    LimitExceeded = 0x15,
    #[error("CTAP2_ERR_CREDENTIAL_EXCLUDED")]
    CredentialExcluded = 0x19,
    #[error("CTAP2_ERR_UNSUPPORTED_ALGORITHM")]
    UnsupportedAlgorithm = 0x26,
    #[error("CTAP2_ERR_OPERATION_DENIED")]
    OperationDenied = 0x27,
    #[error("CTAP2_ERR_KEY_STORE_FULL")]
    KeyStoreFull = 0x28,
    #[error("CTAP2_ERR_UNSUPPORTED_OPTION")]
    UnsupportedOption = 0x2B,
    #[error("CTAP2_ERR_INVALID_OPTION")]
    InvalidOption = 0x2C,
    #[error("CTAP2_ERR_KEEPALIVE_CANCEL")]
    KeepaliveCancel = 0x2D,
    #[error("CTAP2_ERR_NO_CREDENTIALS")]
    NoCredentials = 0x2E,
    #[error("CTAP2_ERR_USER_ACTION_TIMEOUT")]
    UserActionTimeout = 0x2F,
    #[error("CTAP2_ERR_NOT_ALLOWED")]
    NotAllowed = 0x30,
    #[error("CTAP2_ERR_PIN_INVALID")]
    PinInvalid = 0x31,
    #[error("CTAP2_ERR_PIN_BLOCKED")]
    PinBlocked = 0x32,
    #[error("CTAP2_ERR_PIN_AUTH_INVALID")]
    PinAuthInvalid = 0x33,
    #[error("CTAP2_ERR_PIN_AUTH_BLOCKED")]
    PinAuthBlocked = 0x34,
    #[error("CTAP2_ERR_PIN_NOT_SET")]
    PinNotSet = 0x35,
    #[error("CTAP2_ERR_PUAT_REQUIRED")]
    PuatRequired = 0x36,
    #[error("CTAP2_ERR_PIN_POLICY_VIOLATION")]
    PinPolicyViolation = 0x37,
    #[error("CTAP2_ERR_REQUEST_TOO_LARGE")]
    RequestTooLarge = 0x39,
    #[error("CTAP2_ERR_UP_REQUIRED")]
    UpRequired = 0x3B,
    #[error("CTAP2_ERR_UV_BLOCKED")]
    UvBlocked = 0x3C,
    #[error("CTAP2_ERR_INTEGRITY_FAILURE")]
    IntegrityFailure = 0x3D,
    #[error("CTAP2_ERR_INVALID_SUBCOMMAND")]
    InvalidSubcommand = 0x3E,
    #[error("CTAP2_ERR_UV_INVALID")]
    UvInvalid = 0x3F,
    #[error("CTAP2_ERR_UNAUTHORIZED_PERMISSION")]
    UnauthorizedPermission = 0x40,
    #[error("CTAP2_ERR_EXTENSION_FIRST")]
    ExtensionFirst = 0xE0,
    #[error("CTAP1_ERR_OTHER")]
    Other = 0x7F,
    /// The authenticator's TPM cannot be reached right now (its connection broke or a
    /// command outlived its deadline). CTAP 2.1 §8.2 reserves 0xF0–0xFF for vendor errors
    /// and has no code of its own for this; clients that do not know it treat it like
    /// CTAP1_ERR_OTHER, and tools that do can tell the user to wait rather than retry.
    #[error("CTAP2_ERR_VENDOR_FIRST (tpm-passkey: the TPM is unreachable)")]
    TpmUnreachable = 0xF0,
}

impl Status {
    /// The status byte sent to the client.
    pub fn code(self) -> u8 {
        self as u8
    }
}

/// Every status, for [`TryFrom<u8>`] (and tests that walk them all).
pub const ALL: [Status; 36] = [
    Status::InvalidCommand,
    Status::InvalidParameter,
    Status::InvalidLength,
    Status::InvalidSeq,
    Status::LargeBlobStorageFull,
    Status::CborUnexpectedType,
    Status::InvalidCbor,
    Status::MissingParameter,
    Status::LimitExceeded,
    Status::CredentialExcluded,
    Status::UnsupportedAlgorithm,
    Status::OperationDenied,
    Status::KeyStoreFull,
    Status::UnsupportedOption,
    Status::InvalidOption,
    Status::KeepaliveCancel,
    Status::NoCredentials,
    Status::UserActionTimeout,
    Status::NotAllowed,
    Status::PinInvalid,
    Status::PinBlocked,
    Status::PinAuthInvalid,
    Status::PinAuthBlocked,
    Status::PinNotSet,
    Status::PuatRequired,
    Status::PinPolicyViolation,
    Status::RequestTooLarge,
    Status::UpRequired,
    Status::UvBlocked,
    Status::IntegrityFailure,
    Status::InvalidSubcommand,
    Status::UvInvalid,
    Status::UnauthorizedPermission,
    Status::ExtensionFirst,
    Status::Other,
    Status::TpmUnreachable,
];

/// A status byte that is not one of ours (0x00 is success, not a [`Status`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("unknown CTAP status {0:#04x}")]
pub struct UnknownStatus(pub u8);

impl TryFrom<u8> for Status {
    type Error = UnknownStatus;

    fn try_from(code: u8) -> Result<Self, Self::Error> {
        ALL.iter()
            .copied()
            .find(|s| s.code() == code)
            .ok_or(UnknownStatus(code))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_round_trips_through_its_byte() {
        for s in ALL {
            assert_eq!(Status::try_from(s.code()), Ok(s));
        }
        assert_eq!(Status::try_from(0x00), Err(UnknownStatus(0)));
        assert_eq!(Status::try_from(0x42), Err(UnknownStatus(0x42)));
    }
}
