//! authenticatorGetAssertion (§6.2.2) and authenticatorGetNextAssertion (§6.3).

use tpm_passkey_ipc::{Operation, Prompt};
use tpm_passkey_wire::auth_data::{self, flags};
use tpm_passkey_wire::ctap2::{
    GetAssertion, GetAssertionOutputs, GetAssertionResponse, HmacSecretInput,
};
use tpm_passkey_wire::Status;

use super::ceremony::{account_label, account_labels, Uv};
use crate::audit::{AuditEvent, AuditKind, Outcome};
use crate::credential::Found;
use crate::pin::token::permission;
use crate::secret::sha256;
use crate::session::{NextAssertion, Session};
use crate::{Approver, Clock, Engine, KeyStore, PinHash};

/// The clients userSelected (0x06, CTAP 2.1 §6.2.2) is sent to: the Chromium family, whose
/// CTAP stack reads it (and skips its own account chooser), named positively by the
/// requesting process's name as /proc shows it (the browser process holds the hidraw node).
/// Everyone else — Mozilla's authenticator-rs, which through 0.5 refuses any getAssertion
/// key above 0x05 (Firefox, firefox-esr, LibreWolf, Waterfox, Mullvad Browser, Thunderbird,
/// under whatever name); a renamed or unknown program; a node held by several processes, whose
/// requester is then unknown — gets the minimal answer: the chosen account alone, without
/// userSelected, which costs at most one click in the client's own chooser (issue 24).
const CLIENTS_WITH_USER_SELECTED: [&str; 6] = [
    "chromium",
    "chrome",
    "msedge",
    "brave",
    "vivaldi-bin",
    "opera",
];

/// §6.3: getNextAssertion must come within 30 s of the previous assertion.
pub(crate) const NEXT_ASSERTION_WINDOW: std::time::Duration = std::time::Duration::from_secs(30);

impl<K: KeyStore, A: Approver, C: Clock> Engine<K, A, C> {
    pub(crate) fn get_assertion_cmd(
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
        // The site's rule, or step-up by risk, may require the PIN where nothing else does.
        let site_requires_pin =
            self.apply_site_rule(&rp_id, AuditKind::SignIn)? || self.step_up_required(&rp_id)?;
        let mut uv = self.choose_uv(
            req.options.uv.unwrap_or(false),
            protocol.is_some(),
            site_requires_pin,
        )?;
        // Step 6: the pinUvAuthParam, with ga permission and rpId binding.
        let mut pin: Option<PinHash> = None;
        if let (Some(protocol), Some(param)) = (protocol, req.pin_uv_auth_param.as_deref()) {
            pin = self.check_token(
                protocol,
                &req.client_data_hash,
                param,
                permission::GA,
                &rp_id,
            )?;
        }
        let uv_claimed = uv != Uv::None;

        // Step 7: the applicable credentials, credProtect applied (§12.1).
        let with_list = !req.allow_list.is_empty();
        let mut found: Vec<Found> = Vec::new();
        if with_list {
            for d in req.allow_list.iter().filter(|d| d.public_key) {
                if let Some(f) = self.find_credential(&rp_id, &rp_id_hash, &d.id)? {
                    if !f.cred_protect.allows(uv_claimed, true) {
                        continue;
                    }
                    found.push(f);
                    break;
                }
            }
        } else {
            found = self
                .store
                .credentials_for_rp(&rp_id)?
                .into_iter()
                .map(Found::from)
                .filter(|f| f.cred_protect.allows(uv_claimed, false))
                .collect();
        }
        if found.is_empty() {
            return Err(Status::NoCredentials);
        }

        // A PIN-bound key cannot sign without the PIN: the TPM enforces what the
        // credential was made with. Ask for it in our prompt, or tell a silent request to
        // come back with a token.
        // (Any of them, when the person may choose among several.)
        if found.iter().any(|f| f.pin_bound) && pin.is_none() && uv == Uv::None {
            if !up {
                return Err(Status::PuatRequired);
            }
            uv = Uv::BuiltIn;
        }

        // Steps 9–10: user presence (and the PIN for built-in verification). A discoverable
        // sign-in names its account, or lists them for the person to choose; the one
        // chosen comes back alone with userSelected, so the platform does not ask again.
        // (Not with an allowList: the platform chose already, and Chromium refuses
        // userSelected there.)
        let mut prompt = Prompt::new(Operation::SignIn).rp(&rp_id, None);
        if found.len() == 1 || with_list {
            prompt = prompt.user(account_label(&found[0]));
        } else {
            prompt.accounts = account_labels(&found);
        }
        let mut up_done = false;
        let mut chosen: Option<usize> = None;
        match uv {
            Uv::BuiltIn => {
                let (p, c) = self.built_in_uv_choosing(prompt)?;
                pin = Some(p.into_pin());
                chosen = c;
                up_done = true;
            }
            Uv::Token if up && self.pin.take_user_present() => {
                // The token's own prompt may have listed these accounts.
                let picked = self.pin.take_chosen();
                chosen = picked.and_then(|id| found.iter().position(|f| f.id == id));
                up_done = true;
            }
            _ if up => {
                chosen = self.ask_presence_choosing(&prompt, AuditKind::SignIn)?;
                up_done = true;
            }
            _ => {}
        }
        // userSelected: the person saw and approved exactly this account — said only to a
        // client known to read the key.
        let client_parses_it = self
            .approver
            .requester()
            .is_some_and(|n| CLIENTS_WITH_USER_SELECTED.contains(&n.as_str()));
        let user_selected =
            client_parses_it && !with_list && up_done && (chosen.is_some() || found.len() == 1);
        if let Some(i) = chosen {
            let c = found.remove(i);
            found = vec![c];
        }
        let uv_done = uv != Uv::None;
        let flag_bits = if up_done { flags::UP } else { 0 } | if uv_done { flags::UV } else { 0 };

        // The sign count, the known site and the audit entry: one commit, before the answer.
        self.in_one_commit(move |e| {
            let first = found.remove(0);
            let total = found.len() + 1;
            let response = e.sign_assertion(
                &first,
                &rp_id,
                &req.client_data_hash,
                flag_bits,
                pin.as_ref(),
                req.hmac_secret.as_ref(),
                (req.get_cred_blob, req.large_blob_key),
                (!with_list && total > 1).then_some(total),
                user_selected,
            )?;
            if up_done && protocol.is_some() {
                e.pin.end_ceremony();
            }
            if uv_done {
                e.note_verified_site(&rp_id);
            }
            if !with_list && !found.is_empty() {
                e.session = Session::NextAssertion(NextAssertion {
                    remaining: found,
                    rp_id: rp_id.clone(),
                    client_data_hash: req.client_data_hash,
                    flag_bits,
                    pin,
                    hmac_secret: req.hmac_secret,
                    get_cred_blob: req.get_cred_blob,
                    large_blob_key: req.large_blob_key,
                    deadline: e.now() + NEXT_ASSERTION_WINDOW,
                });
            }
            // A silent assertion (up = false) is how clients probe an allowList before the real
            // ceremony; the log keeps it apart from sign-ins the user approved.
            let kind = if up {
                AuditKind::SignIn
            } else {
                AuditKind::SilentCheck
            };
            e.audit(AuditEvent::new(kind, Some(&rp_id), Outcome::Ok));
            Ok(response)
        })
    }

