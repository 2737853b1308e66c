//! authenticatorClientPIN, CTAP 2.1 §6.5.5, and the PIN checks shared with built-in user
//! verification. The PIN itself is checked by the key store (the TPM), never compared here.

use tpm_passkey_wire::ctap2::{ClientPin, ClientPinResponse, PinSubCommand};
use tpm_passkey_wire::Status;
use zeroize::Zeroize;

use crate::approver::{Approver, Operation, Prompt};
use crate::engine::{key_err, outcome, refusal, Engine, MAX_PIN_BYTES, PIN_FAILURES_PER_BOOT};
use crate::pin_protocol::{KeyAgreement, Protocol, SharedSecret};
use crate::token::permission;
use crate::{AuditEvent, KeyError, KeyStore, PinHash};

/// Retries reported when no PIN is set yet (the TPM's pinLimit).
const RETRIES_WITHOUT_PIN: u8 = 8;

impl<K: KeyStore, A: Approver> Engine<K, A> {
    pub(crate) fn client_pin(&mut self, req: ClientPin) -> Result<ClientPinResponse, Status> {
        use PinSubCommand::*;
        match req.sub_command {
            GetPinRetries => Ok(ClientPinResponse {
                pin_retries: Some(self.pin_retries()?),
                power_cycle_state: Some(self.pin_failures >= PIN_FAILURES_PER_BOOT),
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
                    key_agreement: Some(self.key_agreement.public()),
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
                self.token_using_pin(req, permission::MC | permission::GA, None)
            }
            GetPinUvAuthTokenUsingPinWithPermissions => {
                let perms = permissions(&req)?;
                let rp_id = req.rp_id.clone();
                self.token_using_pin(req, perms, rp_id)
            }
            GetPinUvAuthTokenUsingUvWithPermissions => self.token_using_uv(req),
            _ => Err(Status::InvalidSubcommand),
        }
    }

    fn pin_retries(&mut self) -> Result<u8, Status> {
        if !self.keys.pin_is_set() {
            return Ok(RETRIES_WITHOUT_PIN);
        }
        self.keys.pin_retries().map_err(key_err)
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
        let shared = self.key_agreement.shared_secret(protocol, ka)?;
        if !shared.verify(new_pin_enc, param) {
            return Err(Status::PinAuthInvalid);
        }
        let (pin, length) = self.decrypt_new_pin(&shared, new_pin_enc)?;
        self.keys.set_pin(&pin).map_err(key_err)?;
        self.save_key_state()?;
        self.settings.pin_length = length;
        self.settings.force_pin_change = false;
        self.save_settings()?;
        self.audit(AuditEvent::new("pin_set", None, "ok"));
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
        let shared = self.key_agreement.shared_secret(protocol, ka)?;
        let message = [new_pin_enc, pin_hash_enc].concat();
        if !shared.verify(&message, param) {
            return Err(Status::PinAuthInvalid);
        }
        let old = self.decrypt_pin_hash(&shared, pin_hash_enc)?;
        self.verify_pin(&old, "pin_change")?;
        let (new, length) = self.decrypt_new_pin(&shared, new_pin_enc)?;
        self.keys.change_pin(&old, &new).map_err(key_err)?;
        self.save_key_state()?;
        self.settings.pin_length = length;
        self.settings.force_pin_change = false;
        self.save_settings()?;
        self.token.reset();
        self.audit(AuditEvent::new("pin_change", None, "ok"));
        Ok(())
    }

    /// getPinToken (§6.5.5.7.1) and getPinUvAuthTokenUsingPinWithPermissions (§6.5.5.7.2).
    fn token_using_pin(
        &mut self,
        req: ClientPin,
        permissions: u64,
        rp_id: Option<String>,
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
        let shared = self.key_agreement.shared_secret(protocol, ka)?;
        let pin = self.decrypt_pin_hash(&shared, pin_hash_enc)?;
        self.verify_pin(&pin, "pin_verify")?;
        // §6.5.5.7: with forcePINChange set, a token is refused until the PIN changes.
        if self.settings.force_pin_change {
            return Err(Status::PinPolicyViolation);
        }
        let token = self.token.issue(permissions, rp_id, Some(pin), false)?;
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
        let shared = self.key_agreement.shared_secret(protocol, ka)?;
        // The token's permissions say what the client is about to do: name it, so that the
        // user reads "Create a passkey for …" rather than a bare "verify".
        let operation = match perms & (permission::MC | permission::GA) {
            permission::MC => Operation::Register,
            permission::GA => Operation::SignIn,
            _ => Operation::Verify,
        };
        // A blocked site gets no prompt at all.
        if let Some(rp) = req.rp_id.as_deref() {
            self.apply_site_rule(rp, audit_name(operation))?;
        }
        let mut prompt = Prompt::new(operation);
        prompt.rp_id = req.rp_id.clone();
        let pin = self.built_in_uv(prompt)?;
        if self.settings.force_pin_change {
            return Err(Status::PinPolicyViolation);
        }
        // The prompt that took the PIN also saw the user: userIsPresent = true.
        let token = self.token.issue(perms, req.rp_id, Some(pin), true)?;
        let encrypted = shared.encrypt(token.expose_secret_bytes())?;
        Ok(ClientPinResponse {
            pin_uv_auth_token: Some(encrypted),
            ..Default::default()
        })
    }

    /// Built-in user verification: ask the user (presence and PIN in one prompt), check the
    /// PIN with the key store; up to three tries within one request.
    pub(crate) fn built_in_uv(&mut self, mut prompt: Prompt) -> Result<PinHash, Status> {
        prompt.pin_required = true;
        for _ in 0..PIN_FAILURES_PER_BOOT {
            // One read of the TPM's counter per attempt (each read is a salted session).
            prompt.pin_retries = Some(self.refuse_if_blocked()?);
            let answer = match self.approver.ask(&prompt) {
                Ok(a) => a,
                Err(r) => {
                    self.audit(AuditEvent::new(
                        audit_name(prompt.operation),
                        prompt.rp_id.as_deref(),
                        outcome(r),
                    ));
                    return Err(refusal(r));
                }
            };
            let Some(pin) = answer else {
                // An approval without the PIN cannot verify the user.
                return Err(Status::UvInvalid);
            };
            match self.verify_pin(&pin, "uv") {
                Ok(()) => return Ok(pin),
                Err(Status::PinInvalid) => prompt.pin_was_wrong = true,
                Err(Status::PinAuthBlocked) | Err(Status::PinBlocked) => {
                    return Err(Status::PinBlocked)
                }
                Err(e) => return Err(e),
            }
        }
        Err(Status::UvInvalid)
    }

    /// Three wrong PINs since start-up (§6.5.5.7 PIN_AUTH_BLOCKED): no PIN is checked again
    /// until the daemon restarts, which a user must do on purpose.
    pub fn pin_auth_blocked(&self) -> bool {
        self.pin_failures >= PIN_FAILURES_PER_BOOT
    }

    /// §6.5.5.7 steps shared by every PIN check: CTAP2_ERR_PIN_BLOCKED at no retries,
    /// CTAP2_ERR_PIN_AUTH_BLOCKED after three wrong PINs since start-up. Returns the
    /// retries left.
    pub(crate) fn refuse_if_blocked(&mut self) -> Result<u8, Status> {
        let retries = self.pin_retries()?;
        if retries == 0 {
            return Err(Status::PinBlocked);
        }
        if self.pin_failures >= PIN_FAILURES_PER_BOOT {
            return Err(Status::PinAuthBlocked);
        }
        Ok(retries)
    }

    /// Checks `pin` in the key store. On a wrong PIN, regenerates the key-agreement key
    /// (§6.5.5.7 "obtain a new key agreement key") and counts the failure.
    pub(crate) fn verify_pin(&mut self, pin: &PinHash, event: &'static str) -> Result<(), Status> {
        match self.keys.verify_pin(pin) {
            Ok(()) => {
                self.pin_failures = 0;
                Ok(())
            }
            Err(KeyError::PinInvalid) => {
                self.key_agreement = KeyAgreement::generate()?;
                self.pin_failures += 1;
                self.token.reset();
                let left = self.keys.pin_retries().unwrap_or(0);
                self.audit(
                    AuditEvent::new(event, None, "wrong_pin")
                        .detail(format!("{left} retries left")),
                );
                if left == 0 {
                    Err(Status::PinBlocked)
                } else if self.pin_failures >= PIN_FAILURES_PER_BOOT {
                    Err(Status::PinAuthBlocked)
                } else {
                    Err(Status::PinInvalid)
                }
            }
            Err(KeyError::PinBlocked) => {
                self.audit(AuditEvent::new(event, None, "blocked"));
                Err(Status::PinBlocked)
            }
            Err(e) => Err(key_err(e)),
        }
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
        let result = if code_points < usize::from(self.settings.min_pin_length) {
            Err(Status::PinPolicyViolation)
        } else {
            Ok((PinHash::from_pin(&pin), code_points.min(255) as u8))
        };
        pin.zeroize();
        result
    }
}

fn audit_name(op: Operation) -> &'static str {
    match op {
        Operation::Register => "register",
        Operation::SignIn => "sign_in",
        _ => "uv",
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
    if p & (permission::BE | permission::LBW) != 0 {
        return Err(Status::UnauthorizedPermission);
    }
    Ok(p)
}
