//! The CTAP 2.1 commands, one file each, and the [`Authenticator`] trait that routes to
//! them (its dispatcher is in `wire`, so that no command can be left out):
//!
//! | command | file |
//! |---|---|
//! | 0x01 makeCredential | `make_credential.rs` |
//! | 0x02 getAssertion, 0x08 getNextAssertion | `get_assertion.rs` (+ `hmac_secret.rs`) |
//! | 0x04 getInfo | `get_info.rs` |
//! | 0x06 clientPIN | `client_pin.rs` (+ `verify.rs`: every PIN check) |
//! | 0x07 reset, 0x0B selection | `reset.rs` |
//! | 0x0A credentialManagement | `cred_mgmt.rs` |
//! | 0x0C largeBlobs | `large_blobs.rs` |
//! | 0x0D config | `config.rs` |
//!
//! What makeCredential and getAssertion share is in `ceremony.rs`.

pub(crate) mod ceremony;
mod client_pin;
mod config;
mod cred_mgmt;
mod get_assertion;
mod get_info;
mod hmac_secret;
mod large_blobs;
mod make_credential;
mod reset;
pub(crate) mod verify;

use tpm_passkey_wire::ctap2::{
    Authenticator, ClientPin, ClientPinResponse, Config, CredMgmt, CredMgmtResponse, GetAssertion,
    GetAssertionResponse, GetInfo, LargeBlobs, LargeBlobsResponse, MakeCredential,
    MakeCredentialResponse,
};
use tpm_passkey_wire::Status;

use crate::{Approver, Clock, Engine, KeyStore};

/// Every command that reaches the key store first makes sure it answers
/// ([`KeyStore::ensure_ready`]): with the TPM away the client hears so at once, before any
/// prompt, and nothing is half done. getInfo and selection need no TPM.
impl<K: KeyStore, A: Approver, C: Clock> Authenticator for Engine<K, A, C> {
    fn make_credential(&mut self, req: MakeCredential) -> Result<MakeCredentialResponse, Status> {
        self.keys.ensure_ready()?;
        self.make_credential_cmd(req)
    }

    fn get_assertion(&mut self, req: GetAssertion) -> Result<GetAssertionResponse, Status> {
        self.keys.ensure_ready()?;
        self.get_assertion_cmd(req)
    }

    fn get_next_assertion(&mut self) -> Result<GetAssertionResponse, Status> {
        self.keys.ensure_ready()?;
        self.get_next_assertion_cmd()
    }

    fn get_info(&mut self) -> Result<GetInfo, Status> {
        Ok(self.get_info_cmd())
    }

    fn client_pin(&mut self, req: ClientPin) -> Result<ClientPinResponse, Status> {
        self.keys.ensure_ready()?;
        self.client_pin_cmd(req)
    }

    fn reset(&mut self) -> Result<(), Status> {
        self.keys.ensure_ready()?;
        self.reset_cmd()
    }

    fn credential_management(&mut self, req: CredMgmt) -> Result<CredMgmtResponse, Status> {
        self.keys.ensure_ready()?;
        self.credential_management_cmd(req)
    }

    fn selection(&mut self) -> Result<(), Status> {
        self.selection_cmd()
    }

    fn large_blobs(&mut self, req: LargeBlobs) -> Result<LargeBlobsResponse, Status> {
        self.keys.ensure_ready()?;
        self.large_blobs_cmd(req)
    }

    fn config(&mut self, req: Config) -> Result<(), Status> {
        self.keys.ensure_ready()?;
        self.config_cmd(req)
    }
}
