//! The commands over Tauri's mock runtime against a fake daemon: a real Unix socket that
//! speaks the control protocol (tpm-passkey-ipc) and records what it was sent.
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};
use tauri::test::{
    get_ipc_response, mock_builder, mock_context, noop_assets, MockRuntime, INVOKE_KEY,
};
use tauri::webview::InvokeRequest;
use tauri::WebviewWindow;
use tpm_passkey_ipc::{
    decode, encode, ClientMessage, DaemonMessage, ErrorKind, Operation, Pin, PinProtection, Prompt,
    SiteRule, StatusView, PROTOCOL_VERSION,
};

use super::*;

type Log = Arc<Mutex<Vec<ClientMessage>>>;

/// Serves the control protocol on a socket in `dir`; `answer` decides each reply.
fn fake_daemon(
    dir: &std::path::Path,
    answer: impl Fn(&ClientMessage) -> Vec<DaemonMessage> + Send + Sync + 'static,
) -> (std::path::PathBuf, Log) {
    let path = dir.join("control.sock");
    let listener = UnixListener::bind(&path).unwrap();
    let log: Log = Arc::default();
    let (log2, answer) = (log.clone(), Arc::new(answer));
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(conn) = conn else { return };
            let (log, answer) = (log2.clone(), answer.clone());
            std::thread::spawn(move || {
                let mut w = conn.try_clone().unwrap();
                for line in BufReader::new(conn).lines() {
                    let Ok(line) = line else { return };
                    let msg: ClientMessage = decode(&line).unwrap();
                    let replies = match &msg {
                        ClientMessage::Hello { .. } => vec![DaemonMessage::Hello {
                            protocol: PROTOCOL_VERSION,
                            version: "test".into(),
                        }],
                        other => answer(other),
                    };
                    log.lock().unwrap().push(msg);
                    for r in replies {
                        if w.write_all(encode(&r).as_bytes()).is_err() {
                            return;
                        }
                    }
                }
            });
        }
    });
    (path, log)
}

struct App {
    _app: tauri::App<MockRuntime>,
    window: WebviewWindow<MockRuntime>,
    link: Arc<agent::AgentLink>,
    dir: tempfile::TempDir,
}

fn app_with(control: std::path::PathBuf, dir: tempfile::TempDir) -> App {
    let link = Arc::new(agent::AgentLink::default());
    let state = commands::AppState {
        control,
        link: link.clone(),
        autostart: dir.path().join("autostart/tpm-passkey.desktop"),
    };
    let app = configure(mock_builder(), state)
        .build(mock_context(noop_assets()))
        .unwrap();
    let window = tauri::WebviewWindowBuilder::new(&app, "main", Default::default())
        .build()
        .unwrap();
    App {
        _app: app,
        window,
        link,
        dir,
    }
}

/// The command's answer, or the text of its refusal.
fn invoke(app: &App, cmd: &str, args: Value) -> Result<Value, String> {
    invoke_raw(app, cmd, args).map_err(|e| e["message"].as_str().unwrap_or_default().to_owned())
}

/// The command's answer, or its refusal as the window gets it (`{kind, message}`).
fn invoke_raw(app: &App, cmd: &str, args: Value) -> Result<Value, Value> {
    get_ipc_response(
        &app.window,
        InvokeRequest {
            cmd: cmd.into(),
            callback: tauri::ipc::CallbackFn(0),
            error: tauri::ipc::CallbackFn(1),
            url: "tauri://localhost".parse().unwrap(),
            body: tauri::ipc::InvokeBody::Json(args),
            headers: Default::default(),
            invoke_key: INVOKE_KEY.to_string(),
        },
    )
    .map(|r| r.deserialize::<Value>().unwrap())
}

