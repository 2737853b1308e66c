//! authenticatorClientPIN, CTAP 2.1 §6.5.5, and the PIN checks shared with built-in user
//! verification. The PIN itself is checked by the key store (the TPM), never compared here.

use tpm_passkey_ipc::{Operation, Prompt};
use tpm_passkey_wire::ctap2::{ClientPin, ClientPinResponse, PinSubCommand};
use tpm_passkey_wire::Status;
use zeroize::Zeroize;

use crate::audit::{AuditEvent, AuditKind, Outcome};
use crate::credential::Found;
use crate::ctap::ceremony::account_labels;
use crate::ctap::verify::audit_kind;
use crate::deferred::Deferred;
use crate::engine::MAX_PIN_BYTES;
use crate::pin::protocol::{KeyAgreement, Protocol, SharedSecret};
use crate::pin::token::permission;
use crate::{Approver, Clock, Engine, KeyStore, PinHash};

impl<K: KeyStore, A: Approver, C: Clock> Engine<K, A, C> {
    pub(crate) fn client_pin_cmd(&mut self, req: ClientPin) -> Result<ClientPinResponse, Status> {
        use PinSubCommand::*;
        match req.sub_command {
            // With no PIN there is nothing to count: PIN_NOT_SET, as libfido2 and
            // python-fido2 expect (they read it as "set a PIN first").
            GetPinRetries if !self.keys.pin_is_set() => Err(Status::PinNotSet),
            GetPinRetries => Ok(ClientPinResponse {
                pin_retries: Some(self.pin_retries()?),
                power_cycle_state: Some(self.pin.paused()),
                ..Default::default()
            }),
            GetUvRetries => {
                if !self.keys.pin_is_set() {
                    return Err(Status::NotAllowed);
                }
                Ok(ClientPinResponse {
                    uv_retries: Some(self.pin_retries()?),
                    ..Default::default()
                })
            }
            GetKeyAgreement => {
                protocol(&req)?;
                Ok(ClientPinResponse {
                    key_agreement: Some(self.pin.key_agreement().public()),
                    ..Default::default()
                })
            }
            SetPin => self.set_pin(req).map(|()| ClientPinResponse::default()),
            ChangePin => self.change_pin(req).map(|()| ClientPinResponse::default()),
            GetPinToken => {
                // §6.5.5.7.1: permissions and rpId are not parameters of getPinToken.
                if req.permissions.is_some() || req.rp_id.is_some() {
                    return Err(Status::InvalidParameter);
                }
                // §6.5.5.7.1: the legacy command answers PIN_INVALID while forcePINChange is
                // set (only the with-permissions one says PIN_POLICY_VIOLATION).
                self.token_using_pin(
                    req,
                    permission::MC | permission::GA,
                    None,
                    Status::PinInvalid,
                )
            }
            GetPinUvAuthTokenUsingPinWithPermissions => {
                let perms = permissions(&req)?;
                let rp_id = req.rp_id.clone();
                // §6.5.5.7.2.
                self.token_using_pin(req, perms, rp_id, Status::PinPolicyViolation)
            }
            GetPinUvAuthTokenUsingUvWithPermissions => self.token_using_uv(req),
            _ => Err(Status::InvalidSubcommand),
        }
    }

    /// §6.5.5.5 setPIN.
    fn set_pin(&mut self, req: ClientPin) -> Result<(), Status> {
        let protocol = protocol(&req)?;
        let (ka, new_pin_enc, param) = (
            req.key_agreement.as_ref().ok_or(Status::MissingParameter)?,
            req.new_pin_enc.as_deref().ok_or(Status::MissingParameter)?,
            req.pin_uv_auth_param
                .as_deref()
                .ok_or(Status::MissingParameter)?,
        );
        if self.keys.pin_is_set() {
            return Err(Status::NotAllowed);
        }
        let shared = self.pin.key_agreement().shared_secret(protocol, ka)?;
        if !shared.verify(new_pin_enc, param) {
            return Err(Status::PinAuthInvalid);
        }
        let (pin, length) = self.decrypt_new_pin(&shared, new_pin_enc)?;
        self.keys.set_pin(&pin)?;
        self.save_key_state()?;
        self.update_settings(|s| {
            s.pin_length = length;
            s.force_pin_change = false;
        })?;
        self.anchor_enrolment(&pin);
        self.audit(AuditEvent::new(AuditKind::PinSet, None, Outcome::Ok));
        Ok(())
    }

