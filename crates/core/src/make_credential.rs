//! authenticatorMakeCredential, CTAP 2.1 §6.1.2. Step numbers in comments are the spec's.

use tpm_passkey_wire::auth_data::{self, flags, AttestedCredential};
use tpm_passkey_wire::cbor::MapBuilder;
use tpm_passkey_wire::cose::ALG_ES256;
use tpm_passkey_wire::ctap2::{MakeCredential, MakeCredentialResponse};
use tpm_passkey_wire::Status;

use crate::approver::{Approver, Operation, Prompt};
use crate::cred_id::{self, Wrapped};
use crate::engine::{key_err, now_unix, refusal, sha256, store_err, Engine, MAX_DISCOVERABLE};
use crate::pin_protocol::Protocol;
use crate::secret::random;
use crate::store::Credential;
use crate::token::permission;
use crate::{AuditEvent, KeyStore, PinHash};

/// How a request proved user verification, if it did.
pub(crate) enum Uv {
    /// No user verification.
    None,
    /// A pinUvAuthToken (whose pinHash, if any, unlocks PIN-bound keys).
    Token,
    /// Built-in: the user must type the PIN into our prompt.
    BuiltIn,
}

/// credProtect levels, §12.1.
pub(crate) const UV_OPTIONAL: u8 = 1;
pub(crate) const UV_OPTIONAL_WITH_LIST: u8 = 2;
pub(crate) const UV_REQUIRED: u8 = 3;

impl<K: KeyStore, A: Approver> Engine<K, A> {
    /// Steps 1–2 of §6.1.2 and §6.2.2, shared: the zero-length pinUvAuthParam probe and the
    /// protocol checks. Returns the protocol when a pinUvAuthParam is present.
    pub(crate) fn pin_uv_preamble(
        &mut self,
        param: Option<&[u8]>,
        protocol: Option<u64>,
    ) -> Result<Option<Protocol>, Status> {
        let Some(param) = param else { return Ok(None) };
        if param.is_empty() {
            // Step 1: the platform asks which authenticator the user means.
            self.approver
                .ask(&Prompt::new(Operation::Select))
                .map_err(refusal)?;
            return Err(if self.keys.pin_is_set() {
                Status::PinInvalid
            } else {
                Status::PinNotSet
            });
        }
        Ok(Some(Protocol::from_number(
            protocol.ok_or(Status::MissingParameter)?,
        )?))
    }

    /// Steps 4–6 of §6.1.2 / §6.2.2: decides how this request verifies the user, given the
    /// uv option, a pinUvAuthParam, and alwaysUv (or the site's require-PIN rule).
    pub(crate) fn choose_uv(
        &self,
        uv_option: bool,
        has_token_param: bool,
        site_requires_pin: bool,
    ) -> Result<Uv, Status> {
        let pin_set = self.keys.pin_is_set();
        if has_token_param {
            return Ok(Uv::Token);
        }
        if uv_option {
            // Built-in UV is configured once a PIN exists (getInfo "uv").
            return if pin_set {
                Ok(Uv::BuiltIn)
            } else {
                Err(Status::InvalidOption)
            };
        }
        if self.settings.always_uv || site_requires_pin {
            // §6.1.2 step 5 / §6.2.2 step 5 (alwaysUv): verify the user by the built-in
            // method when there is one; without any PIN there is none.
            return if pin_set {
                Ok(Uv::BuiltIn)
            } else {
                Err(Status::PinNotSet)
            };
        }
        Ok(Uv::None)
    }

