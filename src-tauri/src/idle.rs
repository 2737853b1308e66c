//! The app leaves nothing resident. A webview costs hundreds of MB (WebKitGTK's web and
//! network processes, a compositor) for a window that is needed a few seconds a day, so
//! once the window is hidden and no prompt waits, the app exits after a short grace
//! period ([`DEFAULT_AFTER`]); the daemon starts it again (`--start-app`, hidden) when the
//! next request needs a prompt, and the person opens it from the menu. The tray icon lives
//! and goes with it: a resident icon would keep the webview's process resident too.
//!
//! A window the app showed for a prompt (it was hidden) is hidden again when the last
//! prompt is answered or closed; one the person opened stays until they close it.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use tauri::{AppHandle, Manager, Runtime};

use crate::commands::AppState;

/// Long enough for the next prompt of a sign-in that comes in two (a token, then the
/// assertion) or a person doing several in a row; short enough that an idle desktop pays
/// nothing for the app.
pub const DEFAULT_AFTER: Duration = Duration::from_secs(20);

/// `TPM_PASSKEY_APP_IDLE_EXIT_SECS`: seconds before a hidden, idle app exits; `never` keeps
/// it running (a tray-only setup that wants it).
pub const ENV: &str = "TPM_PASSKEY_APP_IDLE_EXIT_SECS";

#[derive(Debug)]
pub struct IdleExit {
    after: Option<Duration>,
    /// Bumped by every arm and disarm: an armed exit only fires if nothing happened since.
    generation: AtomicU64,
    /// The window was shown for a prompt (it was hidden): hide it again once none waits.
    shown_for_prompt: AtomicBool,
}

impl IdleExit {
    pub fn new(after: Option<Duration>) -> Self {
        IdleExit {
            after,
            generation: AtomicU64::new(0),
            shown_for_prompt: AtomicBool::new(false),
        }
    }

    pub fn from_env() -> Self {
        Self::new(parse(std::env::var(ENV).ok().as_deref()))
    }

    pub fn enabled(&self) -> bool {
        self.after.is_some()
    }
}

/// The grace period `TPM_PASSKEY_APP_IDLE_EXIT_SECS` asks for (unset: the default).
pub fn parse(value: Option<&str>) -> Option<Duration> {
    match value.map(str::trim) {
        None | Some("") => Some(DEFAULT_AFTER),
        Some("never") => None,
        Some(v) => Some(
            v.parse::<u64>()
                .map(Duration::from_secs)
                .unwrap_or(DEFAULT_AFTER),
        ),
    }
}

fn window_visible<R: Runtime>(app: &AppHandle<R>) -> bool {
    app.get_webview_window("main")
        .and_then(|w| w.is_visible().ok())
        .unwrap_or(false)
}

fn prompts_waiting<R: Runtime>(app: &AppHandle<R>) -> bool {
    app.try_state::<AppState>()
        .is_some_and(|s| !s.link.pending().is_empty())
}

/// A prompt is about to raise the window: remember whether it was hidden, and call off any
/// armed exit.
pub fn prompt_arrived<R: Runtime>(app: &AppHandle<R>) {
    if let Some(idle) = app.try_state::<IdleExit>() {
        if !window_visible(app) {
            idle.shown_for_prompt.store(true, Ordering::SeqCst);
        }
        idle.generation.fetch_add(1, Ordering::SeqCst);
    }
}

/// The window was shown by the person: no exit while it is.
pub fn disarm<R: Runtime>(app: &AppHandle<R>) {
    if let Some(idle) = app.try_state::<IdleExit>() {
        idle.shown_for_prompt.store(false, Ordering::SeqCst);
        idle.generation.fetch_add(1, Ordering::SeqCst);
    }
}

/// A prompt was answered or closed. When none waits, a window shown only for prompts is
/// hidden again, and a hidden app arms its exit.
pub fn prompts_settled<R: Runtime>(app: &AppHandle<R>) {
    if prompts_waiting(app) {
        return;
    }
    let shown_for_prompt = app
        .try_state::<IdleExit>()
        .is_some_and(|i| i.shown_for_prompt.swap(false, Ordering::SeqCst));
    if let Some(w) = app.get_webview_window("main") {
        let _ = w.set_always_on_top(false);
        if shown_for_prompt {
            let _ = w.hide();
        }
    }
    arm(app);
}

/// The window is hidden (or was never shown): exit after the grace period unless a prompt
/// or the person shows it meanwhile.
pub fn arm<R: Runtime>(app: &AppHandle<R>) {
    let Some(idle) = app.try_state::<IdleExit>() else {
        return;
    };
    let Some(after) = idle.after else {
        return;
    };
    let armed = idle.generation.fetch_add(1, Ordering::SeqCst) + 1;
    let app = app.clone();
    let _ = std::thread::Builder::new()
        .name("idle-exit".into())
        .spawn(move || {
            std::thread::sleep(after);
            let current = app
                .try_state::<IdleExit>()
                .map(|i| i.generation.load(Ordering::SeqCst));
            if current != Some(armed) || window_visible(&app) || prompts_waiting(&app) {
                return;
            }
            tracing::info!(
                after_secs = after.as_secs(),
                "nothing to show: the app exits (the daemon starts it for the next prompt)"
            );
            app.exit(0);
        });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_grace_period_is_the_default_unless_asked_otherwise() {
        assert_eq!(parse(None), Some(DEFAULT_AFTER));
        assert_eq!(parse(Some("")), Some(DEFAULT_AFTER));
        assert_eq!(parse(Some("3")), Some(Duration::from_secs(3)));
        assert_eq!(parse(Some("never")), None);
        assert_eq!(parse(Some("soon")), Some(DEFAULT_AFTER));
    }
}