fn status_answer() -> DaemonMessage {
    DaemonMessage::Status(StatusView {
        simulated: true,
        tcti: "swtpm:port=1".into(),
        path: tpm_passkey_ipc::TpmPath::SharedSimulator,
        pin_set: true,
        pin_retries: Some(7),
        pin_protection: PinProtection::Legacy,
        always_uv: true,
        min_pin_length: 4,
        credentials: 2,
        agent: false,
        agent_info: None,
        pin_auth_blocked: false,
        tpm: Default::default(),
        fatigue: Default::default(),
        cooldowns: Vec::new(),
        step_up: Default::default(),
        attestation: Default::default(),
    })
}

fn pin(s: &str) -> Option<Pin> {
    Some(Pin::new(s.into()))
}

#[test]
fn app_info_answers_over_ipc() {
    let dir = tempfile::tempdir().unwrap();
    let app = app_with(dir.path().join("none.sock"), dir);
    let v = invoke(&app, "app_info", json!({})).unwrap();
    assert_eq!(v["name"], "tpm-passkey");
    assert_eq!(v["version"], env!("CARGO_PKG_VERSION"));
}

#[test]
fn status_comes_from_the_daemon_with_the_link_state() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = fake_daemon(dir.path(), |m| match m {
        ClientMessage::Status => vec![status_answer()],
        _ => vec![DaemonMessage::refusal(ErrorKind::BadRequest, "no")],
    });
    let app = app_with(path, dir);
    let v = invoke(&app, "status", json!({})).unwrap();
    assert_eq!(v["type"], "status");
    assert_eq!(v["pin_retries"], 7);
    assert_eq!(v["simulated"], true);
    assert_eq!(v["pin_protection"], "legacy");
    assert_eq!(v["app_connected"], false);
}

#[test]
fn requests_carry_their_arguments_and_refusals_read_as_the_daemon_wrote_them() {
    let dir = tempfile::tempdir().unwrap();
    let (path, log) = fake_daemon(dir.path(), |m| match m {
        ClientMessage::DeletePasskey { pin: Some(p), .. } if p.expose_secret() == "4711" => {
            vec![DaemonMessage::Ok]
        }
        ClientMessage::DeletePasskey { .. } => vec![DaemonMessage::refusal(
            ErrorKind::WrongPin,
            "wrong PIN: 6 attempts left before the TPM blocks it",
        )],
        ClientMessage::SetSettings { .. }
        | ClientMessage::SetSiteRule { .. }
        | ClientMessage::SetFatigueLimits { .. }
        | ClientMessage::SetStepUp { .. }
        | ClientMessage::LiftCooldowns { .. } => vec![DaemonMessage::Ok],
        _ => vec![],
    });
    let app = app_with(path, dir);
    assert_eq!(
        invoke(&app, "delete_passkey", json!({"id": "ab12", "pin": "4711"})).unwrap()["type"],
        "ok"
    );
    let e = invoke_raw(&app, "delete_passkey", json!({"id": "ab12", "pin": "0000"})).unwrap_err();
    assert_eq!(
        e,
        json!({"kind": "wrong_pin", "message": "wrong PIN: 6 attempts left before the TPM blocks it"})
    );
    invoke(
        &app,
        "set_settings",
        json!({"alwaysUv": false, "minPinLength": 6, "pin": "4711"}),
    )
    .unwrap();
    let rule = json!({"rpId": "bank.example", "rule": "require_pin", "pin": null});
    invoke(&app, "set_site_rule", rule).unwrap();
    let limits = json!({"enabled": true, "unapproved_per_site": 2, "window_secs": 120,
        "denials_in_a_row": 3, "cooldown_secs": 900});
    invoke(
        &app,
        "set_fatigue_limits",
        json!({"limits": limits, "pin": null}),
    )
    .unwrap();
    invoke(&app, "lift_cooldowns", json!({"pin": "4711"})).unwrap();
    let step_up = json!({"enabled": true, "uv_max_age_secs": 3600, "new_sites": true});
    invoke(&app, "set_step_up", json!({"stepUp": step_up, "pin": null})).unwrap();
    let log = log.lock().unwrap();
    assert!(log.contains(&ClientMessage::DeletePasskey {
        id: "ab12".into(),
        pin: pin("4711")
    }));
    assert!(log.contains(&ClientMessage::SetSiteRule {
        rp_id: "bank.example".into(),
        rule: Some(SiteRule::RequirePin),
        pin: None
    }));
    assert!(log.contains(&ClientMessage::SetFatigueLimits {
        limits: tpm_passkey_ipc::FatigueLimits {
            enabled: true,
            unapproved_per_site: 2,
            window_secs: 120,
            denials_in_a_row: 3,
            cooldown_secs: 900
        },
        pin: None
    }));
    assert!(log.contains(&ClientMessage::LiftCooldowns { pin: pin("4711") }));
    assert!(log.contains(&ClientMessage::SetStepUp {
        step_up: tpm_passkey_ipc::StepUp {
            enabled: true,
            uv_max_age_secs: 3600,
            new_sites: true
        },
        pin: None
    }));
    assert!(log.contains(&ClientMessage::SetSettings {
        always_uv: Some(false),
        min_pin_length: Some(6),
        pin: pin("4711")
    }));
}

