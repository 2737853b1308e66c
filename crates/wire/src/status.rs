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
}

impl Status {
    /// The status byte sent to the client.
    pub fn code(self) -> u8 {
        self as u8
    }
}
