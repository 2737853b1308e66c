//! Control-socket requests the engine thread answers: status, passkeys, PIN, settings,
//! site rules, reset, audit, the test sign-in. Answers are the engine's own types
//! (`tpm-passkey-ipc`); refusals are its [`ManageError`]s, whose text is written for the
//! user. PINs arrive as [`Pin`]s and zeroize themselves.
//!
//! [`ManageError`]: tpm_passkey_core::ManageError
//! [`Pin`]: tpm_passkey_core::ipc::Pin

use tpm_passkey_core::ipc::{
    AgentView, ClientMessage, DaemonMessage, ErrorKind, StatusView, TpmView,
};
use tpm_passkey_core::{KeyStore, ManageError};

use crate::control::Peer;
use crate::engine_thread::{DaemonEngine, EngineConfig};

fn done(result: Result<(), ManageError>) -> DaemonMessage {
    match result {
        Ok(()) => DaemonMessage::Ok,
        Err(e) => e.into(),
    }
}

/// The daemon and authenticator at a glance.
pub fn status(
    engine: &mut DaemonEngine,
    config: &EngineConfig,
    agent: Option<AgentView>,
) -> StatusView {
    // First, so that a reconnection (if due) happens before the PIN retries are read.
    let tpm = engine.tpm_health();
    StatusView {
        simulated: config.simulated,
        tcti: config.tcti.as_str().to_owned(),
        path: config.tcti.path(),
        pin_set: engine.keys_mut().pin_is_set(),
        pin_retries: engine.pin_retries_left(),
        pin_protection: engine.pin_protection(),
        always_uv: engine.settings().always_uv,
        min_pin_length: engine.settings().min_pin_length,
        credentials: engine.store().credential_count().unwrap_or(0),
        agent: agent.is_some(),
        agent_info: agent,
        pin_auth_blocked: engine.pin_auth_blocked(),
        tpm,
        fatigue: engine.settings().fatigue,
        cooldowns: engine.cooldowns(),
        step_up: engine.settings().step_up,
        attestation: engine.attestation_view(),
    }
}

/// Answers one request on the engine thread.
pub fn answer(
    engine: &mut DaemonEngine,
    request: ClientMessage,
    peer: &Peer,
    config: &EngineConfig,
    agent: Option<AgentView>,
) -> DaemonMessage {
    match request {
        ClientMessage::Status => DaemonMessage::Status(status(engine, config, agent)),
        ClientMessage::TpmInfo => tpm_info(engine, config),
        ClientMessage::ListPasskeys => match engine.passkeys(peer.name.clone()) {
            Ok(passkeys) => DaemonMessage::Passkeys { passkeys },
            Err(e) => done(Err(e)),
        },
        ClientMessage::DeletePasskey { id, pin } => done(engine.delete_passkey(&id, pin.as_ref())),
        ClientMessage::SetPin { pin } => done(engine.set_pin_local(&pin)),
        ClientMessage::ChangePin { old, new } => done(engine.change_pin_local(&old, &new)),
        ClientMessage::Reset { pin } => done(engine.reset_local(pin.as_ref())),
        ClientMessage::ResetForgottenPin { confirm } => done(engine.reset_forgotten_pin(&confirm)),
        ClientMessage::PamEnroll { origin, user } => crate::pam::enroll(engine, &origin, &user),
        ClientMessage::PamOwned {
            origin,
            public_keys,
        } => crate::pam::owned(engine, &origin, public_keys),
        ClientMessage::PruneDeadPasskeys => match engine.prune_dead_passkeys() {
            Ok(removed) => DaemonMessage::Pruned { removed },
            Err(e) => done(Err(e)),
        },
        ClientMessage::SetSettings {
            always_uv,
            min_pin_length,
            pin,
        } => done(engine.set_settings_local(always_uv, min_pin_length, pin.as_ref())),
        ClientMessage::SetFatigueLimits { limits, pin } => {
            done(engine.set_fatigue_limits_local(limits, pin.as_ref()))
        }
        ClientMessage::SetStepUp { step_up, pin } => {
            done(engine.set_step_up_local(step_up, pin.as_ref()))
        }
        ClientMessage::LiftCooldowns { pin } => done(engine.lift_cooldowns_local(pin.as_ref())),
        ClientMessage::TestSignIn => {
            // The prompts name us as the asking application.
            engine.approver_mut().asking_as("tpm-passkey test sign-in");
            let r = crate::demo::run(engine);
            match r {
                Ok(()) => DaemonMessage::Ok,
                Err(e) => {
                    DaemonMessage::refusal(e.kind(), format!("The test sign-in did not work: {e}."))
                }
            }
        }
        ClientMessage::ListSiteRules => match engine.site_rules() {
            Ok(rules) => DaemonMessage::SiteRules { rules },
            Err(e) => done(Err(e)),
        },
        ClientMessage::SetSiteRule { rp_id, rule, pin } => {
            done(engine.set_site_rule_local(&rp_id, rule, pin.as_ref()))
        }
        ClientMessage::AttestationRequest => match crate::attestation::request(engine) {
            Ok(request) => DaemonMessage::AttestationRequest { request },
            Err(e) => done(Err(e)),
        },
        ClientMessage::AttestationInstall { response } => {
            done(crate::attestation::install(engine, &response))
        }
        ClientMessage::SetAttestation { on, pin } => {
            done(engine.set_tpm_attestation(on, pin.as_ref()))
        }
        ClientMessage::AuditVerify => match engine.audit_verify() {
            Ok(verdict) => DaemonMessage::AuditChecked(verdict),
            Err(e) => done(Err(e)),
        },
        ClientMessage::AuditExport { nonce } => {
            match engine.audit_export(nonce.as_deref(), peer.name.clone()) {
                Ok(export) => DaemonMessage::AuditExported(Box::new(export)),
                Err(e) => done(Err(e)),
            }
        }
        ClientMessage::AuditTail { limit } => {
            match engine.audit_tail(limit.min(10_000), peer.name.clone()) {
                Ok(records) => DaemonMessage::Audit { records },
                Err(e) => done(Err(e)),
            }
        }
        _ => DaemonMessage::refusal(ErrorKind::BadRequest, "not a request for the engine"),
    }
}

fn tpm_info(engine: &mut DaemonEngine, config: &EngineConfig) -> DaemonMessage {
    let read = engine.keys_mut().run(|k| {
        let tpm = k.tpm()?;
        Ok((tpm.info()?, tpm.da_state()?))
    });
    match read {
        Ok((info, da)) => DaemonMessage::TpmInfo(TpmView {
            simulated: config.simulated || info.simulated,
            tcti: config.tcti.as_str().to_owned(),
            path: config.tcti.path(),
            manufacturer: info.manufacturer,
            vendor: info.vendor,
            firmware: info.firmware,
            lockout_counter: da.counter,
            lockout_max_tries: da.max_tries,
            lockout_recovery_secs: da.recovery_secs,
            in_lockout: da.in_lockout,
        }),
        Err(e) => DaemonMessage::refusal(
            ErrorKind::TpmUnreachable,
            format!("the TPM did not answer: {e}"),
        ),
    }
}
