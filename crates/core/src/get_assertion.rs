//! authenticatorGetAssertion (§6.2.2), authenticatorGetNextAssertion (§6.3), and the
//! hmac-secret extension's assertion side (§12.5).

use std::time::{Duration, Instant};

use tpm_passkey_wire::auth_data::{self, flags};
use tpm_passkey_wire::cbor::{MapBuilder, Value};
use tpm_passkey_wire::ctap2::{GetAssertion, GetAssertionResponse, HmacSecretInput, UserEntity};
use tpm_passkey_wire::Status;

use crate::approver::{Approver, Operation, Prompt};
use crate::cred_id;
use crate::engine::{key_err, now_unix, sha256, store_err, Engine};
use crate::make_credential::{user_label, Uv, UV_OPTIONAL_WITH_LIST, UV_REQUIRED};
use crate::pin_protocol::Protocol;
use crate::store::Credential;
use crate::token::permission;
use crate::{AuditEvent, KeyStore, PinHash};

/// §6.3: getNextAssertion must come within 30 s of the previous assertion.
const NEXT_ASSERTION_WINDOW: Duration = Duration::from_secs(30);

/// A credential found for a relying party, discoverable or not.
#[derive(Debug, Clone)]
pub(crate) struct Found {
    pub id: Vec<u8>,
    pub blob: Vec<u8>,
    pub pin_bound: bool,
    pub cred_protect: u8,
    pub hmac_secret: bool,
    /// Set for discoverable credentials.
    pub user: Option<UserEntity>,
    /// What CredRandom is derived from: the random ID, or the wrapped ID's nonce.
    pub material: Vec<u8>,
    /// hmac-secret is computed in the key store (false for credentials made before).
    pub prf_in_key_store: bool,
}

impl From<Credential> for Found {
    fn from(c: Credential) -> Self {
        Found {
            material: c.id.clone(),
            id: c.id,
            blob: c.key_blob,
            pin_bound: c.pin_bound,
            cred_protect: c.cred_protect,
            hmac_secret: c.hmac_secret,
            prf_in_key_store: c.prf_in_key_store,
            user: Some(UserEntity {
                id: c.user_id,
                name: c.user_name,
                display_name: c.user_display_name,
            }),
        }
    }
}

/// What getNextAssertion needs to sign the remaining credentials (§6.2.2 step 13).
pub(crate) struct NextAssertion {
    remaining: Vec<Found>,
    rp_id: String,
    client_data_hash: Vec<u8>,
    flag_bits: u8,
    pin: Option<PinHash>,
    hmac_secret: Option<HmacSecretInput>,
    deadline: Instant,
}

impl<K: KeyStore, A: Approver> Engine<K, A> {
    /// Resolves a credential ID for `rp_id`: a stored discoverable credential, or a
    /// non-discoverable ID that this install wrapped for this relying party.
    pub(crate) fn find_credential(
        &self,
        rp_id: &str,
        rp_id_hash: &[u8; 32],
        id: &[u8],
    ) -> Result<Option<Found>, Status> {
        if let Some(c) = self.store.credential(id).map_err(store_err)? {
            return Ok((c.rp_id == rp_id).then(|| c.into()));
        }
        Ok(
            cred_id::unwrap(&self.install_secret, rp_id_hash, id).map(|w| Found {
                id: id.to_vec(),
                blob: w.blob,
                pin_bound: w.pin_bound,
                cred_protect: w.cred_protect,
                hmac_secret: w.hmac_secret,
                prf_in_key_store: w.prf_in_key_store,
                user: None,
                material: w.nonce.to_vec(),
            }),
        )
    }

