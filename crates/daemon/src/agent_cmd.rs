//! `tpm-passkey agent`: the approval agent on this terminal (`terminal_agent`), for a
//! machine without a desktop.
//!
//! `tpm-passkey agent --approve-all` / `--deny-all`: a scripted approval agent for tests and
//! automation. It exists only in builds with the `scripted-agent` feature; the daemon logs a
//! warning whenever one registers and audits it. Each prompt (and notice) is printed to
//! stdout as one JSON line.

use std::path::PathBuf;

use clap::Args;
use tpm_passkey_core::ipc::control_path;

use crate::cli::CliResult;
#[cfg(feature = "scripted-agent")]
use {
    crate::cli::read_pin,
    std::io::Write,
    tpm_passkey_core::ipc::{AgentKind, Client, ClientMessage, DaemonMessage},
};

#[derive(Debug, Args)]
pub struct AgentArgs {
    /// Scripted (tests only): approve every prompt.
    #[cfg(feature = "scripted-agent")]
    #[arg(long, conflicts_with = "deny_all")]
    approve_all: bool,
    /// Scripted (tests only): deny every prompt.
    #[cfg(feature = "scripted-agent")]
    #[arg(long)]
    deny_all: bool,
    /// Scripted (tests only): a file whose first line is the PIN to type when a prompt
    /// asks for one.
    #[cfg(feature = "scripted-agent")]
    #[arg(long)]
    pin_file: Option<PathBuf>,
    /// Scripted (tests only): when a prompt lists accounts, choose the Nth (from 1).
    #[cfg(feature = "scripted-agent")]
    #[arg(long, value_name = "N")]
    choose: Option<u32>,
    /// Take the place of a connected agent (the app, another terminal), proving the PIN.
    #[arg(long)]
    take_over: bool,
    /// Control socket [default: $XDG_RUNTIME_DIR/tpm-passkey/control.sock].
    #[arg(long)]
    control: Option<PathBuf>,
}

pub fn run(args: &AgentArgs) -> CliResult {
    #[cfg(feature = "scripted-agent")]
    if args.approve_all || args.deny_all {
        return scripted(args);
    }
    crate::terminal_agent::run(&control_path(args.control.as_deref())?, args.take_over)
}

#[cfg(feature = "scripted-agent")]
fn scripted(args: &AgentArgs) -> CliResult {
    if args.take_over && args.pin_file.is_none() {
        return Err("--take-over in a scripted agent needs --pin-file".into());
    }
    let pin = match &args.pin_file {
        Some(f) => Some(read_pin(Some(f), "")?),
        None => None,
    };
    let mut client = Client::connect(&control_path(args.control.as_deref())?, None)?;
    client.call(&ClientMessage::RegisterAgent {
        kind: AgentKind::Scripted,
        take_over: pin.clone().filter(|_| args.take_over),
    })?;
    let stdout = std::io::stdout();
    loop {
        let msg = match client.receive() {
            Ok(m) => m,
            Err(tpm_passkey_core::ipc::ClientError::Closed) => return Ok(()),
            Err(e) => return Err(e.into()),
        };
        match msg {
            DaemonMessage::Prompt { id, prompt, .. } => {
                let approve = args.approve_all;
                let mut out = stdout.lock();
                writeln!(
                    out,
                    "{}",
                    serde_json::json!({ "id": id, "prompt": prompt, "approve": approve })
                )?;
                out.flush()?;
                let typed = if approve && prompt.pin_required {
                    pin.clone()
                } else {
                    None
                };
                let choice = args
                    .choose
                    .filter(|_| approve && !prompt.accounts.is_empty())
                    .map(|n| n.saturating_sub(1));
                client.send(&ClientMessage::Answer {
                    id,
                    approve,
                    pin: typed,
                    choice,
                })?;
            }
            DaemonMessage::Wink => {
                let mut out = stdout.lock();
                writeln!(out, "{}", serde_json::json!({ "wink": true }))?;
                out.flush()?;
            }
            DaemonMessage::AgentNotice(n) => {
                let mut out = stdout.lock();
                writeln!(out, "{}", serde_json::json!({ "notice": n }))?;
                out.flush()?;
            }
            DaemonMessage::Notice { text } => {
                let mut out = stdout.lock();
                writeln!(out, "{}", serde_json::json!({ "notice_text": text }))?;
                out.flush()?;
            }
            DaemonMessage::Error { message, .. } => return Err(message.into()),
            _ => {}
        }
    }
}
