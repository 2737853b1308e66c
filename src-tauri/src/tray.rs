//! The tray icon: the current state in its tooltip and first menu line, quick access to the
//! window, and Quit. On desktops without a status-notifier host it is simply absent.

use tauri::menu::{Menu, MenuItem};
use tauri::tray::TrayIconBuilder;
use tauri::{AppHandle, Manager, Runtime};

const TRAY_ID: &str = "main";

pub fn setup<R: Runtime>(app: &AppHandle<R>) -> tauri::Result<()> {
    let state = MenuItem::with_id(app, "state", "tpm-passkey: starting…", false, None::<&str>)?;
    let open = MenuItem::with_id(app, "open", "Open tpm-passkey", true, None::<&str>)?;
    let quit = MenuItem::with_id(app, "quit", "Quit", true, None::<&str>)?;
    let menu = Menu::with_items(app, &[&state, &open, &quit])?;
    let mut builder = TrayIconBuilder::with_id(TRAY_ID)
        .menu(&menu)
        .tooltip("tpm-passkey")
        .on_menu_event(|app, event| match event.id().as_ref() {
            "open" => {
                if let Some(w) = app.get_webview_window("main") {
                    let _ = w.show();
                    let _ = w.set_focus();
                }
                // Opened by the person: it stays when the prompts are done.
                crate::idle::disarm(app);
            }
            "quit" => app.exit(0),
            _ => {}
        });
    if let Some(icon) = app.default_window_icon() {
        builder = builder.icon(icon.clone());
    }
    builder.build(app)?;
    app.manage(TrayState(state));
    Ok(())
}

struct TrayState<R: Runtime>(MenuItem<R>);

/// Shows `label` ("Ready", "Locked", "Simulated TPM", "Service not running").
pub fn set_label<R: Runtime>(app: &AppHandle<R>, label: &str) {
    let text = format!("tpm-passkey: {label}");
    if let Some(tray) = app.tray_by_id(TRAY_ID) {
        let _ = tray.set_tooltip(Some(&text));
    }
    if let Some(s) = app.try_state::<TrayState<R>>() {
        let _ = s.0.set_text(&text);
    }
}

/// Connection changes, before the window has refined the label.
pub fn update<R: Runtime>(app: &AppHandle<R>, connected: bool) {
    set_label(
        app,
        if connected {
            "Ready"
        } else {
            "Service not running"
        },
    );
}
