//! Control-socket requests that the engine thread answers: status, passkeys, PIN, settings,
//! reset, audit. Refusals become messages that say what to do.

use tpm_passkey_core::wire::Status;
use tpm_passkey_core::SiteRule;
use tpm_passkey_core::{Engine, KeyStore};
use tpm_passkey_ipc::{
    AuditView, ClientMessage, DaemonMessage, PasskeyView, SiteRuleView, TpmView,
};
use tpm_passkey_tpm::TpmKeyStore;
use zeroize::Zeroize;

use crate::approver::{HubApprover, JobSignals};
use crate::engine_thread::EngineConfig;

type DaemonEngine = Engine<TpmKeyStore, HubApprover>;

/// What the user should read for a refusal.
fn explain(status: Status, engine: &mut DaemonEngine) -> String {
    match status {
        Status::PuatRequired => "this needs your PIN (give it with --pin-file, or type it when asked)".into(),
        Status::PinInvalid => match engine.pin_retries_left() {
            Ok(Some(n)) => format!("wrong PIN: {n} attempts left before the TPM blocks it"),
            _ => "wrong PIN".into(),
        },
        Status::PinBlocked => "the PIN is blocked after too many wrong attempts; only a reset (which erases every passkey) makes the authenticator usable again".into(),
        Status::PinAuthBlocked => "three wrong PINs in a row: restart the daemon to try again".into(),
        Status::PinPolicyViolation => format!(
            "the PIN must be {} to 63 bytes long, and the minimum length can only go up",
            engine.settings().min_pin_length
        ),
        Status::NotAllowed => "a PIN is already set: use `tpm-passkey pin change`".into(),
        Status::PinNotSet => "no PIN is set yet: use `tpm-passkey pin set`".into(),
        Status::InvalidParameter => "that is not a passkey id (see `tpm-passkey list`)".into(),
        other => format!("refused by the authenticator ({other}); see the daemon's log"),
    }
}

fn done(result: Result<(), Status>, engine: &mut DaemonEngine) -> DaemonMessage {
    match result {
        Ok(()) => DaemonMessage::Ok,
        Err(s) => DaemonMessage::Error {
            message: explain(s, engine),
        },
    }
}

