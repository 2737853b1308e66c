//! The commands the UI may call. Each is generic over `R: Runtime` so that the mock
//! runtime of `tauri::test` can drive it.

use serde::Serialize;
use tauri::{Runtime, State};

/// What the window shows in its header before it can reach the daemon.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct AppInfo {
    pub name: &'static str,
    pub version: &'static str,
}

/// Shared, immutable app facts, managed as Tauri state.
#[derive(Debug)]
pub struct AppFacts(AppInfo);

impl Default for AppFacts {
    fn default() -> Self {
        AppFacts(AppInfo {
            name: "tpm-passkey",
            version: env!("CARGO_PKG_VERSION"),
        })
    }
}

/// Returns the app's name and version; the first command the UI calls.
#[tauri::command]
pub fn app_info<R: Runtime>(_app: tauri::AppHandle<R>, facts: State<'_, AppFacts>) -> AppInfo {
    facts.0.clone()
}
