//! Session helpers. Every command that authorizes with a secret (the PIN, the owner
//! password) runs under a salted HMAC session: the salt is encrypted to the root key, so
//! the session key cannot be computed from what crosses the TPM bus, the secret itself is
//! never sent (only an HMAC keyed with it), and parameters that carry a secret are
//! encrypted with AES-128-CFB. Sessions are flushed after use, success or not: swtpm and
//! many hardware TPMs hold only three.

use tss_esapi::{
    attributes::SessionAttributesBuilder,
    constants::SessionType,
    handles::{KeyHandle, SessionHandle},
    interface_types::{algorithm::HashingAlgorithm, session_handles::AuthSession},
    structures::SymmetricDefinition,
    Context,
};

use crate::{Error, Result};

/// Which parameters a command encrypts: `decrypt` = the first command parameter (sent to
/// the TPM), `encrypt` = the first response parameter. The TPM refuses a session that asks
/// for it on a command whose first parameter is not a sized buffer.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ParamEncryption {
    pub decrypt: bool,
    pub encrypt: bool,
}

pub(crate) const NO_PARAM_ENCRYPTION: ParamEncryption = ParamEncryption {
    decrypt: false,
    encrypt: false,
};

/// Starts an HMAC session salted to `salt_key` (the root, or a throw-away null-hierarchy
/// key before the root exists).
pub(crate) fn start_salted_hmac(
    ctx: &mut Context,
    salt_key: KeyHandle,
    enc: ParamEncryption,
    op: &'static str,
) -> Result<AuthSession> {
    let session = ctx
        .start_auth_session(
            Some(salt_key),
            None,
            None,
            SessionType::Hmac,
            SymmetricDefinition::AES_128_CFB,
            HashingAlgorithm::Sha256,
        )
        .map_err(|e| Error::tss(op, e))?
        .ok_or(Error::Tpm {
            op,
            code: "the TPM returned no session".into(),
        })?;
    let (attrs, mask) = SessionAttributesBuilder::new()
        .with_continue_session(true)
        .with_decrypt(enc.decrypt)
        .with_encrypt(enc.encrypt)
        .build();
    if let Err(e) = ctx.tr_sess_set_attributes(session, attrs, mask) {
        flush_session(ctx, session);
        return Err(Error::tss(op, e));
    }
    Ok(session)
}

/// Starts a policy session. It carries no secret itself (the PIN is proven through
/// PolicySecret in a salted HMAC session), so it is neither salted nor bound.
pub(crate) fn start_policy(ctx: &mut Context, op: &'static str) -> Result<AuthSession> {
    ctx.start_auth_session(
        None,
        None,
        None,
        SessionType::Policy,
        SymmetricDefinition::Null,
        HashingAlgorithm::Sha256,
    )
    .map_err(|e| Error::tss(op, e))?
    .ok_or(Error::Tpm {
        op,
        code: "the TPM returned no session".into(),
    })
}

/// A policy session for one command: continueSession is clear, so the TPM flushes it after
/// the command it authorizes (the caller then forgets it with [`forget_used_session`]; on
/// any failure before that it flushes it with [`flush_session`]).
pub(crate) fn start_policy_once(ctx: &mut Context, op: &'static str) -> Result<AuthSession> {
    let session = start_policy(ctx, op)?;
    let (attrs, mask) = SessionAttributesBuilder::new()
        .with_continue_session(false)
        .build();
    if let Err(e) = ctx.tr_sess_set_attributes(session, attrs, mask) {
        flush_session(ctx, session);
        return Err(Error::tss(op, e));
    }
    Ok(session)
}

/// Starts a policy session salted to `salt_key`, with parameter encryption as `enc` says:
/// for commands authorized by policy whose parameters carry a secret (a new PIN in, an
/// hmac-secret CredRandom out).
pub(crate) fn start_salted_policy(
    ctx: &mut Context,
    salt_key: KeyHandle,
    enc: ParamEncryption,
    op: &'static str,
) -> Result<AuthSession> {
    let session = ctx
        .start_auth_session(
            Some(salt_key),
            None,
            None,
            SessionType::Policy,
            SymmetricDefinition::AES_128_CFB,
            HashingAlgorithm::Sha256,
        )
        .map_err(|e| Error::tss(op, e))?
        .ok_or(Error::Tpm {
            op,
            code: "the TPM returned no session".into(),
        })?;
    let (attrs, mask) = SessionAttributesBuilder::new()
        .with_continue_session(true)
        .with_decrypt(enc.decrypt)
        .with_encrypt(enc.encrypt)
        .build();
    if let Err(e) = ctx.tr_sess_set_attributes(session, attrs, mask) {
        flush_session(ctx, session);
        return Err(Error::tss(op, e));
    }
    Ok(session)
}

/// Flushes a session; a failure is only logged (the TPM drops sessions on restart anyway).
pub(crate) fn flush_session(ctx: &mut Context, session: AuthSession) {
    let handle = SessionHandle::from(session);
    if let Err(e) = ctx.flush_context(handle.into()) {
        tracing::debug!(error = %e, "could not flush a session");
    }
}

/// TPM2_PolicyOR (Part 3 §23.6) over `branches`, in `policy`.
pub(crate) fn policy_or(
    ctx: &mut Context,
    policy: tss_esapi::interface_types::session_handles::PolicySession,
    branches: &[[u8; 32]],
    op: &'static str,
) -> Result<()> {
    let mut list = tss_esapi::structures::DigestList::new();
    for b in branches {
        let d =
            tss_esapi::structures::Digest::try_from(b.to_vec()).map_err(|e| Error::tss(op, e))?;
        list.add(d).map_err(|e| Error::tss(op, e))?;
    }
    ctx.policy_or(policy, list).map_err(|e| Error::tss(op, e))
}

/// Forgets a session the TPM flushed itself (it authorized a command with continueSession
/// clear, Part 1 §19.6.5): ESYS and tss-esapi still hold it and would otherwise try to flush
/// it again when the context closes. Sends nothing to the TPM (the vendored tss-esapi's
/// `tr_close_flushed_session`, crates/vendor/README.md).
pub(crate) fn forget_used_session(ctx: &mut Context, session: AuthSession) {
    let mut handle = tss_esapi::handles::ObjectHandle::from(SessionHandle::from(session));
    if let Err(e) = ctx.tr_close_flushed_session(&mut handle) {
        tracing::debug!(error = %e, "could not forget a used session");
    }
}

/// Runs `f` authorized by the empty password. Only for objects whose authValue is empty
/// (the root, user-presence keys): there is no secret to protect, and unlike
/// `Context::execute_with_nullauth_session` it costs no StartAuthSession round trip.
pub(crate) fn with_empty_password<T>(ctx: &mut Context, f: impl FnOnce(&mut Context) -> T) -> T {
    ctx.execute_with_session(Some(AuthSession::Password), f)
}

/// Runs `f` with `session` as the authorization session and flushes it afterwards.
pub(crate) fn run_then_flush<T>(
    ctx: &mut Context,
    session: AuthSession,
    f: impl FnOnce(&mut Context) -> Result<T>,
) -> Result<T> {
    let out = ctx.execute_with_session(Some(session), f);
    flush_session(ctx, session);
    out
}
