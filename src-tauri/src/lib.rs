//! The tpm-passkey desktop app.
//!
//! For now a single window that says what the product is; enrolment, approvals and
//! management arrive with the app issue.

pub mod commands;

use tauri::Runtime;

/// Adds this app's state and commands to a builder of any runtime (real or mock).
pub fn configure<R: Runtime>(builder: tauri::Builder<R>) -> tauri::Builder<R> {
    builder
        .manage(commands::AppFacts::default())
        .invoke_handler(tauri::generate_handler![commands::app_info])
}

/// Starts the app with the real (WebKitGTK) runtime.
pub fn run() {
    if let Err(e) = configure(tauri::Builder::default()).run(tauri::generate_context!()) {
        eprintln!("tpm-passkey-app: could not start: {e}");
        std::process::exit(1);
    }
}

#[cfg(test)]
mod tests;
