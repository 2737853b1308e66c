//! The sessions that PIN work reuses, so that a sign-in costs the TPM's own floor
//! (docs/PERFORMANCE.md "TPM commands per operation"):
//!
//! * One salted HMAC session, started once per connection and kept (continueSession). It
//!   authorizes every PolicySecret on the PIN index and the owner's read of the PIN
//!   counter: an unbound session may authorize any entity, the HMAC key being sessionKey ‖
//!   that entity's authValue (Part 1 §19.6.8), and its nonces roll with each command, so
//!   reuse gives an observer nothing new. It saves a StartAuthSession — an ECDH on the
//!   TPM — and a FlushContext per PIN operation. After any error in a command that used
//!   it, it is flushed and a fresh one started on next use (the TPM's and ESYS's view of
//!   its nonces could differ after a failure).
//! * The policy session of the last successful PIN check, kept satisfied (its policyDigest
//!   is PolicySecret(PIN index)) so that the PIN-bound signature that follows — the
//!   getAssertion after getPinUvAuthTokenUsingUv — needs no second PolicySecret. It is
//!   used once: the Sign clears continueSession, so the TPM flushes it (Part 1 §19.6.5).
//!   It is kept only for the same PIN, for [`READY_FOR`] (its PolicySecret's expiration:
//!   the TPM itself ends it), and only where no other program can name our sessions — a
//!   resource manager isolates them per connection, the private simulator serves this
//!   process alone. Elsewhere a PIN check is bound to no command and flushed, and every
//!   signature proves the PIN bound to itself (`bound`); see DESIGN.md "Sessions kept
//!   between requests".
//!
//! With a resource manager neither occupies one of the TPM's few session slots while idle:
//! the kernel or tabrmd context-saves them between commands.

use std::time::{Duration, Instant};

use tss_esapi::{
    attributes::SessionAttributesBuilder, interface_types::session_handles::AuthSession,
};

use crate::{
    session::{flush_session, start_salted_hmac, NO_PARAM_ENCRYPTION},
    PinHash, Result, Tpm,
};

/// How long a satisfied policy session waits for its signature: the 30 s a CTAP token
/// may stay unused (CTAP 2.1 §6.5.2.1), and no more.
pub(crate) const READY_FOR: Duration = Duration::from_secs(30);

/// A policy session in which the PIN was just proven.
#[derive(Debug)]
pub(crate) struct ReadyPolicy {
    session: AuthSession,
    index: u32,
    pin: PinHash,
    at: Instant,
}

/// Compares two pinHashes without an early exit.
fn same_pin(a: &PinHash, b: &PinHash) -> bool {
    a.expose_secret_bytes()
        .iter()
        .zip(b.expose_secret_bytes())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y))
        == 0
}

impl Tpm {
    /// The kept salted HMAC session, started now if there is none.
    pub(crate) fn pin_hmac_session(&mut self, op: &'static str) -> Result<AuthSession> {
        if let Some(s) = self.pin_hmac {
            return Ok(s);
        }
        let s = start_salted_hmac(&mut self.ctx, self.root, NO_PARAM_ENCRYPTION, op)?;
        self.pin_hmac = Some(s);
        Ok(s)
    }

    /// Flushes the kept HMAC session (after an error in a command that used it).
    pub(crate) fn drop_pin_hmac_session(&mut self) {
        if let Some(s) = self.pin_hmac.take() {
            flush_session(&mut self.ctx, s);
        }
    }

    /// Keeps `session`, satisfied with `pin` for the index at `index` (its PolicySecret
    /// carried the TPM-enforced expiration of [`READY_FOR`]), for one signature; any older
    /// one is flushed. Only called where [`Tpm::keeps_sessions`].
    pub(crate) fn keep_ready_policy(&mut self, session: AuthSession, index: u32, pin: &PinHash) {
        self.drop_ready_policy();
        self.ready = Some(ReadyPolicy {
            session,
            index,
            pin: pin.clone(),
            at: Instant::now(),
        });
    }

    /// The satisfied policy session for `pin` on `index`, prepared for its last use
    /// (continueSession clear): the TPM flushes it after the command it authorizes. None
    /// when there is none, it is older than [`READY_FOR`], or it was for another PIN.
    pub(crate) fn take_ready_policy(&mut self, index: u32, pin: &PinHash) -> Option<AuthSession> {
        let ready = self.ready.take()?;
        if ready.index != index || !same_pin(&ready.pin, pin) || ready.at.elapsed() > READY_FOR {
            flush_session(&mut self.ctx, ready.session);
            return None;
        }
        let (attrs, mask) = SessionAttributesBuilder::new()
            .with_continue_session(false)
            .build();
        if self
            .ctx
            .tr_sess_set_attributes(ready.session, attrs, mask)
            .is_err()
        {
            flush_session(&mut self.ctx, ready.session);
            return None;
        }
        Some(ready.session)
    }