#[test]
fn reset_needs_the_typed_phrase_before_anything_is_sent() {
    let dir = tempfile::tempdir().unwrap();
    let (path, log) = fake_daemon(dir.path(), |_| vec![DaemonMessage::Ok]);
    let app = app_with(path, dir);
    let e = invoke(
        &app,
        "reset",
        json!({"confirmation": "erase", "pin": "4711"}),
    )
    .unwrap_err();
    assert!(e.contains("Type the words exactly"), "{e}");
    assert!(log.lock().unwrap().is_empty(), "nothing reached the daemon");
    invoke(
        &app,
        "reset",
        json!({"confirmation": commands::RESET_PHRASE, "pin": "4711"}),
    )
    .unwrap();
    assert!(log
        .lock()
        .unwrap()
        .contains(&ClientMessage::Reset { pin: pin("4711") }));
}

#[test]
fn the_forgotten_pin_reset_sends_the_typed_phrase_only_when_it_matches() {
    let dir = tempfile::tempdir().unwrap();
    let (path, log) = fake_daemon(dir.path(), |_| vec![DaemonMessage::Ok]);
    let app = app_with(path, dir);
    let e = invoke(&app, "reset_forgotten_pin", json!({"confirmation": "yes"})).unwrap_err();
    assert!(e.contains("Type the words exactly"), "{e}");
    assert!(log.lock().unwrap().is_empty());
    invoke(
        &app,
        "reset_forgotten_pin",
        json!({"confirmation": commands::RESET_PHRASE}),
    )
    .unwrap();
    assert!(log
        .lock()
        .unwrap()
        .contains(&ClientMessage::ResetForgottenPin {
            confirm: commands::RESET_PHRASE.into()
        }));
}

#[test]
fn pruning_dead_passkeys_reports_how_many_went() {
    let dir = tempfile::tempdir().unwrap();
    let (path, log) = fake_daemon(dir.path(), |m| match m {
        ClientMessage::PruneDeadPasskeys => vec![DaemonMessage::Pruned { removed: 3 }],
        _ => vec![DaemonMessage::Ok],
    });
    let app = app_with(path, dir);
    let n = invoke(&app, "prune_dead_passkeys", json!({})).unwrap();
    assert_eq!(n, json!(3));
    assert!(log
        .lock()
        .unwrap()
        .contains(&ClientMessage::PruneDeadPasskeys));
}

#[test]
fn a_missing_daemon_is_said_plainly() {
    let dir = tempfile::tempdir().unwrap();
    let app = app_with(dir.path().join("absent.sock"), dir);
    let e = invoke(&app, "list_passkeys", json!({})).unwrap_err();
    assert_eq!(e, "The tpm-passkey service is not running.");
}