    /// §6.5.5.6 changePIN.
    fn change_pin(&mut self, req: ClientPin) -> Result<(), Status> {
        let protocol = protocol(&req)?;
        let (ka, pin_hash_enc, new_pin_enc, param) = (
            req.key_agreement.as_ref().ok_or(Status::MissingParameter)?,
            req.pin_hash_enc
                .as_deref()
                .ok_or(Status::MissingParameter)?,
            req.new_pin_enc.as_deref().ok_or(Status::MissingParameter)?,
            req.pin_uv_auth_param
                .as_deref()
                .ok_or(Status::MissingParameter)?,
        );
        if !self.keys.pin_is_set() {
            return Err(Status::PinNotSet);
        }
        self.refuse_if_blocked()?;
        let shared = self.pin.key_agreement().shared_secret(protocol, ka)?;
        let message = [new_pin_enc, pin_hash_enc].concat();
        if !shared.verify(&message, param) {
            return Err(Status::PinAuthInvalid);
        }
        let old = self.decrypt_pin_hash(&shared, pin_hash_enc)?;
        self.verify_pin(&old, AuditKind::PinChange)?;
        let (new, length) = self.decrypt_new_pin(&shared, new_pin_enc)?;
        self.keys.change_pin(&old, &new)?;
        self.save_key_state()?;
        self.update_settings(|s| {
            s.pin_length = length;
            s.force_pin_change = false;
        })?;
        self.pin.forget_token();
        self.audit(AuditEvent::new(AuditKind::PinChange, None, Outcome::Ok));
        Ok(())
    }

    /// getPinToken (§6.5.5.7.1) and getPinUvAuthTokenUsingPinWithPermissions (§6.5.5.7.2).
    fn token_using_pin(
        &mut self,
        req: ClientPin,
        permissions: u64,
        rp_id: Option<String>,
        while_forced_change: Status,
    ) -> Result<ClientPinResponse, Status> {
        let protocol = protocol(&req)?;
        let ka = req.key_agreement.as_ref().ok_or(Status::MissingParameter)?;
        let pin_hash_enc = req
            .pin_hash_enc
            .as_deref()
            .ok_or(Status::MissingParameter)?;
        if !self.keys.pin_is_set() {
            return Err(Status::PinNotSet);
        }
        self.refuse_if_blocked()?;
        let shared = self.pin.key_agreement().shared_secret(protocol, ka)?;
        let pin = self.decrypt_pin_hash(&shared, pin_hash_enc)?;
        let verified = self.verify_pin(&pin, AuditKind::PinVerify)?;
        // §6.5.5.7: with forcePINChange set, a token is refused until the PIN changes.
        if self.settings().force_pin_change {
            return Err(while_forced_change);
        }
        let now = self.now();
        let token = self
            .pin
            .issue_token(verified, permissions, rp_id, false, now)?;
        let encrypted = shared.encrypt(token.expose_secret_bytes())?;
        Ok(ClientPinResponse {
            pin_uv_auth_token: Some(encrypted),
            ..Default::default()
        })
    }

