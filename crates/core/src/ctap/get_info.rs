//! authenticatorGetInfo, CTAP 2.1 §6.4.

use tpm_passkey_wire::ctap2::GetInfo;

use crate::engine::{AAGUID, MAX_CRED_BLOB, MAX_DISCOVERABLE};
use crate::{Approver, Clock, Engine, KeyStore};

impl<K: KeyStore, A: Approver, C: Clock> Engine<K, A, C> {
    pub(crate) fn get_info_cmd(&mut self) -> GetInfo {
        let pin_set = self.keys.pin_is_set();
        let mut versions = vec!["FIDO_2_0", "FIDO_2_1"];
        if !self.settings().always_uv {
            // §6.11.2: with alwaysUv the authenticator does not offer U2F.
            versions.insert(0, "U2F_V2");
        }
        let remaining = MAX_DISCOVERABLE
            .saturating_sub(self.store.credential_count().unwrap_or(MAX_DISCOVERABLE));
        GetInfo {
            versions,
            extensions: vec![
                "credBlob",
                "credProtect",
                "hmac-secret",
                "hmac-secret-mc",
                "largeBlobKey",
                "minPinLength",
            ],
            aaguid: AAGUID,
            options: vec![
                ("rk", true),
                ("up", true),
                // Built-in user verification is our own PIN prompt; it is configured once a
                // PIN exists (§6.4 "uv": present and false = capable but not configured).
                ("uv", pin_set),
                ("plat", false),
                ("alwaysUv", self.settings().always_uv),
                ("credMgmt", true),
                ("authnrCfg", true),
                ("clientPin", pin_set),
                ("pinUvAuthToken", true),
                ("setMinPINLength", true),
                ("makeCredUvNotRqd", !self.settings().always_uv),
                ("largeBlobs", true),
            ],
            max_msg_size: 7609,
            pin_uv_auth_protocols: vec![2, 1],
            max_credential_count_in_list: 64,
            max_credential_id_length: 1023,
            force_pin_change: self.settings().force_pin_change,
            min_pin_length: u64::from(self.settings().min_pin_length),
            firmware_version: 1,
            max_cred_blob_length: MAX_CRED_BLOB as u64,
            max_serialized_large_blob_array: super::large_blobs::MAX_SERIALIZED_LARGE_BLOB_ARRAY
                as u64,
            remaining_discoverable_credentials: remaining,
        }
    }
}