/// A daemon whose last start failed (a refused store) left its reason: the window says it.
#[test]
fn a_failed_start_is_said_with_its_reason() {
    let dir = tempfile::tempdir().unwrap();
    let control = dir.path().join("absent.sock");
    std::fs::write(
        tpm_passkey_ipc::start_failure_path(&control),
        "the credential store is older than this TPM's rollback counter says\n",
    )
    .unwrap();
    let app = app_with(control, dir);
    let e = invoke(&app, "status", json!({})).unwrap_err();
    assert_eq!(
        e,
        "The tpm-passkey service could not start: the credential store is older than this TPM's rollback counter says"
    );
}

#[test]
fn prompts_arrive_and_approval_needs_the_pin() {
    let dir = tempfile::tempdir().unwrap();
    let (path, log) = fake_daemon(dir.path(), |m| match m {
        ClientMessage::RegisterAgent { .. } => vec![
            DaemonMessage::Ok,
            DaemonMessage::Prompt {
                id: 5,
                timeout_ms: 30_000,
                sent_unix_ms: 0,
                asked_unix_ms: 0,
                prompt: Prompt {
                    rp_id: Some("github.com".into()),
                    user: Some("alice".into()),
                    pin_required: true,
                    pin_retries: Some(8),
                    client_name: Some("firefox".into()),
                    client_pid: Some(42),
                    ..Prompt::new(Operation::SignIn)
                },
            },
        ],
        _ => vec![],
    });
    let app = app_with(path.clone(), dir);
    agent::spawn(app.window.app_handle().clone(), app.link.clone(), path);
    let mut waited = 0;
    while app.link.pending().is_empty() && waited < 100 {
        std::thread::sleep(Duration::from_millis(20));
        waited += 1;
    }
    let pending = invoke(&app, "pending_prompts", json!({})).unwrap();
    assert_eq!(pending[0]["id"], 5);
    assert_eq!(pending[0]["prompt"]["client_name"], "firefox");
    assert!(pending[0]["timeout_ms"].as_u64().unwrap() <= 30_000);
    // Enter with an empty PIN field does not approve; the prompt keeps waiting.
    let e = invoke(
        &app,
        "answer_prompt",
        json!({"id": 5, "approve": true, "pin": ""}),
    )
    .unwrap_err();
    assert_eq!(e, "Type your PIN to approve.");
    assert_eq!(app.link.pending().len(), 1);
    invoke(
        &app,
        "answer_prompt",
        json!({"id": 5, "approve": true, "pin": "4711"}),
    )
    .unwrap();
    assert!(app.link.pending().is_empty());
    let e = invoke(&app, "answer_prompt", json!({"id": 5, "approve": false})).unwrap_err();
    assert!(e.contains("no longer waiting"), "{e}");
    std::thread::sleep(Duration::from_millis(100));
    assert!(log.lock().unwrap().contains(&ClientMessage::Answer {
        id: 5,
        approve: true,
        pin: pin("4711"),
        choice: None
    }));
}

#[test]
fn start_at_login_writes_and_removes_the_autostart_entry() {
    let dir = tempfile::tempdir().unwrap();
    let app = app_with(dir.path().join("none.sock"), dir);
    let file = app.dir.path().join("autostart/tpm-passkey.desktop");
    assert_eq!(invoke(&app, "start_at_login", json!({})).unwrap(), false);
    assert_eq!(
        invoke(&app, "start_at_login", json!({"enabled": true})).unwrap(),
        true
    );
    let entry = std::fs::read_to_string(&file).unwrap();
    assert!(
        entry.contains("--hidden") && entry.starts_with("[Desktop Entry]"),
        "{entry}"
    );
    assert_eq!(
        invoke(&app, "start_at_login", json!({"enabled": false})).unwrap(),
        false
    );
    assert!(!file.exists());
}
