//! `tpm-passkey`: the daemon and its command-line interface.
//!
//! * `tpm-passkey daemon`: the authenticator (TPM, engine, control socket, HID transports).
//! * `tpm-passkey tpm`: which TPM would be used, what it is, its dictionary-attack state,
//!   and a create/sign/verify self-test.
//! * `tpm-passkey agent`: approve requests on this terminal; with the `scripted-agent`
//!   feature also a scripted approval agent for tests.
#![forbid(unsafe_code)]

mod agent_hub;
mod attestation;
mod attestation_cmd;
mod audit_cmd;
mod cli;
mod control;
mod corpus;
mod daemon_cmd;
mod demo;
mod engine_thread;
mod hub_approver;
mod logging;
mod owner_auth_cmd;
mod pam;
mod pam_cmd;
mod requests;
mod site_cmd;
mod tpm_choice;
mod tpm_cmd;
mod uhid_helper_cmd;
mod up_cmd;

mod agent_cmd;
mod terminal_agent;

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
    /// Start everything for a first try: the authenticator, an approval agent (the app, or
    /// this terminal), the PIN if none is set, and the test sign-in.
    Up(up_cmd::UpArgs),
    /// Run the authenticator.
    Daemon(daemon_cmd::DaemonArgs),
    /// Is the daemon running, which TPM, PIN state, settings.
    Status(cli::ReadArgs),
    /// The passkeys on this authenticator.
    List(cli::ReadArgs),
    /// Delete one passkey (needs the PIN).
    Delete(cli::DeleteArgs),
    /// Set or change the PIN.
    #[command(subcommand)]
    Pin(cli::PinCommand),
    /// Always require the PIN; minimum PIN length.
    Settings(cli::SettingsArgs),
    /// Erase every passkey and the PIN (needs the PIN and --yes).
    Reset(cli::ResetArgs),
    /// Login and sudo with the authenticator (pam_u2f): enroll, or remove.
    #[command(subcommand)]
    Pam(pam_cmd::PamCommand),
    /// Remove the passkeys this TPM cannot use (after a TPM clear or replacement; --yes).
    Prune(cli::PruneArgs),
    /// The latest approvals, denials, PIN failures and management actions; `audit verify`
    /// checks the log against the TPM, `audit export --json` writes it for a verifier.
    Audit(audit_cmd::AuditArgs),
    /// Enrol the TPM's attestation key with an organisation's CA, and turn `tpm`
    /// attestation on or off.
    Attestation(attestation_cmd::AttestationArgs),
    /// The per-site rules (blocked sites, sites that always get the PIN).
    Sites(cli::ReadArgs),
    /// Block a site, always require the PIN for it, or clear its rule.
    Site(site_cmd::SiteArgs),
    /// Register and sign in at a built-in test site (approve both prompts), and verify.
    TestSignIn(cli::Conn),
    /// Show the TPM in use and run a create/sign/verify self-test.
    Tpm(tpm_cmd::TpmArgs),
    /// The privileged uhid helper (a system service): creates the FIDO device for a user's
    /// daemon and relays its reports.
    UhidHelper(uhid_helper_cmd::HelperArgs),
    /// Approve requests on this terminal (no desktop needed): Enter approves, Escape
    /// denies, the PIN is typed masked.
    Agent(agent_cmd::AgentArgs),
    /// The daemon's Secret Service lookup of the owner password, in a child of its own
    /// (owner_auth_cmd.rs says why).
    #[command(hide = true)]
    OwnerAuthLookup,
}

fn main() {
    let cli = Cli::parse();
    logging::init(matches!(
        cli.command,
        Command::Daemon(_) | Command::UhidHelper(_)
    ));
    let result = match cli.command {
        Command::Up(args) => up_cmd::run(&args),
        Command::Daemon(args) => daemon_cmd::run(&args),
        Command::Status(args) => cli::status(&args),
        Command::List(args) => cli::list(&args),
        Command::Delete(args) => cli::delete(&args),
        Command::Pin(cmd) => cli::pin(&cmd),
        Command::Settings(args) => cli::settings(&args),
        Command::Reset(args) => cli::reset(&args),
        Command::Prune(args) => cli::prune(&args),
        Command::Pam(cmd) => pam_cmd::run(&cmd),
        Command::Audit(args) => audit_cmd::audit(&args),
        Command::Attestation(args) => attestation_cmd::run(&args),
        Command::Sites(args) => site_cmd::list(&args),
        Command::Site(args) => site_cmd::set(&args),
        Command::TestSignIn(conn) => cli::test_sign_in(&conn),
        Command::Tpm(args) => tpm_cmd::run(&args),
        Command::UhidHelper(args) => uhid_helper_cmd::run(&args),
        Command::Agent(args) => agent_cmd::run(&args),
        Command::OwnerAuthLookup => owner_auth_cmd::run(),
    };
    if let Err(e) = result {
        eprintln!("tpm-passkey: {e}");
        std::process::exit(1);
    }
}
