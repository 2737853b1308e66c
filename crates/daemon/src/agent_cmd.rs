//! `tpm-passkey agent --approve-all`: a scripted approval agent for tests and automation.
//! It exists only in builds with the `scripted-agent` feature; the daemon logs a warning
//! whenever one registers. Each prompt is printed to stdout as one JSON line.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;

use clap::Args;
use tpm_passkey_ipc::{decode, encode, AgentKind, ClientMessage, DaemonMessage, PROTOCOL_VERSION};
use zeroize::Zeroize;

#[derive(Debug, Args)]
pub struct AgentArgs {
    /// Approve every prompt (the only mode besides --deny-all).
    #[arg(
        long,
        required_unless_present = "deny_all",
        conflicts_with = "deny_all"
    )]
    approve_all: bool,
    /// Deny every prompt.
    #[arg(long)]
    deny_all: bool,
    /// A file whose first line is the PIN to type when a prompt asks for one.
    #[arg(long)]
    pin_file: Option<PathBuf>,
    /// Control socket [default: $XDG_RUNTIME_DIR/tpm-passkey/control.sock].
    #[arg(long)]
    control: Option<PathBuf>,
}

pub fn run(args: &AgentArgs) -> Result<(), Box<dyn std::error::Error>> {
    let path = match &args.control {
        Some(p) => p.clone(),
        None => tpm_passkey_ipc::default_control_path()
            .ok_or("XDG_RUNTIME_DIR is not set; pass --control PATH")?,
    };
    let mut pin = match &args.pin_file {
        Some(f) => Some(
            std::fs::read_to_string(f)?
                .lines()
                .next()
                .unwrap_or("")
                .to_owned(),
        ),
        None => None,
    };
    let stream = UnixStream::connect(&path)
        .map_err(|e| format!("cannot reach the daemon at {}: {e}", path.display()))?;
    let mut writer = stream.try_clone()?;
    let mut reader = BufReader::new(stream);
    writer.write_all(
        encode(&ClientMessage::Hello {
            protocol: PROTOCOL_VERSION,
        })
        .as_bytes(),
    )?;
    writer.write_all(
        encode(&ClientMessage::RegisterAgent {
            kind: AgentKind::Scripted,
        })
        .as_bytes(),
    )?;
    let stdout = std::io::stdout();
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 {
            break;
        }
        match decode::<DaemonMessage>(&line)? {
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
                writer.write_all(
                    encode(&ClientMessage::Answer {
                        id,
                        approve,
                        pin: typed,
                    })
                    .as_bytes(),
                )?;
            }
            DaemonMessage::Wink => {
                let mut out = stdout.lock();
                writeln!(out, "{}", serde_json::json!({ "wink": true }))?;
                out.flush()?;
            }
            DaemonMessage::Error { message } => return Err(message.into()),
            _ => {}
        }
    }
    if let Some(p) = &mut pin {
        p.zeroize();
    }
    Ok(())
}