    /// Flushes the satisfied policy session, if one waits.
    pub(crate) fn drop_ready_policy(&mut self) {
        if let Some(r) = self.ready.take() {
            flush_session(&mut self.ctx, r.session);
        }
    }

    /// Flushes a satisfied policy session older than [`READY_FOR`] (called before each
    /// operation, so that an unused one does not outlive its token by long).
    pub(crate) fn expire_ready_policy(&mut self) {
        if self
            .ready
            .as_ref()
            .is_some_and(|r| r.at.elapsed() > READY_FOR)
        {
            self.drop_ready_policy();
        }
    }

    /// Whether a satisfied session may wait between requests: only where no other program
    /// can name it — behind the kernel's resource manager or tabrmd (handles per
    /// connection) and on the private simulator (reachable through this process only).
    /// On a TPM others reach directly (swtpm on a socket, /dev/tpm0, mssim) another
    /// program could use it between two of our commands.
    pub(crate) fn keeps_sessions(&self) -> bool {
        self.tcti().path().isolates_sessions()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tss_esapi::interface_types::session_handles::PolicySession;

    use crate::{bound::ProofFor, session::start_policy, PinHash, RootSeed, Swtpm, Tpm};

    /// TPM2_Sign(key, digest) authorized by the policy session `session` (raw: a session a
    /// caller keeps is named, not handed to ESYS again). Returns the response code.
    fn raw_sign(tpm: &mut Tpm, key: u32, session: u32) -> u32 {
        let mut auth = session.to_be_bytes().to_vec();
        auth.extend_from_slice(&[0, 32]);
        auth.extend_from_slice(&[1; 32]);
        auth.extend_from_slice(&[0x01, 0, 0]);
        let mut body = key.to_be_bytes().to_vec();
        body.extend_from_slice(&(auth.len() as u32).to_be_bytes());
        body.extend_from_slice(&auth);
        body.extend_from_slice(&[0, 32]);
        body.extend_from_slice(&[3; 32]);
        body.extend_from_slice(&[
            0x00, 0x18, 0x00, 0x0B, 0x80, 0x24, 0x40, 0x00, 0x00, 0x07, 0, 0,
        ]);
        let mut cmd = vec![0x80, 0x02];
        cmd.extend_from_slice(&((10 + body.len()) as u32).to_be_bytes());
        cmd.extend_from_slice(&0x0000_015Du32.to_be_bytes());
        cmd.extend_from_slice(&body);
        let r = tpm.ctx.raw_command(&cmd).expect("a response");
        u32::from_be_bytes([r[6], r[7], r[8], r[9]])
    }

    /// A session kept satisfied (isolated paths only) ends when the TPM's clock says so,
    /// whoever holds its handle and whenever they try — not at our next request (issue 20,
    /// E1b). A kept session is proven with `ProofFor::Kept(lifetime)`; this one lives 1 s.
    #[test]
    fn a_kept_session_dies_by_the_tpm_s_own_clock() {
        let dir = tempfile::tempdir().expect("tempdir");
        let sim = Swtpm::start(dir.path()).expect("swtpm");
        let mut tpm =
            Tpm::open(&sim.tcti(), &RootSeed::generate().expect("seed"), None).expect("open");
        let pin = PinHash::from_pin("4711");
        let index = tpm.define_pin_index(None, &pin).expect("index");
        let key = tpm.create_key(Some(&index)).expect("key");
        let loaded = tpm
            .load_object(&key.blob.public, &key.blob.private)
            .expect("load");
        let key_handle = tpm.ctx.tr_get_tpm_handle(loaded.into()).expect("handle");
        let kept = |tpm: &mut Tpm, life: Duration| {
            let s = start_policy(&mut tpm.ctx, "test").expect("session");
            let p = PolicySession::try_from(s).expect("policy");
            tpm.policy_secret(&index, &pin, p, ProofFor::Kept(life))
                .expect("PIN proven");
            tpm.ctx
                .tr_get_tpm_handle(tss_esapi::handles::SessionHandle::from(s).into())
                .expect("handle")
        };
        // The TPM has been up for longer than the sessions will live: a lifetime that the
        // TPM took as an absolute time (it does, without the session's nonceTPM) would be
        // over before the PIN is even proven.
        std::thread::sleep(Duration::from_millis(1500));
        // Control: within its life a kept session signs.
        let fresh = kept(&mut tpm, Duration::from_secs(1));
        assert_eq!(raw_sign(&mut tpm, key_handle, fresh), 0);
        // Past it, the TPM refuses: TPM_RC_EXPIRED for session 1 (Part 2 §6.6.3).
        let short = kept(&mut tpm, Duration::from_secs(1));
        std::thread::sleep(Duration::from_millis(2500));
        assert_eq!(raw_sign(&mut tpm, key_handle, short), 0x9A3);
    }
}