    pub(crate) fn get_assertion(
        &mut self,
        req: GetAssertion,
    ) -> Result<GetAssertionResponse, Status> {
        let rp_id = req.rp_id.clone();
        let rp_id_hash = sha256(rp_id.as_bytes());
        // Steps 1–2.
        let protocol =
            self.pin_uv_preamble(req.pin_uv_auth_param.as_deref(), req.pin_uv_auth_protocol)?;
        // Step 4: "rk" is not an option of getAssertion.
        if req.options.rk.is_some() {
            return Err(Status::UnsupportedOption);
        }
        let up = req.options.up.unwrap_or(true);
        let site_requires_pin = self.apply_site_rule(&rp_id, "sign_in")?;
        let mut uv = self.choose_uv(
            req.options.uv.unwrap_or(false),
            protocol.is_some(),
            site_requires_pin,
        )?;
        // Step 6: the pinUvAuthParam, with ga permission and rpId binding.
        let mut pin: Option<PinHash> = None;
        if let (Some(protocol), Some(param)) = (protocol, req.pin_uv_auth_param.as_deref()) {
            self.token.check(
                protocol,
                &req.client_data_hash,
                param,
                permission::GA,
                Some(&rp_id),
            )?;
            pin = self.token.pin().cloned();
        }
        let uv_claimed = !matches!(uv, Uv::None);

        // Step 7: the applicable credentials, credProtect applied (§12.1).
        let mut found: Vec<Found> = Vec::new();
        let with_list = !req.allow_list.is_empty();
        if with_list {
            for d in req.allow_list.iter().filter(|d| d.public_key) {
                if let Some(f) = self.find_credential(&rp_id, &rp_id_hash, &d.id)? {
                    if f.cred_protect == UV_REQUIRED && !uv_claimed {
                        continue;
                    }
                    found.push(f);
                    break;
                }
            }
        } else {
            found = self
                .store
                .credentials_for_rp(&rp_id)
                .map_err(store_err)?
                .into_iter()
                .map(Found::from)
                .filter(|f| f.cred_protect < UV_OPTIONAL_WITH_LIST || uv_claimed)
                .collect();
        }
        if found.is_empty() {
            return Err(Status::NoCredentials);
        }

        // A PIN-bound key cannot sign without the PIN: the TPM enforces what the
        // credential was made with. Ask for it in our prompt, or tell a silent request to
        // come back with a token.
        if found[0].pin_bound && pin.is_none() && matches!(uv, Uv::None) {
            if !up {
                return Err(Status::PuatRequired);
            }
            uv = Uv::BuiltIn;
        }

        // Steps 9–10: user presence (and the PIN for built-in verification).
        let user_hint = if found.len() == 1 {
            found[0]
                .user
                .as_ref()
                .and_then(|u| user_label(u.name.as_deref(), u.display_name.as_deref()))
        } else {
            Some(format!("{} accounts", found.len()))
        };
        let prompt = Prompt::new(Operation::SignIn)
            .rp(&rp_id, None)
            .user(user_hint);
        let mut up_done = false;
        match uv {
            Uv::BuiltIn => {
                pin = Some(self.built_in_uv(prompt)?);
                up_done = true;
            }
            Uv::Token if up && self.token.take_user_present() => up_done = true,
            _ if up => {
                self.ask_presence(&prompt, "sign_in")?;
                up_done = true;
            }
            _ => {}
        }
        let uv_done = !matches!(uv, Uv::None);
        let flag_bits = if up_done { flags::UP } else { 0 } | if uv_done { flags::UV } else { 0 };

        let first = found.remove(0);
        let total = found.len() + 1;
        let response = self.sign_assertion(
            &first,
            &rp_id,
            &req.client_data_hash,
            flag_bits,
            pin.as_ref(),
            req.hmac_secret.as_ref(),
            (!with_list && total > 1).then_some(total),
        )?;
        if up_done && protocol.is_some() {
            self.token.clear_permissions_except_lbw();
        }
        if !with_list && !found.is_empty() {
            self.next_assertion = Some(NextAssertion {
                remaining: found,
                rp_id: rp_id.clone(),
                client_data_hash: req.client_data_hash,
                flag_bits,
                pin,
                hmac_secret: req.hmac_secret,
                deadline: Instant::now() + NEXT_ASSERTION_WINDOW,
            });
        }
        // A silent assertion (up = false) is how clients probe an allowList before the real
        // ceremony; the log keeps it apart from sign-ins the user approved.
        let event = if up { "sign_in" } else { "silent_check" };
        self.audit(AuditEvent::new(event, Some(&rp_id), "ok"));
        Ok(response)
    }

