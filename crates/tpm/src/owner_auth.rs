//! The owner-hierarchy password, for machines where IT has set one. It is one of the few
//! secrets that must live outside the TPM; it is kept in the desktop's Secret Service
//! (through keyring-core and its zbus store), never in a configuration file, and it never
//! reaches a log or an error message.

use std::sync::Arc;

use keyring_core::{CredentialStore, Entry};

use crate::{Error, OwnerAuth, Result};

const SERVICE: &str = "tpm-passkey";
const ACCOUNT: &str = "tpm-owner-hierarchy";

/// Where the owner password is kept.
pub struct OwnerAuthStore {
    store: Arc<CredentialStore>,
}

impl std::fmt::Debug for OwnerAuthStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OwnerAuthStore")
            .field("store", &self.store.vendor())
            .finish()
    }
}

/// keyring errors carry no secret, but say only what kind of failure it was.
fn keyring_err(what: &'static str, e: keyring_core::Error) -> Error {
    let kind = match e {
        keyring_core::Error::NoStorageAccess(_) => "the Secret Service is not available or locked",
        keyring_core::Error::PlatformFailure(_) => "the Secret Service failed",
        keyring_core::Error::BadEncoding(_) => "the stored value is not valid",
        keyring_core::Error::Ambiguous(_) => "more than one stored value matches",
        _ => "unexpected keyring error",
    };
    Error::Keyring(format!("{what}: {kind}"))
}

impl OwnerAuthStore {
    /// The user's Secret Service (GNOME Keyring, KWallet, KeePassXC …) over D-Bus.
    pub fn secret_service() -> Result<Self> {
        let store = zbus_secret_service_keyring_store::Store::new()
            .map_err(|e| keyring_err("open Secret Service", e))?;
        Ok(OwnerAuthStore { store })
    }

    /// Any keyring-core store (tests use keyring-core's mock store).
    pub fn with_store(store: Arc<CredentialStore>) -> Self {
        OwnerAuthStore { store }
    }

    fn entry(&self) -> Result<Entry> {
        self.store
            .build(SERVICE, ACCOUNT, None)
            .map_err(|e| keyring_err("open entry", e))
    }

    /// The stored password, or `None` when none was stored (the usual empty owner auth).
    pub fn load(&self) -> Result<Option<OwnerAuth>> {
        match self.entry()?.get_secret() {
            Ok(bytes) => Ok(Some(OwnerAuth::new(bytes))),
            Err(keyring_core::Error::NoEntry) => Ok(None),
            Err(e) => Err(keyring_err("read owner password", e)),
        }
    }

    pub fn save(&self, auth: &OwnerAuth) -> Result<()> {
        self.entry()?
            .set_secret(auth.expose_secret_bytes())
            .map_err(|e| keyring_err("store owner password", e))
    }

    /// Forgets the stored password; forgetting one that was never stored is not an error.
    pub fn clear(&self) -> Result<()> {
        match self.entry()?.delete_credential() {
            Ok(()) | Err(keyring_core::Error::NoEntry) => Ok(()),
            Err(e) => Err(keyring_err("delete owner password", e)),
        }
    }
}
