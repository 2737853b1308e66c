//! The bytes of CTAP: everything that crosses the wire between a FIDO client and the
//! authenticator, as typed values, with no I/O and no policy.
//!
//! * [`Status`]: CTAP status codes with their spec values (CTAP 2.1 §8.2).
//! * [`cbor`]: strict CBOR decoding (one item, no trailing bytes, integer-keyed maps without
//!   duplicates) and CTAP2 canonical encoding (§8 "Message Encoding").
//! * [`ctap2`]: request types parsed from CBOR and response builders.
//! * [`cose`]: COSE_Key for ES256 and ECDH-ES+HKDF-256 on P-256.
//! * [`auth_data`]: authenticator data (WebAuthn §6.1) with flags and extensions.
//! * [`ctaphid`]: 64-byte report framing and message reassembly (CTAP 2.1 §11.2).
//! * [`u2f`]: CTAP1/U2F APDUs (CTAP 2.1 §11.2.9.1.1, FIDO U2F raw message formats).
//!
//! Every decoder returns an error for malformed input; none panics.
#![forbid(unsafe_code)]

pub mod auth_data;
pub mod cbor;
pub mod cose;
pub mod ctap2;
pub mod ctaphid;
mod status;
pub mod u2f;

pub use status::{Status, UnknownStatus, ALL as ALL_STATUSES};
