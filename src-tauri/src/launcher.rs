//! Starting the daemon when it is not running, and "start at login".

use std::path::Path;
use std::process::{Command, Stdio};

use crate::daemon::AppError;

/// Starts the daemon: `systemctl --user start tpm-passkey` when the user unit is installed
/// (and the control socket is the default one), else the `tpm-passkey` binary next to the
/// app (or on PATH), detached, listening on `control`.
pub fn start(control: &Path) -> Result<&'static str, AppError> {
    let default = tpm_passkey_ipc::default_control_path().is_some_and(|d| d == control);
    if default
        && Command::new("systemctl")
            .args(["--user", "start", "tpm-passkey.service"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    {
        return Ok("systemd");
    }
    let sibling = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(|d| d.join("tpm-passkey")))
        .filter(|p| p.is_file());
    let exe = sibling.unwrap_or_else(|| "tpm-passkey".into());
    Command::new(exe)
        .arg("daemon")
        .arg("--control")
        .arg(control)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|_| {
            AppError::Invalid(
                "Could not start the tpm-passkey service: is it installed? See docs/INSTALL.md.",
            )
        })?;
    Ok("spawned")
}

/// Writes or removes the XDG autostart entry that starts the app, hidden, at login.
pub fn set_autostart(file: &Path, on: bool) -> Result<(), AppError> {
    if !on {
        return match std::fs::remove_file(file) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.into()),
            _ => Ok(()),
        };
    }
    let exe = std::env::current_exe()?;
    if let Some(dir) = file.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(
        file,
        format!(
            "[Desktop Entry]\nType=Application\nName=tpm-passkey\nComment=Approve sign-ins with passkeys kept in your TPM\nExec={} --hidden\nIcon=tpm-passkey\nX-GNOME-Autostart-enabled=true\n",
            exe.display()
        ),
    )?;
    Ok(())
}

/// `$XDG_CONFIG_HOME/autostart/tpm-passkey.desktop` (or ~/.config/…).
pub fn autostart_file() -> std::path::PathBuf {
    std::env::var_os("XDG_CONFIG_HOME")
        .map(std::path::PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| std::env::var_os("HOME").map(|h| std::path::PathBuf::from(h).join(".config")))
        .unwrap_or_else(|| ".".into())
        .join("autostart/tpm-passkey.desktop")
}
