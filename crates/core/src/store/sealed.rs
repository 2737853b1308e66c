//! The one way to write what the rollback seal covers: a [`SealedWrite`], handed out only by
//! [`Store::write_sealed`], which writes the seal row over the new content in the same
//! transaction (docs/DESIGN.md "Rollback counter and store seal"). Its writers are the only
//! public writers of the sealed tables — credentials (but their use count), site rules,
//! settings (but the global sign counter), secrets, the large-blob array — so no code path can
//! change them and forget the seal; `Store::write_sealed` takes `&mut Store`, so holding the
//! engine's `&Store` (`Engine::store`) is not enough either.

use std::ops::Deref;

use super::{seal_message, Credential, Store, StoreError};
use crate::ipc::SiteRule;
use crate::secret::SecretBytes;

/// The seal's MAC over a seal message, computed in the key store.
pub type SealMac<'k> = &'k mut dyn FnMut(&[u8; 32]) -> Result<[u8; 32], StoreError>;

/// How the change is sealed.
pub enum SealWith<'k> {
    /// Not at all: the key store has no counter (it says so explicitly, see
    /// `Sealing::seal_counter`), or a test or tool is making a store before any engine opens it.
    Nothing,
    /// The seal row {`next`, `mac`(seal message of `next` and the new content's digest)}.
    Counter { next: u64, mac: SealMac<'k> },
}

/// Write access to the sealed tables, inside the transaction [`Store::write_sealed`] seals.
/// Reads go to the store (with this transaction's changes visible).
#[derive(Debug)]
pub struct SealedWrite<'a> {
    store: &'a Store,
}

impl std::fmt::Debug for SealWith<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SealWith::Nothing => f.write_str("Nothing"),
            SealWith::Counter { next, .. } => write!(f, "Counter {{ next: {next} }}"),
        }
    }
}

impl Deref for SealedWrite<'_> {
    type Target = Store;
    fn deref(&self) -> &Store {
        self.store
    }
}

impl SealedWrite<'_> {
    /// Stores a credential, replacing any with the same rpId and user handle (§6.1.2 step
    /// 15: "the new credential replaces the existing one").
    pub fn put_credential(&self, c: &Credential) -> Result<(), StoreError> {
        self.store.put_credential(c)
    }

    /// Stores many credentials (bulk import, the bench's seeding of thousands of passkeys).
    pub fn put_credentials(&self, cs: &[Credential]) -> Result<(), StoreError> {
        self.store.put_credentials(cs)
    }

    /// Deletes one credential; true if it existed.
    pub fn delete_credential(&self, id: &[u8]) -> Result<bool, StoreError> {
        self.store.delete_credential(id)
    }

    /// Replaces name and displayName (§6.8.6 updateUserInformation).
    pub fn update_user(
        &self,
        id: &[u8],
        name: Option<&str>,
        display_name: Option<&str>,
    ) -> Result<bool, StoreError> {
        self.store.update_user(id, name, display_name)
    }

    /// Replaces the serialized large-blob array.
    pub fn set_large_blob_array(&self, data: &[u8]) -> Result<(), StoreError> {
        self.store.set_large_blob_array(data)
    }

    /// Sets (`Some`) or removes (`None`) the rule for `rp_id`.
    pub fn set_site_rule(&self, rp_id: &str, rule: Option<SiteRule>) -> Result<(), StoreError> {
        self.store.set_site_rule(rp_id, rule)
    }

    pub fn set_setting(&self, key: &str, value: &str) -> Result<(), StoreError> {
        self.store.set_setting(key, value)
    }

    pub fn set_secret(&self, name: &str, value: &SecretBytes) -> Result<(), StoreError> {
        self.store.set_secret(name, value)
    }

    /// Erases every credential, setting and secret (authenticatorReset). The audit log is
    /// kept: it records that the reset happened.
    pub fn erase(&self) -> Result<(), StoreError> {
        self.store.erase()
    }
}

impl Store {
    /// Runs `f` with write access to the sealed tables and seals the result as `seal` says,
    /// all in one unit: the change and its seal land together, or neither does.
    pub fn write_sealed<T>(
        &mut self,
        seal: SealWith<'_>,
        f: impl FnOnce(&SealedWrite<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.atomically(|s| {
            let out = f(&SealedWrite { store: s })?;
            if let SealWith::Counter { next, mac } = seal {
                let digest = s.sealed_content_digest(&crate::seal::UNSEALED_SETTINGS)?;
                let m = mac(&seal_message(next, &digest))?;
                s.write_seal(next, &m)?;
            }
            Ok(out)
        })
    }
}
