//! The tpm-passkey desktop app: the approval agent and the face of the product.
//!
//! It never touches the TPM or /dev/uhid: everything goes through the daemon's control
//! socket (docs/CONTROL.md). [`agent`] keeps the registered agent connection (prompts in,
//! answers out); [`commands`] are what the window calls; [`launcher`] starts the daemon and
//! manages "start at login"; [`tray`] is the status icon; [`idle`] ends the app when it has
//! nothing to show.
#![forbid(unsafe_code)]

pub mod agent;
pub mod commands;
pub mod daemon;
pub mod idle;
pub mod launcher;
pub mod tray;

use std::sync::Arc;

use tauri::{Manager, Runtime};

/// Adds this app's state and commands to a builder of any runtime (real or mock).
pub fn configure<R: Runtime>(
    builder: tauri::Builder<R>,
    state: commands::AppState,
) -> tauri::Builder<R> {
    builder
        .manage(state)
        .invoke_handler(tauri::generate_handler![
            commands::app_info,
            commands::status,
            commands::tpm_info,
            commands::list_passkeys,
            commands::delete_passkey,
            commands::set_pin,
            commands::change_pin,
            commands::set_settings,
            commands::set_fatigue_limits,
            commands::lift_cooldowns,
            commands::set_step_up,
            commands::set_attestation,
            commands::reset,
            commands::reset_forgotten_pin,
            commands::prune_dead_passkeys,
            commands::take_over_agent,
            commands::audit_tail,
            commands::audit_verify,
            commands::list_site_rules,
            commands::test_sign_in,
            commands::set_site_rule,
            commands::export_audit,
            commands::pending_prompts,
            commands::answer_prompt,
            commands::prompt_painted,
            commands::start_daemon,
            commands::start_at_login,
            commands::set_tray_status,
        ])
}

/// Starts the app with the real (WebKitGTK) runtime.
pub fn run() {
    // WebKit's accelerated compositing makes the web process set up GL before its first
    // frame — under software GL (llvmpipe, no GPU) that alone costs ~100 ms of a cold start
    // (docs/PERFORMANCE.md "The app"), and a prompt window has nothing to animate. Set
    // before any thread exists and before WebKit starts its processes; a value the person
    // set is kept.
    if std::env::var_os("WEBKIT_DISABLE_COMPOSITING_MODE").is_none() {
        std::env::set_var("WEBKIT_DISABLE_COMPOSITING_MODE", "1");
    }
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("TPM_PASSKEY_LOG")
                .unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
    tracing::debug!("app started");
    let control = daemon::control_path();
    let link = Arc::new(agent::AgentLink::default());
    let state = commands::AppState {
        control: control.clone(),
        link: link.clone(),
        autostart: launcher::autostart_file(),
    };
    let hidden = std::env::args().any(|a| a == "--hidden");
    let builder = configure(tauri::Builder::default(), state)
        .setup(move |app| {
            tracing::debug!("app setup: window created");
            let handle = app.handle().clone();
            if let Err(e) = tray::setup(&handle) {
                tracing::info!(error = %e, "no tray icon on this desktop");
            }
            app.manage(idle::IdleExit::from_env());
            if hidden {
                if let Some(w) = app.get_webview_window("main") {
                    let _ = w.hide();
                }
                // Started for a prompt (or at login): it exits unless one comes.
                idle::arm(&handle);
            }
            // The daemon starts with the session; if it is not there, start it once.
            if std::os::unix::net::UnixStream::connect(&control).is_err()
                && std::env::var_os("TPM_PASSKEY_NO_DAEMON_START").is_none()
            {
                if let Err(e) = launcher::start(&control) {
                    tracing::warn!(error = %e, "could not start the daemon");
                }
            }
            agent::spawn(handle, link.clone(), control.clone());
            Ok(())
        })
        .on_window_event(|window, event| {
            // Closing the window denies whatever it was asking; the app then hides and
            // exits once idle (the daemon starts it for the next prompt).
            if let tauri::WindowEvent::CloseRequested { api, .. } = event {
                if let Some(state) = window.try_state::<commands::AppState>() {
                    state.link.deny_all();
                }
                let app = window.app_handle();
                let idle_exit = app
                    .try_state::<idle::IdleExit>()
                    .is_some_and(|i| i.enabled());
                if idle_exit || app.tray_by_id("main").is_some() {
                    api.prevent_close();
                    let _ = window.hide();
                    idle::disarm(app);
                    idle::arm(app);
                }
            }
        });
    if let Err(e) = builder.run(tauri::generate_context!()) {
        eprintln!("tpm-passkey-app: could not start: {e}");
        std::process::exit(1);
    }
}

#[cfg(test)]
mod tests;
