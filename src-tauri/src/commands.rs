//! The commands the window may call: thin wrappers over control-socket requests
//! (docs/CONTROL.md), each run off the main thread. Generic over `R: Runtime` so that
//! `tauri::test`'s mock runtime drives them in the unit tests.

use std::path::PathBuf;
use std::sync::Arc;

use serde::Serialize;
use tauri::{AppHandle, Runtime, State};
use tpm_passkey_ipc::{ClientMessage, DaemonMessage, Pin, SiteRule};

use crate::agent::{AgentLink, PendingPrompt};
use crate::daemon::{self, AppError};

/// The words the user types to erase everything (Settings → Reset, and the forgotten-PIN
/// reset, where the daemon checks them too).
pub const RESET_PHRASE: &str = tpm_passkey_ipc::FORGOTTEN_PIN_PHRASE;

/// What the commands share.
#[derive(Debug)]
pub struct AppState {
    pub control: PathBuf,
    pub link: Arc<AgentLink>,
    /// `$XDG_CONFIG_HOME/autostart/tpm-passkey.desktop` ("start at login").
    pub autostart: PathBuf,
}

/// The window's header before it can reach the daemon.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct AppInfo {
    pub name: &'static str,
    pub version: &'static str,
}

type Answer<T = DaemonMessage> = Result<T, AppError>;

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Answer<T> + Send + 'static) -> Answer<T> {
    tauri::async_runtime::spawn_blocking(f)
        .await
        .map_err(|_| AppError::Unexpected)?
}

/// One request; the answer must be of the kind `want` accepts. PINs in `msg` zeroize
/// themselves once it is dropped.
async fn request(
    state: &State<'_, AppState>,
    msg: ClientMessage,
    want: fn(&DaemonMessage) -> bool,
) -> Answer {
    let path = state.control.clone();
    blocking(move || match daemon::call(&path, &msg)? {
        a if want(&a) => Ok(a),
        _ => Err(AppError::Unexpected),
    })
    .await
}

fn is_ok(m: &DaemonMessage) -> bool {
    matches!(m, DaemonMessage::Ok)
}

#[tauri::command]
pub fn app_info<R: Runtime>(_app: AppHandle<R>) -> AppInfo {
    AppInfo {
        name: "tpm-passkey",
        version: env!("CARGO_PKG_VERSION"),
    }
}

/// PIN state, settings, credentials count; plus whether the app is the connected agent.
#[tauri::command]
pub async fn status<R: Runtime>(
    _app: AppHandle<R>,
    state: State<'_, AppState>,
) -> Answer<serde_json::Value> {
    let s = request(&state, ClientMessage::Status, |m| {
        matches!(m, DaemonMessage::Status { .. })
    })
    .await?;
    let mut v = serde_json::to_value(s).map_err(|_| AppError::Unexpected)?;
    v["app_connected"] = state.link.connected().into();
    add_path_text(&mut v);
    Ok(v)
}

/// The TPM path in words (`TpmPath::explain`, the one wording the CLI prints too), beside
/// the daemon's `path`.
fn add_path_text(v: &mut serde_json::Value) {
    let path: Option<tpm_passkey_ipc::TpmPath> = serde_json::from_value(v["path"].clone()).ok();
    if let Some(p) = path {
        v["path_text"] = p.explain().into();
    }
}

#[tauri::command]
pub async fn tpm_info<R: Runtime>(
    _app: AppHandle<R>,
    state: State<'_, AppState>,
) -> Answer<serde_json::Value> {
    let t = request(&state, ClientMessage::TpmInfo, |m| {
        matches!(m, DaemonMessage::TpmInfo(_))
    })
    .await?;
    let mut v = serde_json::to_value(t).map_err(|_| AppError::Unexpected)?;
    add_path_text(&mut v);
    Ok(v)
}

#[tauri::command]
pub async fn list_passkeys<R: Runtime>(_app: AppHandle<R>, state: State<'_, AppState>) -> Answer {
    request(&state, ClientMessage::ListPasskeys, |m| {
        matches!(m, DaemonMessage::Passkeys { .. })
    })
    .await
}

#[tauri::command]
pub async fn delete_passkey<R: Runtime>(
    _app: AppHandle<R>,
    state: State<'_, AppState>,
    id: String,
    pin: Option<Pin>,
) -> Answer {
    request(&state, ClientMessage::DeletePasskey { id, pin }, is_ok).await
}

#[tauri::command]
pub async fn set_pin<R: Runtime>(
    _app: AppHandle<R>,
    state: State<'_, AppState>,
    pin: Pin,
) -> Answer {
    request(&state, ClientMessage::SetPin { pin }, is_ok).await
}

