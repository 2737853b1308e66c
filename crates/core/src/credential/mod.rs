//! Credentials as the ceremonies use them: a discoverable credential from the store, or a
//! non-discoverable one carried inside its own ID ([`id`]), resolved into one [`Found`].

pub(crate) mod id;

use tpm_passkey_wire::ctap2::UserEntity;
use tpm_passkey_wire::Status;

use crate::ctap::ceremony::CredProtect;
use crate::store::Credential;
use crate::{Approver, Clock, Engine, KeyStore};

/// A credential found for a relying party, discoverable or not.
#[derive(Debug, Clone)]
pub(crate) struct Found {
    pub id: Vec<u8>,
    pub blob: Vec<u8>,
    pub pin_bound: bool,
    pub cred_protect: CredProtect,
    pub hmac_secret: bool,
    /// Set for discoverable credentials.
    pub user: Option<UserEntity>,
    /// What CredRandom is derived from: the random ID, or the wrapped ID's nonce.
    pub material: Vec<u8>,
    /// hmac-secret is computed in the key store (false for credentials made before).
    pub prf_in_key_store: bool,
    /// §12.2 credBlob (discoverable credentials only).
    pub cred_blob: Option<Vec<u8>>,
    /// §12.3 largeBlobKey (discoverable credentials only).
    pub large_blob_key: Option<Vec<u8>>,
}

impl From<Credential> for Found {
    fn from(c: Credential) -> Self {
        Found {
            material: c.id.clone(),
            id: c.id,
            blob: c.key_blob,
            pin_bound: c.pin_bound,
            cred_protect: CredProtect::from_level(c.cred_protect),
            hmac_secret: c.hmac_secret,
            prf_in_key_store: c.prf_in_key_store,
            cred_blob: c.cred_blob,
            large_blob_key: c.large_blob_key,
            user: Some(UserEntity {
                id: c.user_id,
                name: c.user_name,
                display_name: c.user_display_name,
            }),
        }
    }
}

impl<K: KeyStore, A: Approver, C: Clock> Engine<K, A, C> {
    /// Resolves a credential ID for `rp_id`: a stored discoverable credential, or a
    /// non-discoverable ID that this install wrapped for this relying party.
    pub(crate) fn find_credential(
        &self,
        rp_id: &str,
        rp_id_hash: &[u8; 32],
        credential_id: &[u8],
    ) -> Result<Option<Found>, Status> {
        if let Some(c) = self.store.credential(credential_id)? {
            return Ok((c.rp_id == rp_id).then(|| c.into()));
        }
        Ok(
            id::unwrap(&self.install_secret, rp_id_hash, credential_id).map(|w| Found {
                id: credential_id.to_vec(),
                blob: w.blob,
                pin_bound: w.pin_bound,
                cred_protect: CredProtect::from_level(w.cred_protect),
                hmac_secret: w.hmac_secret,
                prf_in_key_store: w.prf_in_key_store,
                cred_blob: None,
                large_blob_key: None,
                user: None,
                material: w.nonce.to_vec(),
            }),
        )
    }
}
