//! `tpm-passkey`: the daemon and its command-line interface.
//!
//! This first cut offers `tpm-passkey tpm`: which TPM would be used, what it is, its
//! dictionary-attack state, and a self-test that makes a key inside it, signs and checks
//! the signature. The daemon and the other commands build on the same TPM choice.
#![forbid(unsafe_code)]

mod tpm_choice;
mod tpm_cmd;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "tpm-passkey",
    version,
    about = "Passkeys whose private keys never leave the TPM"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Show the TPM in use and run a create/sign/verify self-test.
    Tpm(tpm_cmd::TpmArgs),
}

fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("TPM_PASSKEY_LOG")
                .unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Tpm(args) => tpm_cmd::run(&args),
    };
    if let Err(e) = result {
        eprintln!("tpm-passkey: {e}");
        std::process::exit(1);
    }
}
