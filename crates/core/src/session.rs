//! The state of a multi-step CTAP command between its steps: at most one at a time.
//!
//! [`crate::Engine`] takes it out (leaving [`Session::None`]) at the start of every command
//! and on every reset — one place, so nothing survives that should not (an enumeration
//! after a reset returned erased users before). A follow-up command gets the state it
//! needs and puts it back; any other command simply drops it (§6.3: "any command other than
//! getNextAssertion ends the sequence"; §6.8.3/§6.8.5 likewise for enumerations).

use std::time::Duration;

use tpm_passkey_wire::ctap2::HmacSecretInput;

use crate::credential::Found;
use crate::PinHash;

/// See the module documentation.
#[derive(Debug, Default)]
pub(crate) enum Session {
    #[default]
    None,
    /// getAssertion found more credentials than it returned (§6.2.2 step 13).
    NextAssertion(NextAssertion),
    /// enumerateRPsBegin was answered: the relying-party ids still to return (§6.8.3).
    Rps(Vec<String>),
    /// enumerateCredentialsBegin was answered: the credential ids still to return (§6.8.5).
    Credentials(Vec<Vec<u8>>),
    /// A large-blob array is being written in fragments (§6.10.2).
    LargeBlobWrite(LargeBlobWrite),
}

/// The fragments of a large-blob array written so far.
#[derive(Debug)]
pub(crate) struct LargeBlobWrite {
    pub expected_length: usize,
    pub buffer: Vec<u8>,
}

/// What getNextAssertion needs to sign the remaining credentials.
#[derive(Debug)]
pub(crate) struct NextAssertion {
    pub remaining: Vec<Found>,
    pub rp_id: String,
    pub client_data_hash: Vec<u8>,
    pub flag_bits: u8,
    /// The pinHash that unlocked the first assertion (PIN-bound keys need it again).
    pub pin: Option<PinHash>,
    pub hmac_secret: Option<HmacSecretInput>,
    pub get_cred_blob: bool,
    pub large_blob_key: bool,
    /// Monotonic time (the engine's clock) after which the window is closed.
    pub deadline: Duration,
}
