//! The CTAP 2.1 authenticator API (§6) as a trait, beside the request and response types:
//! one method per command, each defaulting to CTAP1_ERR_INVALID_COMMAND, and a provided
//! dispatcher that matches every [`Request`] exhaustively. An implementation writes only
//! the commands it offers; a new command in [`Request`] cannot be forgotten here, because
//! this match is in the crate that defines the enum.

use super::{
    ClientPin, ClientPinResponse, Config, CredMgmt, CredMgmtResponse, GetAssertion,
    GetAssertionResponse, GetInfo, LargeBlobs, LargeBlobsResponse, MakeCredential,
    MakeCredentialResponse, Request,
};
use crate::Status;

pub trait Authenticator {
    /// §6.1 authenticatorMakeCredential (0x01).
    fn make_credential(&mut self, _req: MakeCredential) -> Result<MakeCredentialResponse, Status> {
        Err(Status::InvalidCommand)
    }
    /// §6.2 authenticatorGetAssertion (0x02).
    fn get_assertion(&mut self, _req: GetAssertion) -> Result<GetAssertionResponse, Status> {
        Err(Status::InvalidCommand)
    }
    /// §6.3 authenticatorGetNextAssertion (0x08).
    fn get_next_assertion(&mut self) -> Result<GetAssertionResponse, Status> {
        Err(Status::InvalidCommand)
    }
    /// §6.4 authenticatorGetInfo (0x04).
    fn get_info(&mut self) -> Result<GetInfo, Status> {
        Err(Status::InvalidCommand)
    }
    /// §6.5 authenticatorClientPIN (0x06).
    fn client_pin(&mut self, _req: ClientPin) -> Result<ClientPinResponse, Status> {
        Err(Status::InvalidCommand)
    }
    /// §6.6 authenticatorReset (0x07).
    fn reset(&mut self) -> Result<(), Status> {
        Err(Status::InvalidCommand)
    }
    /// §6.8 authenticatorCredentialManagement (0x0A, and 0x41 before CTAP 2.1).
    fn credential_management(&mut self, _req: CredMgmt) -> Result<CredMgmtResponse, Status> {
        Err(Status::InvalidCommand)
    }
    /// §6.9 authenticatorSelection (0x0B).
    fn selection(&mut self) -> Result<(), Status> {
        Err(Status::InvalidCommand)
    }
    /// §6.10 authenticatorLargeBlobs (0x0C).
    fn large_blobs(&mut self, _req: LargeBlobs) -> Result<LargeBlobsResponse, Status> {
        Err(Status::InvalidCommand)
    }
    /// §6.11 authenticatorConfig (0x0D).
    fn config(&mut self, _req: Config) -> Result<(), Status> {
        Err(Status::InvalidCommand)
    }

    /// Runs `req` and encodes the response body (§8: canonical CBOR; empty for commands
    /// that answer with the status alone).
    fn dispatch(&mut self, req: Request) -> Result<Vec<u8>, Status> {
        match req {
            Request::MakeCredential(r) => self.make_credential(r).map(|r| r.encode()),
            Request::GetAssertion(r) => self.get_assertion(r).map(|r| r.encode()),
            Request::GetNextAssertion => self.get_next_assertion().map(|r| r.encode()),
            Request::GetInfo => self.get_info().map(|r| r.encode()),
            Request::ClientPin(r) => self.client_pin(r).map(|r| r.encode()),
            Request::Reset => self.reset().map(|()| Vec::new()),
            Request::CredentialManagement(r) => self.credential_management(r).map(|r| r.encode()),
            Request::Selection => self.selection().map(|()| Vec::new()),
            Request::LargeBlobs(r) => self.large_blobs(r).map(|r| r.encode()),
            Request::Config(r) => self.config(r).map(|()| Vec::new()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Nothing;
    impl Authenticator for Nothing {}

    #[test]
    fn commands_not_offered_are_invalid_command() {
        for msg in [&[0x04][..], &[0x07], &[0x08], &[0x0b]] {
            let req = Request::parse(msg).unwrap();
            assert_eq!(Nothing.dispatch(req), Err(Status::InvalidCommand));
        }
    }
}
