//! The user's own management, outside CTAP: what the app and the CLI ask through the
//! daemon's control socket. Each action is audited like its CTAP counterpart, and every
//! refusal is a [`ManageError`] whose text the user reads.
//!
//! The control socket is reachable only by the same user, but a same-user program is not
//! necessarily the user: lowering protection (turning alwaysUv off, deleting a passkey,
//! lifting a site rule, reset, taking over the approval agent) needs the PIN once one is
//! set, checked by the TPM, with the same per-boot pause as CTAP (§6.5.5.7): the socket is
//! no way around it. Reads that reveal accounts are audited.
//!
//! * `passkeys.rs`: list and delete.
//! * `pin.rs`: set and change the PIN; the PIN check the others use.
//! * `settings.rs`: alwaysUv, minimum PIN length, site rules.
//! * `reset.rs`: reset with the PIN, and the forgotten-PIN reset.

mod attestation;
mod passkeys;
mod pin;
mod reset;
mod settings;

use tpm_passkey_ipc::{PinProtection, TpmHealth};
use tpm_passkey_wire::Status;

use crate::audit::AuditEvent;
use crate::{Approver, Clock, Engine, KeyStore, ManageError};

impl<K: KeyStore, A: Approver, C: Clock> Engine<K, A, C> {
    /// A CTAP status from a shared code path, as the user should read it.
    pub(crate) fn manage_error(&mut self, s: Status) -> ManageError {
        match s {
            Status::PuatRequired => ManageError::PinRequired,
            Status::PinInvalid => ManageError::WrongPin {
                left: self.keys.pin_retries().unwrap_or(0),
            },
            Status::PinBlocked => ManageError::PinBlocked,
            Status::PinAuthBlocked => ManageError::PinPaused,
            Status::PinPolicyViolation => ManageError::PinPolicy {
                min: self.settings().min_pin_length,
            },
            Status::PinNotSet => ManageError::PinNotSet,
            other => ManageError::from_status(other),
        }
    }

    /// How the PIN is protected where it lives (status, the app's header).
    pub fn pin_protection(&self) -> PinProtection {
        self.keys.pin_protection()
    }

    /// The TPM as it is now (one cheap round trip; a reconnection first if the link is down
    /// and an attempt is due), so that `status` never reports a stale "unreachable" nor a
    /// stale "ready".
    pub fn tpm_health(&mut self) -> TpmHealth {
        self.keys.probe()
    }

    /// Three wrong PINs since start-up (§6.5.5.7 PIN_AUTH_BLOCKED): no PIN is checked again
    /// until the daemon restarts, which a user must do on purpose.
    pub fn pin_auth_blocked(&self) -> bool {
        self.pin.paused()
    }

    /// Records an event the daemon saw (an approval agent registering, refused or
    /// replaced) in the same audit log.
    pub fn record(&self, e: AuditEvent) {
        self.audit(e);
    }
}
