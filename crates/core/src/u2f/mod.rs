//! CTAP1/U2F (FIDO U2F raw message formats v1.2, CTAP 2.1 §11.2.9.1.1 CTAPHID_MSG):
//! register, authenticate (check-only, enforce-user-presence, dont-enforce), version.
//!
//! Offered only while alwaysUv is off (CTAP 2.1 §6.11.2): U2F cannot verify the user, so
//! its keys are user-presence only.

mod cert;

use tpm_passkey_wire::u2f::{self, sw, AuthenticateMode, U2fRequest};

use tpm_passkey_ipc::{Operation, Prompt};

use crate::audit::{AuditEvent, AuditKind, Outcome};
use crate::credential::id as cred_id;
use crate::secret::sha256;
use crate::{Approver, Clock, Engine, KeyStore};

fn with_sw(mut data: Vec<u8>, status: u16) -> Vec<u8> {
    data.extend_from_slice(&status.to_be_bytes());
    data
}

fn status(s: u16) -> Vec<u8> {
    s.to_be_bytes().to_vec()
}

impl<K: KeyStore, A: Approver, C: Clock> Engine<K, A, C> {
    /// Whether CTAP1/U2F is offered (CTAPHID_INIT leaves NMSG clear).
    pub fn u2f_enabled(&self) -> bool {
        !self.settings().always_uv
    }

    /// Processes one APDU; the answer is the response data followed by the status word.
    pub fn process_u2f(&mut self, apdu: &[u8]) -> Vec<u8> {
        // Any command ends a CTAP2 multi-step command (§6.3).
        self.end_session_unless_continued_by(None);
        if !self.u2f_enabled() {
            return status(sw::INS_NOT_SUPPORTED);
        }
        let req = match u2f::parse(apdu) {
            Ok(r) => r,
            Err(s) => return status(s),
        };
        if !matches!(req, U2fRequest::Version) && self.keys.ensure_ready().is_err() {
            return status(sw::NO_PRECISE_DIAGNOSIS);
        }
        match req {
            U2fRequest::Version => with_sw(b"U2F_V2".to_vec(), sw::NO_ERROR),
            U2fRequest::Register {
                challenge,
                application,
            } => self.u2f_register(&challenge, &application),
            U2fRequest::Authenticate {
                mode,
                challenge,
                application,
                key_handle,
            } => self.u2f_authenticate(mode, &challenge, &application, &key_handle),
        }
    }

    /// Register, §4.3: a user-presence key, its handle, a self-signed certificate, and the
    /// signature over 0x00 || application || challenge || key handle || public key.
    fn u2f_register(&mut self, challenge: &[u8; 32], application: &[u8; 32]) -> Vec<u8> {
        if self
            .ask_presence(&Prompt::new(Operation::U2fRegister), AuditKind::U2fRegister)
            .is_err()
        {
            return status(sw::CONDITIONS_NOT_SATISFIED);
        }
        let made = (|| {
            let key = self.keys.create_key(false)?;
            let handle = cred_id::wrap_u2f(&self.install_secret, application, &key.blob);
            let tbs = cert::tbs(&key.public);
            let cert_sig = self.keys.sign(&key.blob, &sha256(&tbs), None)?;
            let certificate = cert::certificate(&tbs, &cert_sig);
            let public = key.public.to_sec1();
            let signed = [&[0u8][..], application, challenge, &handle, &public].concat();
            let signature = self.keys.sign(&key.blob, &sha256(&signed), None)?;
            let mut out = vec![0x05];
            out.extend_from_slice(&public);
            out.push(handle.len() as u8); // at most 255: see cred_id::wrap_u2f
            out.extend_from_slice(&handle);
            out.extend_from_slice(&certificate);
            out.extend_from_slice(&signature);
            Ok::<_, tpm_passkey_wire::Status>(out)
        })();
        match made {
            Ok(out) => {
                self.audit(AuditEvent::new(AuditKind::U2fRegister, None, Outcome::Ok));
                with_sw(out, sw::NO_ERROR)
            }
            Err(_) => status(sw::WRONG_DATA),
        }
    }

    /// Authenticate, §5: SW_WRONG_DATA for a handle that is not ours for this application;
    /// check-only answers CONDITIONS_NOT_SATISFIED for one that is.
    fn u2f_authenticate(
        &mut self,
        mode: AuthenticateMode,
        challenge: &[u8; 32],
        application: &[u8; 32],
        handle: &[u8],
    ) -> Vec<u8> {
        let Some(blob) = cred_id::unwrap_u2f(&self.install_secret, application, handle) else {
            return status(sw::WRONG_DATA);
        };
        let flags = match mode {
            AuthenticateMode::CheckOnly => return status(sw::CONDITIONS_NOT_SATISFIED),
            AuthenticateMode::EnforceUserPresence => {
                if self
                    .ask_presence(&Prompt::new(Operation::U2fSignIn), AuditKind::U2fSignIn)
                    .is_err()
                {
                    return status(sw::CONDITIONS_NOT_SATISFIED);
                }
                0x01
            }
            AuthenticateMode::DontEnforceUserPresence => 0x00,
        };
        let counter = match self.next_global_counter() {
            Ok(c) => c,
            Err(_) => return status(sw::WRONG_DATA),
        };
        let signed = [
            application.as_slice(),
            &[flags],
            &counter.to_be_bytes(),
            challenge,
        ]
        .concat();
        match self.keys.sign(&blob, &sha256(&signed), None) {
            Ok(sig) => {
                self.audit(AuditEvent::new(AuditKind::U2fSignIn, None, Outcome::Ok));
                let mut out = vec![flags];
                out.extend_from_slice(&counter.to_be_bytes());
                out.extend_from_slice(&sig);
                with_sw(out, sw::NO_ERROR)
            }
            Err(_) => status(sw::WRONG_DATA),
        }
    }
}