#[tauri::command]
pub async fn change_pin<R: Runtime>(
    _app: AppHandle<R>,
    state: State<'_, AppState>,
    old: Pin,
    new: Pin,
) -> Answer {
    request(&state, ClientMessage::ChangePin { old, new }, is_ok).await
}

#[tauri::command]
pub async fn set_settings<R: Runtime>(
    _app: AppHandle<R>,
    state: State<'_, AppState>,
    always_uv: Option<bool>,
    min_pin_length: Option<u8>,
    pin: Option<Pin>,
) -> Answer {
    let msg = ClientMessage::SetSettings {
        always_uv,
        min_pin_length,
        pin,
    };
    request(&state, msg, is_ok).await
}

/// The approval-fatigue defence's limits; the daemon asks for the PIN when they loosen.
#[tauri::command]
pub async fn set_fatigue_limits<R: Runtime>(
    _app: AppHandle<R>,
    state: State<'_, AppState>,
    limits: tpm_passkey_ipc::FatigueLimits,
    pin: Option<Pin>,
) -> Answer {
    request(
        &state,
        ClientMessage::SetFatigueLimits { limits, pin },
        is_ok,
    )
    .await
}

/// Step-up by risk; the daemon asks for the PIN when it loosens.
#[tauri::command]
pub async fn set_step_up<R: Runtime>(
    _app: AppHandle<R>,
    state: State<'_, AppState>,
    step_up: tpm_passkey_ipc::StepUp,
    pin: Option<Pin>,
) -> Answer {
    request(&state, ClientMessage::SetStepUp { step_up, pin }, is_ok).await
}

/// `tpm` attestation on (the PIN once one is set) or off; enrolment is the CLI's
/// (`tpm-passkey attestation request` / `install`), with the organisation's CA.
#[tauri::command]
pub async fn set_attestation<R: Runtime>(
    _app: AppHandle<R>,
    state: State<'_, AppState>,
    on: bool,
    pin: Option<Pin>,
) -> Answer {
    request(&state, ClientMessage::SetAttestation { on, pin }, is_ok).await
}

/// Ends the cool-downs in force (the PIN once one is set).
#[tauri::command]
pub async fn lift_cooldowns<R: Runtime>(
    _app: AppHandle<R>,
    state: State<'_, AppState>,
    pin: Option<Pin>,
) -> Answer {
    request(&state, ClientMessage::LiftCooldowns { pin }, is_ok).await
}

/// Erases everything, but only with the typed confirmation phrase.
#[tauri::command]
pub async fn reset<R: Runtime>(
    _app: AppHandle<R>,
    state: State<'_, AppState>,
    confirmation: String,
    pin: Option<Pin>,
) -> Answer {
    if confirmation.trim() != RESET_PHRASE {
        return Err(AppError::Invalid(
            "Type the words exactly as shown to confirm.",
        ));
    }
    request(&state, ClientMessage::Reset { pin }, is_ok).await
}

/// "I forgot my PIN": erases everything without the PIN, behind the typed phrase (checked
/// here and again by the daemon, which audits it).
#[tauri::command]
pub async fn reset_forgotten_pin<R: Runtime>(
    _app: AppHandle<R>,
    state: State<'_, AppState>,
    confirmation: String,
) -> Answer {
    if confirmation.trim() != RESET_PHRASE {
        return Err(AppError::Invalid(
            "Type the words exactly as shown to confirm.",
        ));
    }
    request(
        &state,
        ClientMessage::ResetForgottenPin {
            confirm: confirmation,
        },
        is_ok,
    )
    .await
}

/// Removes the passkeys this TPM cannot use (after a TPM clear or replacement); answers
/// how many went.
#[tauri::command]
pub async fn prune_dead_passkeys<R: Runtime>(
    _app: AppHandle<R>,
    state: State<'_, AppState>,
) -> Answer<u32> {
    match request(&state, ClientMessage::PruneDeadPasskeys, |m| {
        matches!(m, DaemonMessage::Pruned { .. })
    })
    .await?
    {
        DaemonMessage::Pruned { removed } => Ok(removed),
        _ => Err(AppError::Unexpected),
    }
}

/// Takes the approval-agent slot from another program, proving the PIN.
#[tauri::command]
pub async fn take_over_agent<R: Runtime>(
    _app: AppHandle<R>,
    state: State<'_, AppState>,
    pin: Pin,
) -> Answer<()> {
    state.link.take_over(pin);
    Ok(())
}

#[tauri::command]
pub async fn audit_tail<R: Runtime>(
    _app: AppHandle<R>,
    state: State<'_, AppState>,
    limit: u32,
) -> Answer {
    request(&state, ClientMessage::AuditTail { limit }, |m| {
        matches!(m, DaemonMessage::Audit { .. })
    })
    .await
}