    /// getPinUvAuthTokenUsingUvWithPermissions, §6.5.5.7.3: built-in user verification is
    /// our own prompt, where the user types the PIN; the TPM checks it.
    fn token_using_uv(&mut self, req: ClientPin) -> Result<ClientPinResponse, Status> {
        let protocol = protocol(&req)?;
        let perms = permissions(&req)?;
        let ka = req.key_agreement.as_ref().ok_or(Status::MissingParameter)?;
        if !self.keys.pin_is_set() {
            return Err(Status::NotAllowed);
        }
        // The platform's key is checked now; the ECDH itself (~0.3 ms, a scalar
        // multiplication) runs on its own thread while the person reads the prompt and the
        // TPM checks the PIN, and is needed only to encrypt the token at the end.
        let peer = KeyAgreement::peer(ka)?;
        let agreement = self.pin.key_agreement().clone();
        let shared = Deferred::start(move || agreement.agree(protocol, &peer));
        // The token's permissions say what the client is about to do: name it, so that the
        // user reads "Create a passkey for …" rather than a bare "verify".
        let operation = match perms & (permission::MC | permission::GA) {
            permission::MC => Operation::Register,
            permission::GA => Operation::SignIn,
            _ => Operation::Verify,
        };
        // A blocked site gets no prompt at all.
        if let Some(rp) = req.rp_id.as_deref() {
            self.apply_site_rule(rp, audit_kind(operation))?;
        }
        let mut prompt = Prompt::new(operation);
        prompt.rp_id = req.rp_id.clone();
        // Without an rpId the token will work for whichever site uses it first (§6.5.5.7):
        // the prompt must say so instead of naming one.
        prompt.any_site = req.rp_id.is_none();
        // A sign-in token for a site: this is the prompt the person sees, so it names the
        // account, or lists the site's accounts to choose from; the discoverable
        // getAssertion that follows returns the one chosen (with userSelected).
        let accounts = match (&req.rp_id, operation) {
            (Some(rp), Operation::SignIn) => self
                .store
                .credentials_for_rp(rp)?
                .into_iter()
                .map(Found::from)
                .filter(|f| f.cred_protect.allows(true, false))
                .collect(),
            _ => Vec::new(),
        };
        let labels = account_labels(&accounts);
        match labels.len() {
            0 => {}
            1 => prompt.user = labels.into_iter().next(),
            _ => prompt.accounts = labels,
        }
        let (verified, choice) = self.built_in_uv_choosing(prompt)?;
        if self.settings().force_pin_change {
            return Err(Status::PinPolicyViolation);
        }
        // The prompt that took the PIN also saw the user: userIsPresent = true.
        let now = self.now();
        let token = self
            .pin
            .issue_token(verified, perms, req.rp_id, true, now)?;
        match (choice, accounts.len()) {
            (Some(i), _) => self.pin.set_chosen(accounts[i].id.clone()),
            (None, 1) => self.pin.set_chosen(accounts[0].id.clone()),
            _ => {}
        }
        let encrypted = shared.finish()?.encrypt(token.expose_secret_bytes())?;
        Ok(ClientPinResponse {
            pin_uv_auth_token: Some(encrypted),
            ..Default::default()
        })
    }

    /// pinHashEnc → the 16-byte pinHash. A ciphertext of the wrong size is refused the way
    /// a wrong PIN is (new key agreement), since the platform's secret is in doubt.
    fn decrypt_pin_hash(&mut self, shared: &SharedSecret, enc: &[u8]) -> Result<PinHash, Status> {
        let expected = if shared.protocol == Protocol::One {
            16
        } else {
            32
        };
        if enc.len() != expected {
            return Err(Status::InvalidParameter);
        }
        let plain = shared.decrypt(enc)?;
        let bytes: [u8; 16] = plain
            .expose_secret_bytes()
            .try_into()
            .map_err(|_| Status::InvalidParameter)?;
        Ok(PinHash::from_bytes(bytes))
    }

    /// newPinEnc → pinHash and length, with the policy checks of §6.5.5.5: 64 bytes of
    /// padded PIN, at least minPINLength code points, at most 63 bytes.
    fn decrypt_new_pin(&self, shared: &SharedSecret, enc: &[u8]) -> Result<(PinHash, u8), Status> {
        let expected = if shared.protocol == Protocol::One {
            64
        } else {
            80
        };
        if enc.len() != expected {
            return Err(Status::InvalidParameter);
        }
        let padded = shared.decrypt(enc)?;
        let bytes = padded.expose_secret_bytes();
        let len = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
        if len > MAX_PIN_BYTES {
            return Err(Status::PinPolicyViolation);
        }
        let mut pin = std::str::from_utf8(&bytes[..len])
            .map_err(|_| Status::PinPolicyViolation)?
            .to_owned();
        let code_points = pin.chars().count();
        let result = if code_points < usize::from(self.settings().min_pin_length) {
            Err(Status::PinPolicyViolation)
        } else {
            Ok((PinHash::from_pin(&pin), code_points.min(255) as u8))
        };
        pin.zeroize();
        result
    }
}

/// pinUvAuthProtocol is required for every subcommand but the retry counters (§6.5.5.1).
fn protocol(req: &ClientPin) -> Result<Protocol, Status> {
    Protocol::from_number(req.protocol.ok_or(Status::MissingParameter)?)
}

/// §6.5.5.7.2 step 3–4: permissions are required and non-zero; be and lbw are features we
/// do not have (CTAP2_ERR_UNAUTHORIZED_PERMISSION).
fn permissions(req: &ClientPin) -> Result<u64, Status> {
    let p = req.permissions.ok_or(Status::MissingParameter)?;
    if p == 0 {
        return Err(Status::InvalidParameter);
    }
    // §6.5.5.7.2: a permission for a feature the authenticator lacks (bio enrollment).
    // Large blobs are offered (§6.10), so lbw is granted.
    if p & permission::BE != 0 {
        return Err(Status::UnauthorizedPermission);
    }
    Ok(p)
}
