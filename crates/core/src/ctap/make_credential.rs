//! authenticatorMakeCredential, CTAP 2.1 §6.1.2. Step numbers in comments are the spec's.

use tpm_passkey_ipc::{Operation, Prompt};
use tpm_passkey_wire::auth_data::{self, flags, AttestedCredential};
use tpm_passkey_wire::cose::ALG_ES256;
use tpm_passkey_wire::ctap2::{MakeCredential, MakeCredentialOutputs, MakeCredentialResponse};
use tpm_passkey_wire::Status;

use super::ceremony::{user_label, CredProtect, Uv};
use crate::audit::{AuditEvent, AuditKind, Outcome};
use crate::credential::id::{self, Wrapped};
use crate::credential::Found;
use crate::engine::{AAGUID, MAX_CRED_BLOB, MAX_DISCOVERABLE};
use crate::pin::token::permission;
use crate::secret::{random, sha256};
use crate::store::Credential;
use crate::{Approver, Clock, Engine, KeyStore, PinHash};

impl<K: KeyStore, A: Approver, C: Clock> Engine<K, A, C> {
    pub(crate) fn make_credential_cmd(
        &mut self,
        req: MakeCredential,
    ) -> Result<MakeCredentialResponse, Status> {
        let rp_id = req.rp.id.clone();
        // Steps 1–2.
        let protocol =
            self.pin_uv_preamble(req.pin_uv_auth_param.as_deref(), req.pin_uv_auth_protocol)?;
        // The site's rule, or step-up by risk, may require the PIN where nothing else does.
        let site_requires_pin =
            self.apply_site_rule(&rp_id, AuditKind::Register)? || self.step_up_required(&rp_id)?;
        // Step 3: ES256 is the only algorithm a TPM key here can be.
        if !req
            .algorithms
            .iter()
            .any(|&(pk, alg)| pk && alg == ALG_ES256)
        {
            return Err(Status::UnsupportedAlgorithm);
        }
        // Step 4: options.
        if req.options.up == Some(false) {
            return Err(Status::InvalidOption);
        }
        let rk = req.options.rk.unwrap_or(false);
        // §12.3: a largeBlobKey only for a discoverable credential.
        if req.extensions.large_blob_key && !rk {
            return Err(Status::InvalidOption);
        }
        // Step 7 (enterprise attestation is not offered).
        if req.enterprise_attestation.is_some() {
            return Err(Status::InvalidParameter);
        }
        let uv = self.choose_uv(
            req.options.uv.unwrap_or(false),
            protocol.is_some(),
            site_requires_pin,
        )?;
        // makeCredUvNotRqd (§6.4): without alwaysUv, a discoverable credential still needs
        // user verification once a PIN is set.
        if uv == Uv::None && rk && self.keys.pin_is_set() {
            return Err(Status::PuatRequired);
        }
        // Step 6: the pinUvAuthParam over clientDataHash, with mc permission and rpId.
        let mut pin: Option<PinHash> = None;
        if let (Some(protocol), Some(param)) = (protocol, req.pin_uv_auth_param.as_deref()) {
            pin = self.check_token(
                protocol,
                &req.client_data_hash,
                param,
                permission::MC,
                &rp_id,
            )?;
        }
        let uv_done = uv != Uv::None;
        let rp_id_hash = sha256(rp_id.as_bytes());

        // Step 11: excludeList.
        for d in req.exclude_list.iter().filter(|d| d.public_key) {
            if let Some(found) = self.find_credential(&rp_id, &rp_id_hash, &d.id)? {
                if found.cred_protect == CredProtect::Required && !uv_done {
                    continue;
                }
                let prompt =
                    Prompt::new(Operation::AlreadyRegistered).rp(&rp_id, req.rp.name.as_deref());
                self.ask_user_pin(&prompt)?;
                self.audit(AuditEvent::new(
                    AuditKind::Register,
                    Some(&rp_id),
                    Outcome::Excluded,
                ));
                return Err(Status::CredentialExcluded);
            }
        }

        // Steps 8–9: user presence, and the PIN for built-in user verification.
        let prompt = Prompt::new(Operation::Register)
            .rp(&rp_id, req.rp.name.as_deref())
            .user(user_label(
                req.user.name.as_deref(),
                req.user.display_name.as_deref(),
            ));
        match uv {
            Uv::BuiltIn => pin = Some(self.built_in_uv(prompt)?.into_pin()),
            // A token from our own UV prompt already carries the user's presence.
            Uv::Token if self.pin.take_user_present() => {}
            _ => self.ask_presence(&prompt, AuditKind::Register)?,
        }

        // Extensions (§12.1 credProtect, §12.2 credBlob, §12.5 hmac-secret, §12.4
        // minPinLength; hmac-secret-mc below, once the credential exists).
        let requested_protect = req.extensions.cred_protect.and_then(CredProtect::requested);
        // credBlob is kept with discoverable credentials only: a non-discoverable one's ID
        // travels in the clear, and the blob is the relying party's secret.
        let cred_blob = req
            .extensions
            .cred_blob
            .clone()
            .filter(|b| rk && b.len() <= MAX_CRED_BLOB);
        let mut outputs = MakeCredentialOutputs {
            cred_protect: requested_protect.map(CredProtect::level),
            cred_blob: req
                .extensions
                .cred_blob
                .as_ref()
                .map(|_| cred_blob.is_some()),
            hmac_secret: req.extensions.hmac_secret.then_some(true),
            hmac_secret_mc: None,
            min_pin_length: (req.extensions.min_pin_length
                && self.settings().min_pin_length_rp_ids.contains(&rp_id))
            .then_some(self.settings().min_pin_length),
        };

        // Step 12: the key. It is PIN-bound in the key store whenever the user was verified
        // with a PIN we hold (always, under alwaysUv): the TPM will refuse it without the PIN.
        let pin_bound = pin.is_some();
        let key = self.keys.create_key(pin_bound)?;
        let cred_protect = requested_protect.unwrap_or(CredProtect::Optional);
        // What CredRandom is derived from (hmac-secret): the random ID, or the wrapped ID's
        // nonce.
        let large_blob_key = if req.extensions.large_blob_key {
            let mut k = vec![0u8; 32];
            random(&mut k)?;
            Some(k)
        } else {
            None
        };
        let (credential_id, material) = if rk {
            if self.store.credential_count()? >= MAX_DISCOVERABLE {
                return Err(Status::KeyStoreFull);
            }
            let mut cid = vec![0u8; 32];
            random(&mut cid)?;
            let credential = Credential {
                id: cid.clone(),
                rp_id: rp_id.clone(),
                rp_name: req.rp.name.clone(),
                user_id: req.user.id.clone(),
                user_name: req.user.name.clone(),
                user_display_name: req.user.display_name.clone(),
                key_blob: key.blob.clone(),
                public_key: key.public.clone(),
                pin_bound,
                cred_protect: cred_protect.level(),
                hmac_secret: req.extensions.hmac_secret,
                prf_in_key_store: true,
                created: self.clock.unix_secs(),
                last_used: None,
                sign_count: 0,
                cred_blob: cred_blob.clone(),
                large_blob_key: large_blob_key.clone(),
            };
            // A new account's passkey is an addition: its counter step waits for an idle
            // moment. One that replaces the account's older passkey (§6.1.2 step 15) steps
            // at once: rolled back, the older one would come back.
            let replaces = self
                .store
                .credentials_for_rp(&rp_id)?
                .iter()
                .any(|c| c.user_id == credential.user_id);
            if replaces {
                self.sealed_change(|s| s.put_credential(&credential))?;
            } else {
                self.sealed_addition(|s| s.put_credential(&credential))?;
            }
            (cid.clone(), cid)
        } else {
            let mut nonce = [0u8; 16];
            random(&mut nonce)?;

            let w = Wrapped {
                nonce,
                pin_bound,
                hmac_secret: req.extensions.hmac_secret,
                cred_protect: cred_protect.level(),
                blob: key.blob.clone(),
                prf_in_key_store: true,
            };
            (
                id::wrap(&self.install_secret, &rp_id_hash, &w),
                nonce.to_vec(),
            )
        };

        // CTAP 2.2 §12.7 hmac-secret-mc: the PRF outputs at registration, as getAssertion's
        // hmac-secret would give them for this credential (with UV when UV was done).
        if let (true, Some(input)) = (req.extensions.hmac_secret, &req.extensions.hmac_secret_mc) {
            let found = Found {
                id: credential_id.clone(),
                blob: key.blob.clone(),
                pin_bound,
                cred_protect,
                hmac_secret: true,
                user: None,
                material,
                prf_in_key_store: true,
                cred_blob: None,
                large_blob_key: None,
            };
            match self.hmac_secret(&found, input, pin.as_ref().filter(|_| uv_done), uv_done) {
                Ok(out) => outputs.hmac_secret_mc = Some(out),
                Err(e) => {
                    if rk {
                        let _ = self.sealed_change(|s| s.delete_credential(&credential_id));
                    }
                    return Err(e);
                }
            }
        }

        // Steps 13–16: authenticator data and the attestation: `tpm` (WebAuthn §8.3, the AK
        // certifies the key) when provisioned and turned on, else packed self-attestation
        // (§8.2.1: signed by the credential key itself).
        let flag_bits = flags::UP | if uv_done { flags::UV } else { 0 };
        let attested = AttestedCredential {
            aaguid: AAGUID,
            credential_id: &credential_id,
            public_key: &key.public,
        };
        let auth_data = auth_data::build(
            &rp_id_hash,
            flag_bits,
            0,
            Some(&attested),
            outputs.to_cbor(),
        );
        let digest = sha256(&[auth_data.as_slice(), &req.client_data_hash].concat());
        let tpm = self.tpm_attestation(&key.blob, &digest);
        let signature = match &tpm {
            Some((sig, _)) => sig.clone(),
            None => match self.keys.sign(&key.blob, &digest, pin.as_ref()) {
                Ok(s) => s,
                Err(e) => {
                    if rk {
                        let _ = self.sealed_change(|s| s.delete_credential(&credential_id));
                    }
                    return Err(e.into());
                }
            },
        };
        // Step 14 (up = true): the token cannot be reused for another ceremony.
        if protocol.is_some() {
            self.pin.end_ceremony();
        }
        if uv_done {
            self.note_verified_site(&rp_id);
        }
        self.audit(
            AuditEvent::new(AuditKind::Register, Some(&rp_id), Outcome::Ok).detail(if rk {
                "discoverable"
            } else {
                "server-side"
            }),
        );
        Ok(MakeCredentialResponse {
            auth_data,
            alg: ALG_ES256,
            signature,
            large_blob_key,
            tpm: tpm.map(|(_, t)| t),
        })
    }
}
