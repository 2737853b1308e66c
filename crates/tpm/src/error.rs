//! One error enum for the crate, with TPM response codes sorted into what a caller can act
//! on. Messages never carry a secret: they name the operation and the TPM's response code,
//! nothing the caller passed in.

use tss_esapi::constants::response_code::Tss2ResponseCodeKind as Kind;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No TPM could be reached through the chosen TCTI.
    #[error("cannot reach the TPM through {tcti}: {detail}")]
    Connect { tcti: String, detail: String },
    /// The TCTI string is not one of the accepted forms.
    #[error("unknown TPM interface {0:?}: use device:/dev/tpmrm0, tabrmd:bus_type=session or swtpm:host=H,port=P")]
    BadTcti(String),
    /// The PIN was wrong: PolicySecret on the PIN index failed its authorization, and the
    /// TPM has counted the failure against the index's limit.
    #[error("the PIN is wrong (the TPM counted the attempt)")]
    WrongPin,
    /// An authorization value other than the PIN (the owner password, a session's HMAC)
    /// was wrong: never reported as a wrong PIN.
    #[error("authorization failed during {op}")]
    AuthFailed { op: &'static str },
    /// The PIN index has reached its limit: the TPM refuses even the right PIN.
    #[error("the PIN is blocked: too many wrong attempts")]
    PinBlocked,
    /// A PIN-bound key was used without the PIN; the TPM refused.
    #[error("this key requires the PIN")]
    PinRequired,
    /// The TPM-wide dictionary-attack protection is in lockout.
    #[error("the TPM is in dictionary-attack lockout; wait for it to recover or reset it with the lockout authorization")]
    Lockout,
    /// The TPM has no room for another object or session.
    #[error("the TPM is out of object or session memory during {op}")]
    ObjectMemory { op: &'static str },
    /// A key blob is malformed, tampered with, or from another root.
    #[error("the key blob is not valid for this authenticator: {0}")]
    BadBlob(&'static str),
    /// The NV index at the stored handle is not the PIN index this crate defines.
    #[error("the NV index {handle:#010x} is not a tpm-passkey PIN index: {why}")]
    PinIndexMismatch { handle: u32, why: &'static str },
    /// An NV index already exists at the requested handle.
    #[error("the NV index {0:#010x} is already defined")]
    IndexInUse(u32),
    /// No PIN index exists at the handle.
    #[error("no PIN index at {0:#010x}")]
    NoPinIndex(u32),
    /// The TPM is busy (testing, yielded, retry); the operation may succeed if repeated.
    #[error("the TPM is busy during {op}; try again")]
    Busy { op: &'static str },
    /// The connection to the TPM broke (TCTI I/O error, a response cut short, or a command
    /// that outlived its deadline and was cut off by the watchdog): nothing the TPM said,
    /// so the caller reconnects rather than report a TPM verdict.
    #[error("the TPM stopped answering during {op}")]
    Unreachable { op: &'static str },
    /// The TPM no longer holds an object or session this connection made — it was reset or
    /// restarted, its owner hierarchy cleared, or another program flushed it (the kernel's
    /// resource manager lets any program flush a saved session). Like a lost connection,
    /// the caller reconnects: the root is derived again and checked.
    #[error("the TPM lost this connection's objects or sessions during {op} (it was reset or cleared, or another program flushed them)")]
    StateLost { op: &'static str },
    /// Any other TPM or TSS failure, with the response code for the log.
    #[error("TPM error during {op}: {code}")]
    Tpm { op: &'static str, code: String },
    /// The embedded simulator could not be started.
    #[error("cannot start the TPM simulator: {0}")]
    Simulator(String),
    /// The Secret Service could not be used to keep the owner password.
    #[error("keyring: {0}")]
    Keyring(String),
}

impl Error {
    /// Sorts an ESAPI error raised during `op` into a variant. `op` is a static label,
    /// never data, so no secret can reach the message.
    pub(crate) fn tss(op: &'static str, e: tss_esapi::Error) -> Self {
        if connection_lost(&e) {
            return Error::Unreachable { op };
        }
        if handle_of_a_session(&e) {
            return Error::StateLost { op };
        }
        match Self::kind_of(&e) {
            Some(
                Kind::ReferenceH0
                | Kind::ReferenceH1
                | Kind::ReferenceH2
                | Kind::ReferenceH3
                | Kind::ReferenceH4
                | Kind::ReferenceH5
                | Kind::ReferenceH6
                | Kind::ReferenceS0
                | Kind::ReferenceS1
                | Kind::ReferenceS2
                | Kind::ReferenceS3
                | Kind::ReferenceS4
                | Kind::ReferenceS5
                | Kind::ReferenceS6,
            ) => Error::StateLost { op },
            Some(Kind::AuthFail | Kind::BadAuth) => Error::AuthFailed { op },
            Some(Kind::Lockout) => Error::Lockout,
            Some(
                Kind::ObjectMemory
                | Kind::SessionMemory
                | Kind::Memory
                | Kind::ObjectHandles
                | Kind::SessionHandles,
            ) => Error::ObjectMemory { op },
            Some(
                Kind::Retry | Kind::Yielded | Kind::Testing | Kind::NvRate | Kind::NvUnavailable,
            ) => Error::Busy { op },
            _ => Error::Tpm {
                op,
                code: e.to_string(),
            },
        }
    }

    /// True when the connection, not the TPM's verdict, failed — the link broke, or the TPM
    /// lost what this connection had made in it: reconnecting may help.
    pub fn is_unreachable(&self) -> bool {
        matches!(
            self,
            Error::Unreachable { .. } | Error::Connect { .. } | Error::StateLost { .. }
        )
    }

    /// True when the TPM said of one of our NV indices that it is not there or not the one
    /// we made: a verdict about the index, unlike any other error while opening it.
    pub fn is_absent_or_foreign(&self) -> bool {
        matches!(self, Error::NoPinIndex(_) | Error::PinIndexMismatch { .. })
    }

    /// True when a session this connection keeps is gone from the TPM (someone flushed it,
    /// or the TPM was reset): starting it again is all it takes. Either the session is not
    /// loaded (TPM_RC_REFERENCE_S0…) or its slot now holds a session of the other kind,
    /// started since (TPM_RC_HANDLE for a session: a policy session where our HMAC session
    /// was, after a reset — seen in `faults`).
    pub(crate) fn session_gone(e: &tss_esapi::Error) -> bool {
        matches!(
            Self::kind_of(e),
            Some(Kind::ReferenceS0 | Kind::ReferenceS1 | Kind::ReferenceS2)
        ) || handle_of_a_session(e)
    }

    /// The response-code kind of an ESAPI error, for call sites that give a kind a
    /// meaning of their own (e.g. AuthUnavailable on the PIN index means "blocked").
    pub(crate) fn kind_of(e: &tss_esapi::Error) -> Option<Kind> {
        if connection_lost(e) {
            // Not a TPM response code: its low bits mean something else.
            return None;
        }
        match e {
            tss_esapi::Error::Tss2Error(rc) => rc.kind(),
            tss_esapi::Error::WrapperError(_) => None,
        }
    }
}

/// TPM_RC_HANDLE (format one, 0x08B) about a session (TPM_RC_S, bit 11; Part 2 §6.6.3): the
/// session handle we sent is not a session of the kind we started.
fn handle_of_a_session(e: &tss_esapi::Error) -> bool {
    let tss_esapi::Error::Tss2Error(rc) = e else {
        return false;
    };
    let raw = rc.raw();
    raw >> 16 == 0 && raw & 0x0BF == 0x08B && raw & 0x800 != 0
}

/// TSS2_RC layers (tss2_common.h): bits 16..24 name who raised the code.
const TCTI_LAYER: u32 = 10;
const ESYS_LAYER: u32 = 7;
const SYS_LAYER: u32 = 8;
/// TSS2_BASE_RC_INSUFFICIENT_RESPONSE and _MALFORMED_RESPONSE: the bytes that came back were
/// not a whole TPM response (the peer hung up mid-answer).
const CUT_SHORT: [u32; 2] = [26, 27];
/// TSS2_BASE_RC_BAD_SEQUENCE: ESYS refuses every call after a command whose response never
/// came (its state machine stays mid-command): the context is as good as disconnected.
const BAD_SEQUENCE: u32 = 7;

/// Whether an ESAPI error means the transport to the TPM failed: anything the TCTI layer
/// raised (I/O error, no connection, bad context after a hang-up), a response the
/// ESYS/SAPI layers found cut short, or ESYS stuck after one of those (bad sequence).
fn connection_lost(e: &tss_esapi::Error) -> bool {
    let tss_esapi::Error::Tss2Error(rc) = e else {
        return false;
    };
    let raw = rc.raw();
    let (layer, base) = ((raw >> 16) & 0xff, raw & 0xffff);
    layer == TCTI_LAYER
        || ((layer == ESYS_LAYER || layer == SYS_LAYER)
            && (CUT_SHORT.contains(&base) || base == BAD_SEQUENCE))
}
