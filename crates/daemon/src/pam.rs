//! Login and sudo through pam_u2f: the daemon's half. A discoverable credential for
//! pam_u2f's relying party (`pam://HOST`, the login name as the account) is made like any
//! other — the user approves in the prompt and types the PIN, and the key is bound to the
//! PIN in the TPM — and its public key handed to the CLI for pam_u2f's authfile (`pam_cmd`).
//!
//! Discoverable, because pam_u2f (1.1, Debian 12) first probes for a key handle with a
//! silent assertion (no user presence, no PIN), which a PIN-bound TPM key cannot sign —
//! it would conclude the key is absent. For a discoverable credential (key handle `*` in the
//! authfile) it skips the probe and asks for an assertion with an empty allowList, which
//! shows our prompt (naming the login) and needs the PIN, every time.

use base64::Engine as _;
use tpm_passkey_core::ipc::{DaemonMessage, ErrorKind};

use crate::engine_thread::DaemonEngine;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// Makes the credential; answers its key handle and public key (x ‖ y) in base64.
pub fn enroll(engine: &mut DaemonEngine, origin: &str, user: &str) -> DaemonMessage {
    if !origin.starts_with("pam://") || user.is_empty() || user.contains([':', ',', '\n']) {
        return DaemonMessage::refusal(
            ErrorKind::BadRequest,
            "the origin must be pam://HOST and the user a login name",
        );
    }
    // The prompt names us as the asking application.
    engine.approver_mut().asking_as("tpm-passkey pam enroll");
    let mut user_id = [0u8; 16];
    let _ = getrandom::fill(&mut user_id);
    let made = crate::demo::register(
        engine,
        origin,
        &format!("login and sudo on {}", &origin["pam://".len()..]),
        &user_id,
        user,
        true,
    );
    match made {
        Ok((id, key)) => {
            let sec1 = key.to_sec1();
            DaemonMessage::PamCredential {
                key_handle: B64.encode(id),
                // pam_u2f keeps an ES256 key as x ‖ y (libfido2's es256_pk).
                public_key: B64.encode(&sec1[1..]),
            }
        }
        Err(e) => {
            DaemonMessage::refusal(e.kind(), format!("no credential for login was made: {e}"))
        }
    }
}

/// The public keys (x ‖ y, base64) among `public_keys` of credentials this authenticator
/// holds for `origin`.
pub fn owned(engine: &mut DaemonEngine, origin: &str, public_keys: Vec<String>) -> DaemonMessage {
    let held: Vec<String> = engine
        .store()
        .credentials_for_rp(origin)
        .unwrap_or_default()
        .into_iter()
        .map(|c| B64.encode(&c.public_key.to_sec1()[1..]))
        .collect();
    let ours = public_keys
        .into_iter()
        .filter(|pk| held.contains(pk))
        .collect();
    DaemonMessage::PamOwned { ours }
}
