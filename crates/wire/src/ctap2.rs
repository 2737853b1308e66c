//! CTAP2 commands (CTAP 2.1 §6): requests parsed from CBOR into typed values, responses
//! built from typed values into canonical CBOR. Key numbers are the spec's.

mod authenticator;
mod client_pin;
mod common;
mod config;
mod cred_mgmt;
mod extensions;
mod get_assertion;
mod get_info;
mod large_blobs;
mod make_credential;

pub use authenticator::Authenticator;
pub use client_pin::{ClientPin, ClientPinResponse, PinSubCommand};
pub use common::{CredentialDescriptor, Options, RpEntity, UserEntity};
pub use config::{Config, ConfigSubCommand};
pub use cred_mgmt::{CredMgmt, CredMgmtParams, CredMgmtResponse, CredMgmtSubCommand};
pub use extensions::{GetAssertionOutputs, MakeCredentialOutputs};
pub use get_assertion::{GetAssertion, GetAssertionResponse, HmacSecretInput};
pub use get_info::GetInfo;
pub use large_blobs::{LargeBlobs, LargeBlobsResponse};
pub use make_credential::{
    MakeCredential, MakeCredentialExtensions, MakeCredentialResponse, TpmStatement,
};

use crate::Status;

/// CTAP2 command bytes, §6 "Authenticator API".
pub mod command {
    pub const MAKE_CREDENTIAL: u8 = 0x01;
    pub const GET_ASSERTION: u8 = 0x02;
    pub const GET_INFO: u8 = 0x04;
    pub const CLIENT_PIN: u8 = 0x06;
    pub const RESET: u8 = 0x07;
    pub const GET_NEXT_ASSERTION: u8 = 0x08;
    pub const CREDENTIAL_MANAGEMENT: u8 = 0x0a;
    pub const SELECTION: u8 = 0x0b;
    pub const LARGE_BLOBS: u8 = 0x0c;
    pub const CONFIG: u8 = 0x0d;
    /// The pre-2.1 prototype number of credential management (§6.8, "credentialMgmtPreview").
    pub const CREDENTIAL_MANAGEMENT_PREVIEW: u8 = 0x41;
}

/// A parsed CTAP2 request.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Request {
    MakeCredential(MakeCredential),
    GetAssertion(GetAssertion),
    GetInfo,
    ClientPin(ClientPin),
    Reset,
    GetNextAssertion,
    CredentialManagement(CredMgmt),
    Selection,
    LargeBlobs(LargeBlobs),
    Config(Config),
}

impl Request {
    /// Parses a CTAPHID_CBOR payload: one command byte, then the command's CBOR map.
    pub fn parse(message: &[u8]) -> Result<Self, Status> {
        let (&cmd, params) = message.split_first().ok_or(Status::InvalidLength)?;
        use command::*;
        Ok(match cmd {
            MAKE_CREDENTIAL => Request::MakeCredential(MakeCredential::parse(params)?),
            GET_ASSERTION => Request::GetAssertion(GetAssertion::parse(params)?),
            GET_INFO => Request::GetInfo,
            CLIENT_PIN => Request::ClientPin(ClientPin::parse(params)?),
            RESET => Request::Reset,
            GET_NEXT_ASSERTION => Request::GetNextAssertion,
            CREDENTIAL_MANAGEMENT | CREDENTIAL_MANAGEMENT_PREVIEW => {
                Request::CredentialManagement(CredMgmt::parse(params)?)
            }
            SELECTION => Request::Selection,
            LARGE_BLOBS => Request::LargeBlobs(LargeBlobs::parse(params)?),
            CONFIG => Request::Config(Config::parse(params)?),
            _ => return Err(Status::InvalidCommand),
        })
    }

    /// A short name for logs and the audit trail.
    pub fn name(&self) -> &'static str {
        match self {
            Request::MakeCredential(_) => "makeCredential",
            Request::GetAssertion(_) => "getAssertion",
            Request::GetInfo => "getInfo",
            Request::ClientPin(_) => "clientPIN",
            Request::Reset => "reset",
            Request::GetNextAssertion => "getNextAssertion",
            Request::CredentialManagement(_) => "credentialManagement",
            Request::Selection => "selection",
            Request::LargeBlobs(_) => "largeBlobs",
            Request::Config(_) => "config",
        }
    }
}

#[cfg(test)]
mod tests;
