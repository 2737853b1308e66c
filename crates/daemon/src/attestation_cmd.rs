//! `tpm-passkey attestation status|request|install FILE|on|off` (docs/DESIGN.md "TPM
//! attestation"): enrol the TPM's attestation key with an organisation's CA, then choose
//! `tpm` attestation for new passkeys.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use tpm_passkey_core::ipc::{ClientMessage, DaemonMessage};

use crate::cli::{pin_if_set, print_json, CliResult, Conn, PinSource};

#[derive(Debug, Subcommand)]
pub enum AttestationCommand {
    /// Whether a certificate is installed and `tpm` attestation is on.
    Status {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Print the enrolment request (JSON) to send to the organisation's CA.
    Request {
        /// Write it to FILE instead of standard output.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Install the CA's answer: the TPM activates it, and the AK certificate inside is
    /// checked and kept.
    Install { response: PathBuf },
    /// New passkeys carry `tpm` attestation (needs the PIN: sites can then tell this TPM).
    On,
    /// New passkeys carry packed self-attestation (the default).
    Off,
}

#[derive(Debug, Args)]
pub struct AttestationArgs {
    #[command(subcommand)]
    command: AttestationCommand,
    #[command(flatten)]
    conn: Conn,
    #[command(flatten)]
    pin: PinSource,
}

pub fn run(args: &AttestationArgs) -> CliResult {
    let mut client = args.conn.client()?;
    match &args.command {
        AttestationCommand::Status { json } => {
            let DaemonMessage::Status(s) = client.call(&ClientMessage::Status)? else {
                return Err("unexpected answer from the daemon".into());
            };
            let a = s.attestation;
            if *json {
                return print_json(&a);
            }
            match (&a.issuer, a.on) {
                (None, _) => println!(
                    "no attestation certificate: new passkeys carry packed self-attestation (enrol with `tpm-passkey attestation request`)"
                ),
                (Some(i), true) => println!("tpm attestation on; certificate issued by {i}"),
                (Some(i), false) => println!(
                    "certificate issued by {i} installed; tpm attestation off (`tpm-passkey attestation on`)"
                ),
            }
        }
        AttestationCommand::Request { out } => {
            let DaemonMessage::AttestationRequest { request } =
                client.call(&ClientMessage::AttestationRequest)?
            else {
                return Err("unexpected answer from the daemon".into());
            };
            match out {
                Some(path) => {
                    std::fs::write(path, format!("{request}\n"))?;
                    println!("enrolment request written to {}", path.display());
                }
                None => println!("{request}"),
            }
        }
        AttestationCommand::Install { response } => {
            let response = std::fs::read_to_string(response)?;
            client.call(&ClientMessage::AttestationInstall { response })?;
            println!(
                "attestation certificate installed; turn it on with `tpm-passkey attestation on`"
            );
        }
        AttestationCommand::On => {
            let pin = pin_if_set(&mut client, &args.pin)?;
            client.call(&ClientMessage::SetAttestation { on: true, pin })?;
            println!("new passkeys carry tpm attestation");
        }
        AttestationCommand::Off => {
            client.call(&ClientMessage::SetAttestation {
                on: false,
                pin: None,
            })?;
            println!("new passkeys carry packed self-attestation");
        }
    }
    Ok(())
}