/// Answers one request on the engine thread. PINs in the request are zeroized here.
pub fn answer(
    engine: &mut DaemonEngine,
    request: ClientMessage,
    config: &EngineConfig,
    agent: bool,
) -> DaemonMessage {
    match request {
        ClientMessage::Status => {
            let pin_retries = engine.pin_retries_left().ok().flatten();
            DaemonMessage::Status {
                simulated: config.simulated,
                tcti: config.tcti.as_str().to_owned(),
                pin_set: engine.keys_mut().pin_is_set(),
                pin_retries,
                always_uv: engine.settings().always_uv,
                min_pin_length: engine.settings().min_pin_length,
                credentials: engine.store().credential_count().unwrap_or(0),
                agent,
                pin_auth_blocked: engine.pin_auth_blocked(),
            }
        }
        ClientMessage::TpmInfo => tpm_info(engine, config),
        ClientMessage::ListPasskeys => match engine.passkeys() {
            Ok(list) => DaemonMessage::Passkeys {
                passkeys: list
                    .into_iter()
                    .map(|p| PasskeyView {
                        id: p.id,
                        rp_id: p.rp_id,
                        rp_name: p.rp_name,
                        user_name: p.user_name,
                        user_display_name: p.user_display_name,
                        created: p.created,
                        last_used: p.last_used,
                        sign_count: p.sign_count,
                        pin_bound: p.pin_bound,
                        cred_protect: p.cred_protect,
                    })
                    .collect(),
            },
            Err(s) => DaemonMessage::Error {
                message: explain(s, engine),
            },
        },
        ClientMessage::DeletePasskey { id, pin } => {
            let mut pin = pin;
            let r = engine.delete_passkey(&id, pin.as_deref());
            pin.zeroize();
            match r {
                Ok(true) => DaemonMessage::Ok,
                Ok(false) => DaemonMessage::Error {
                    message: format!("no passkey with id {id} (see `tpm-passkey list`)"),
                },
                Err(s) => DaemonMessage::Error {
                    message: explain(s, engine),
                },
            }
        }
        ClientMessage::SetPin { mut pin } => {
            let r = engine.set_pin_local(&pin);
            pin.zeroize();
            done(r, engine)
        }
        ClientMessage::ChangePin { mut old, mut new } => {
            let r = engine.change_pin_local(&old, &new);
            old.zeroize();
            new.zeroize();
            done(r, engine)
        }
        ClientMessage::Reset { pin } => {
            let mut pin = pin;
            let r = engine.reset_local(pin.as_deref());
            pin.zeroize();
            done(r, engine)
        }
        ClientMessage::SetSettings {
            always_uv,
            min_pin_length,
            pin,
        } => {
            let mut pin = pin;
            let r = engine.set_settings_local(always_uv, min_pin_length, pin.as_deref());
            pin.zeroize();
            done(r, engine)
        }
        ClientMessage::TestSignIn => {
            // The prompts name us as the asking application.
            engine.approver_mut().job = Some(JobSignals {
                status: Default::default(),
                cancel: Default::default(),
                client: Some((std::process::id(), "tpm-passkey test sign-in".into())),
            });
            let r = crate::demo::run(engine);
            engine.approver_mut().job = None;
            match r {
                Ok(()) => DaemonMessage::Ok,
                Err(e) => DaemonMessage::Error {
                    message: format!("The test sign-in did not work: {e}."),
                },
            }
        }
        ClientMessage::ListSiteRules => match engine.site_rules() {
            Ok(rules) => DaemonMessage::SiteRules {
                rules: rules
                    .into_iter()
                    .map(|(rp_id, r)| SiteRuleView {
                        rp_id,
                        rule: r.as_str().into(),
                    })
                    .collect(),
            },
            Err(s) => done(Err(s), engine),
        },
        ClientMessage::SetSiteRule { rp_id, rule, pin } => {
            let mut pin = pin;
            let rule = match rule.as_deref().map(SiteRule::parse) {
                None => Ok(None),
                Some(Some(r)) => Ok(Some(r)),
                Some(None) => Err("a site rule is \"block\", \"require_pin\" or none"),
            };
            let r = match rule {
                Ok(rule) => match engine.set_site_rule_local(&rp_id, rule, pin.as_deref()) {
                    Err(Status::InvalidParameter) => {
                        Err("that is not a site name (for example github.com)")
                    }
                    other => Ok(done(other, engine)),
                },
                Err(e) => Err(e),
            };
            pin.zeroize();
            r.unwrap_or_else(|message| DaemonMessage::Error {
                message: message.into(),
            })
        }
        ClientMessage::AuditTail { limit } => match engine.audit_tail(limit.min(10_000)) {
            Ok(records) => DaemonMessage::Audit {
                records: records
                    .into_iter()
                    .map(|r| AuditView {
                        seq: r.seq,
                        time: r.time,
                        event: r.event,
                        rp_id: r.rp_id,
                        detail: r.detail,
                        outcome: r.outcome,
                        client: r.client,
                    })
                    .collect(),
            },
            Err(s) => DaemonMessage::Error {
                message: explain(s, engine),
            },
        },
        _ => DaemonMessage::Error {
            message: "not a request for the engine".into(),
        },
    }
}

fn tpm_info(engine: &mut DaemonEngine, config: &EngineConfig) -> DaemonMessage {
    let tpm = engine.keys_mut().tpm();
    match (tpm.info(), tpm.da_state()) {
        (Ok(info), Ok(da)) => DaemonMessage::TpmInfo(TpmView {
            simulated: config.simulated || info.simulated,
            tcti: config.tcti.as_str().to_owned(),
            manufacturer: info.manufacturer,
            vendor: info.vendor,
            firmware: info.firmware,
            lockout_counter: da.counter,
            lockout_max_tries: da.max_tries,
            lockout_recovery_secs: da.recovery_secs,
            in_lockout: da.in_lockout,
        }),
        (Err(e), _) | (_, Err(e)) => DaemonMessage::Error {
            message: format!("the TPM did not answer: {e}"),
        },
    }
}