    /// §6.3 authenticatorGetNextAssertion: the next credential of the last getAssertion,
    /// within 30 s of the previous response.
    pub(crate) fn get_next_assertion_cmd(&mut self) -> Result<GetAssertionResponse, Status> {
        let Session::NextAssertion(mut state) = std::mem::take(&mut self.session) else {
            return Err(Status::NotAllowed);
        };
        if self.now() > state.deadline || state.remaining.is_empty() {
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
            (state.get_cred_blob, state.large_blob_key),
            None,
            false,
        )?;
        state.deadline = self.now() + NEXT_ASSERTION_WINDOW;
        if !state.remaining.is_empty() {
            self.session = Session::NextAssertion(state);
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
        (get_cred_blob, want_large_blob_key): (bool, bool),
        number_of_credentials: Option<usize>,
        user_selected: bool,
    ) -> Result<GetAssertionResponse, Status> {
        let rp_id_hash = sha256(rp_id.as_bytes());
        let uv = flag_bits & flags::UV != 0;
        let outputs = GetAssertionOutputs {
            hmac_secret: match (hmac_secret, cred.hmac_secret) {
                (Some(input), true) => {
                    Some(self.hmac_secret(cred, input, uv.then_some(pin).flatten(), uv)?)
                }
                _ => None,
            },
            // §12.2: the blob kept at registration, an empty one when there is none.
            cred_blob: get_cred_blob.then(|| cred.cred_blob.clone().unwrap_or_default()),
        };
        let counter = if cred.user.is_some() {
            self.store
                .touch_credential(&cred.id, self.clock.unix_secs())?
        } else {
            self.next_global_counter()?
        };
        let auth_data = auth_data::build(&rp_id_hash, flag_bits, counter, None, outputs.to_cbor());
        let digest = sha256(&[auth_data.as_slice(), client_data_hash].concat());
        let signature =
            self.keys
                .sign(&cred.blob, &digest, if cred.pin_bound { pin } else { None })?;
        Ok(GetAssertionResponse {
            credential_id: cred.id.clone(),
            auth_data,
            signature,
            // §6.2.2 step 12: user id for discoverable credentials; name and displayName
            // only after user verification.
            user: cred.user.clone().map(|u| (u, uv)),
            number_of_credentials,
            user_selected,
            large_blob_key: if want_large_blob_key {
                cred.large_blob_key.clone()
            } else {
                None
            },
        })
    }
}