    pub(crate) fn make_credential(
        &mut self,
        req: MakeCredential,
    ) -> Result<MakeCredentialResponse, Status> {
        let rp_id = req.rp.id.clone();
        // Steps 1–2.
        let protocol =
            self.pin_uv_preamble(req.pin_uv_auth_param.as_deref(), req.pin_uv_auth_protocol)?;
        let site_requires_pin = self.apply_site_rule(&rp_id, "register")?;
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
        if matches!(uv, Uv::None) && rk && self.keys.pin_is_set() {
            return Err(Status::PuatRequired);
        }
        // Step 6: the pinUvAuthParam over clientDataHash, with mc permission and rpId.
        let mut pin: Option<PinHash> = None;
        if let (Some(protocol), Some(param)) = (protocol, req.pin_uv_auth_param.as_deref()) {
            self.token.check(
                protocol,
                &req.client_data_hash,
                param,
                permission::MC,
                Some(&rp_id),
            )?;
            pin = self.token.pin().cloned();
        }
        let uv_done = !matches!(uv, Uv::None);
        let rp_id_hash = sha256(rp_id.as_bytes());

        // Step 11: excludeList.
        for d in req.exclude_list.iter().filter(|d| d.public_key) {
            if let Some(found) = self.find_credential(&rp_id, &rp_id_hash, &d.id)? {
                if found.cred_protect == UV_REQUIRED && !uv_done {
                    continue;
                }
                let prompt =
                    Prompt::new(Operation::AlreadyRegistered).rp(&rp_id, req.rp.name.as_deref());
                if let Err(r) = self.approver.ask(&prompt) {
                    return Err(refusal(r));
                }
                self.audit(AuditEvent::new("register", Some(&rp_id), "excluded"));
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
            Uv::BuiltIn => pin = Some(self.built_in_uv(prompt)?),
            // A token from our own UV prompt already carries the user's presence.
            Uv::Token if self.token.take_user_present() => {}
            _ => self.ask_presence(&prompt, "register")?,
        }

        // Extensions (§12.1 credProtect, §12.5 hmac-secret, §12.4 minPinLength).
        let cred_protect = match req.extensions.cred_protect {
            Some(l @ 1..=3) => Some(l as u8),
            _ => None,
        };
        let mut ext = MapBuilder::new();
        let mut any_ext = false;
        if let Some(l) = cred_protect {
            ext = ext.put_text("credProtect", u64::from(l));
            any_ext = true;
        }
        if req.extensions.hmac_secret {
            ext = ext.put_text("hmac-secret", true);
            any_ext = true;
        }
        if req.extensions.min_pin_length && self.settings.min_pin_length_rp_ids.contains(&rp_id) {
            ext = ext.put_text("minPinLength", u64::from(self.settings.min_pin_length));
            any_ext = true;
        }

        // Step 12: the key. It is PIN-bound in the key store whenever the user was verified
        // with a PIN we hold (always, under alwaysUv): the TPM will refuse it without the PIN.
        let pin_bound = pin.is_some();
        let key = self.keys.create_key(pin_bound).map_err(key_err)?;
        let cred_protect = cred_protect.unwrap_or(UV_OPTIONAL);
        let credential_id = if rk {
            if self.store.credential_count().map_err(store_err)? >= MAX_DISCOVERABLE {
                return Err(Status::KeyStoreFull);
            }
            let mut id = vec![0u8; 32];
            random(&mut id)?;
            self.store
                .put_credential(&Credential {
                    id: id.clone(),
                    rp_id: rp_id.clone(),
                    rp_name: req.rp.name.clone(),
                    user_id: req.user.id.clone(),
                    user_name: req.user.name.clone(),
                    user_display_name: req.user.display_name.clone(),
                    key_blob: key.blob.clone(),
                    public_key: key.public.clone(),
                    pin_bound,
                    cred_protect,
                    hmac_secret: req.extensions.hmac_secret,
                    prf_in_key_store: true,
                    created: now_unix(),
                    last_used: None,
                    sign_count: 0,
                })
                .map_err(store_err)?;
            id
        } else {
            let mut nonce = [0u8; 16];
            random(&mut nonce)?;
            let w = Wrapped {
                nonce,
                pin_bound,
                hmac_secret: req.extensions.hmac_secret,
                cred_protect,
                blob: key.blob.clone(),
                prf_in_key_store: true,
            };
            cred_id::wrap(&self.install_secret, &rp_id_hash, &w)
        };

        // Steps 13–16: authenticator data and packed self-attestation (WebAuthn §8.2.1:
        // signed by the credential key itself).
        let flag_bits = flags::UP | if uv_done { flags::UV } else { 0 };
        let attested = AttestedCredential {
            aaguid: crate::AAGUID,
            credential_id: &credential_id,
            public_key: &key.public,
        };
        let auth_data = auth_data::build(
            &rp_id_hash,
            flag_bits,
            0,
            Some(&attested),
            any_ext.then(|| ext.build()),
        );
        let digest = sha256(&[auth_data.as_slice(), &req.client_data_hash].concat());
        let signature = match self.keys.sign(&key.blob, &digest, pin.as_ref()) {
            Ok(s) => s,
            Err(e) => {
                if rk {
                    let _ = self.store.delete_credential(&credential_id);
                }
                return Err(key_err(e));
            }
        };
        // Step 14 (up = true): the token cannot be reused for another ceremony.
        if protocol.is_some() {
            self.token.clear_permissions_except_lbw();
        }
        self.audit(
            AuditEvent::new("register", Some(&rp_id), "ok").detail(if rk {
                "discoverable"
            } else {
                "server-side"
            }),
        );
        Ok(MakeCredentialResponse {
            auth_data,
            alg: ALG_ES256,
            signature,
        })
    }
}

/// "alice (Alice Liddell)", "alice", or None.
pub(crate) fn user_label(name: Option<&str>, display: Option<&str>) -> Option<String> {
    match (name, display) {
        (Some(n), Some(d)) if n != d => Some(format!("{n} ({d})")),
        (Some(n), _) => Some(n.to_owned()),
        (None, Some(d)) => Some(d.to_owned()),
        (None, None) => None,
    }
}