/// The audit log checked: chain, checkpoints, the TPM's index (the Activity view shows it).
#[tauri::command]
pub async fn audit_verify<R: Runtime>(_app: AppHandle<R>, state: State<'_, AppState>) -> Answer {
    request(&state, ClientMessage::AuditVerify, |m| {
        matches!(m, DaemonMessage::AuditChecked { .. })
    })
    .await
}

#[tauri::command]
pub async fn list_site_rules<R: Runtime>(_app: AppHandle<R>, state: State<'_, AppState>) -> Answer {
    request(&state, ClientMessage::ListSiteRules, |m| {
        matches!(m, DaemonMessage::SiteRules { .. })
    })
    .await
}

/// `rule`: "block", "require_pin", or null to clear (clearing needs the PIN).
#[tauri::command]
pub async fn set_site_rule<R: Runtime>(
    _app: AppHandle<R>,
    state: State<'_, AppState>,
    rp_id: String,
    rule: Option<SiteRule>,
    pin: Option<Pin>,
) -> Answer {
    request(
        &state,
        ClientMessage::SetSiteRule { rp_id, rule, pin },
        is_ok,
    )
    .await
}

/// The wizard's test sign-in at the daemon's built-in relying party (two prompts).
#[tauri::command]
pub async fn test_sign_in<R: Runtime>(_app: AppHandle<R>, state: State<'_, AppState>) -> Answer {
    request(&state, ClientMessage::TestSignIn, is_ok).await
}

/// Writes the whole activity log as JSON into the Downloads folder — with its TPM-certified
/// checkpoints and a fresh TPM statement, the same as `tpm-passkey audit export` — and
/// returns the file.
#[tauri::command]
pub async fn export_audit<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
) -> Answer<String> {
    use tauri::Manager;
    let DaemonMessage::AuditExported(records) =
        request(&state, ClientMessage::AuditExport { nonce: None }, |m| {
            matches!(m, DaemonMessage::AuditExported(_))
        })
        .await?
    else {
        return Err(AppError::Unexpected);
    };
    let dir = app
        .path()
        .download_dir()
        .or_else(|_| app.path().home_dir())
        .map_err(|_| AppError::Invalid("No Downloads or home folder to save into."))?;
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let file = dir.join(format!("tpm-passkey-activity-{stamp}.json"));
    let json = serde_json::to_vec_pretty(&records).map_err(|_| AppError::Unexpected)?;
    std::fs::create_dir_all(&dir)?;
    std::fs::write(&file, json)?;
    Ok(file.display().to_string())
}

/// The prompts waiting now (the window asks when it loads, then follows the events).
#[tauri::command]
pub fn pending_prompts<R: Runtime>(
    _app: AppHandle<R>,
    state: State<'_, AppState>,
) -> Vec<PendingPrompt> {
    tracing::debug!("the window's script asks for the waiting prompts");
    state.link.pending()
}

/// The user's decision on a prompt. Enter never approves without the PIN where one is
/// needed: the link refuses an approval without one.
#[tauri::command]
pub async fn answer_prompt<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
    id: u64,
    approve: bool,
    pin: Option<Pin>,
    choice: Option<u32>,
) -> Answer<()> {
    let link = state.link.clone();
    let answered = blocking(move || link.answer(id, approve, pin, choice)).await;
    if answered.is_ok() {
        crate::idle::prompts_settled(&app);
    }
    answered
}

/// The window painted a prompt that was hidden before: how long after the request (and
/// after the daemon sent it) the frame showing it was there. Logged for the UI e2e, which
/// measures a prompt that had to start the app this way (no WebDriver reaches an app the
/// daemon started).
#[tauri::command]
pub fn prompt_painted<R: Runtime>(_app: AppHandle<R>, since_asked_ms: u64, since_sent_ms: u64) {
    tracing::info!(since_asked_ms, since_sent_ms, "prompt painted");
}

/// Starts the daemon: through systemd when the user unit is installed, else directly.
#[tauri::command]
pub async fn start_daemon<R: Runtime>(
    _app: AppHandle<R>,
    state: State<'_, AppState>,
) -> Answer<String> {
    let path = state.control.clone();
    blocking(move || crate::launcher::start(&path).map(str::to_owned)).await
}

/// "Start at login": reads (`enabled` null) or sets the autostart entry.
#[tauri::command]
pub fn start_at_login<R: Runtime>(
    _app: AppHandle<R>,
    state: State<'_, AppState>,
    enabled: Option<bool>,
) -> Answer<bool> {
    if let Some(on) = enabled {
        crate::launcher::set_autostart(&state.autostart, on)?;
    }
    Ok(state.autostart.is_file())
}

/// The tray shows what the window last learned (ready, locked, simulated, down).
#[tauri::command]
pub fn set_tray_status<R: Runtime>(app: AppHandle<R>, label: String) {
    crate::tray::set_label(&app, &label);
}