    /// §6.3 authenticatorGetNextAssertion.
    pub(crate) fn get_next_assertion(&mut self) -> Result<GetAssertionResponse, Status> {
        let Some(mut state) = self.next_assertion.take() else {
            return Err(Status::NotAllowed);
        };
        if Instant::now() > state.deadline || state.remaining.is_empty() {
            return Err(Status::NotAllowed);
        }
        let next = state.remaining.remove(0);
        let response = self.sign_assertion(
            &next,
            &state.rp_id,
            &state.client_data_hash,
            state.flag_bits,
            state.pin.as_ref(),
            state.hmac_secret.as_ref(),
            None,
        )?;
        state.deadline = Instant::now() + NEXT_ASSERTION_WINDOW;
        if !state.remaining.is_empty() {
            self.next_assertion = Some(state);
        }
        Ok(response)
    }

    /// Steps 11–12: counter, extensions, authenticator data, signature.
    #[allow(clippy::too_many_arguments)]
    fn sign_assertion(
        &mut self,
        cred: &Found,
        rp_id: &str,
        client_data_hash: &[u8],
        flag_bits: u8,
        pin: Option<&PinHash>,
        hmac_secret: Option<&HmacSecretInput>,
        number_of_credentials: Option<usize>,
    ) -> Result<GetAssertionResponse, Status> {
        let rp_id_hash = sha256(rp_id.as_bytes());
        let uv = flag_bits & flags::UV != 0;
        let extensions = match (hmac_secret, cred.hmac_secret) {
            (Some(input), true) => Some(
                MapBuilder::new()
                    .put_text(
                        "hmac-secret",
                        Value::Bytes(self.hmac_secret(
                            cred,
                            input,
                            uv.then_some(pin).flatten(),
                            uv,
                        )?),
                    )
                    .build(),
            ),
            _ => None,
        };
        let counter = if cred.user.is_some() {
            self.store
                .touch_credential(&cred.id, now_unix())
                .map_err(store_err)?
        } else {
            self.next_global_counter()?
        };
        let auth_data = auth_data::build(&rp_id_hash, flag_bits, counter, None, extensions);
        let digest = sha256(&[auth_data.as_slice(), client_data_hash].concat());
        let signature = self
            .keys
            .sign(&cred.blob, &digest, if cred.pin_bound { pin } else { None })
            .map_err(key_err)?;
        Ok(GetAssertionResponse {
            credential_id: cred.id.clone(),
            auth_data,
            signature,
            // §6.2.2 step 12: user id for discoverable credentials; name and displayName
            // only after user verification.
            user: cred.user.clone().map(|u| (u, uv)),
            number_of_credentials,
        })
    }

    /// §12.5 hmac-secret: verify saltAuth, decrypt one or two salts, return
    /// encrypt(HMAC(CredRandom, salt1) [|| HMAC(CredRandom, salt2)]).
    fn hmac_secret(
        &mut self,
        cred: &Found,
        input: &HmacSecretInput,
        pin: Option<&PinHash>,
        uv: bool,
    ) -> Result<Vec<u8>, Status> {
        let protocol = Protocol::from_number(input.protocol)?;
        let shared = self
            .key_agreement
            .shared_secret(protocol, &input.key_agreement)?;
        if !shared.verify(&input.salt_enc, &input.salt_auth) {
            return Err(Status::ExtensionFirst);
        }
        let salts = shared.decrypt(&input.salt_enc)?;
        let salts = salts.expose_secret_bytes();
        if salts.len() != 32 && salts.len() != 64 {
            return Err(Status::InvalidLength);
        }
        let cred_random = if cred.prf_in_key_store {
            // CredRandomWithUV needs the PIN in the key store, like a PIN-bound key.
            let pin = if uv {
                Some(pin.ok_or(Status::PuatRequired)?)
            } else {
                None
            };
            self.keys
                .cred_random(&cred.material, pin)
                .map_err(key_err)?
        } else {
            cred_id::cred_random(&self.install_secret, &cred.material, uv)
        };
        let mut out = Vec::with_capacity(salts.len());
        for salt in salts.chunks(32) {
            out.extend(Protocol::Two.authenticate(cred_random.expose_secret_bytes(), salt));
        }
        let encrypted = shared.encrypt(&out);
        zeroize::Zeroize::zeroize(&mut out);
        encrypted
    }
}
