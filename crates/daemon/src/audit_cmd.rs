//! `tpm-passkey audit` (the latest entries), `audit verify` (the hash chain, the TPM's
//! checkpoints and its audit index now; exit status 1 when something is wrong) and
//! `audit export --json` (everything a verifier elsewhere needs; docs/DESIGN.md "Audit
//! checkpoints").

use clap::{Args, ValueEnum};
use tpm_passkey_core::ipc::{AuditVerdict, ClientMessage, DaemonMessage};

use crate::cli::{print_json, utc, CliResult, ReadArgs};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AuditAction {
    /// The latest entries (the default).
    Show,
    /// Check the hash chain, every TPM-certified checkpoint and the TPM's audit index now,
    /// and name the first entry that cannot be trusted.
    Verify,
    /// The whole log with its checkpoints and a fresh TPM statement, as JSON.
    Export,
}

#[derive(Debug, Args)]
pub struct AuditArgs {
    /// What to do.
    #[arg(value_enum, default_value_t = AuditAction::Show)]
    action: AuditAction,
    #[command(flatten)]
    read: ReadArgs,
    /// How many of the latest records.
    #[arg(long, default_value_t = 50)]
    limit: u32,
    /// The same as `audit verify`.
    #[arg(long)]
    verify: bool,
    /// For `export`: a verifier's nonce (64 hex digits) for the TPM's statement; a random
    /// one without it.
    #[arg(long)]
    nonce: Option<String>,
}

pub fn audit(args: &AuditArgs) -> CliResult {
    let action = if args.verify {
        AuditAction::Verify
    } else {
        args.action
    };
    match action {
        AuditAction::Verify => verify(args),
        AuditAction::Export => export(args),
        AuditAction::Show => show(args),
    }
}

fn verify(args: &AuditArgs) -> CliResult {
    let DaemonMessage::AuditChecked(v) =
        args.read.conn.client()?.call(&ClientMessage::AuditVerify)?
    else {
        return Err("unexpected answer from the daemon".into());
    };
    if args.read.json {
        print_json(&v)?;
    } else {
        println!("{}", describe(&v));
    }
    match (v.first_bad_seq, &v.problem) {
        (None, None) => Ok(()),
        (Some(seq), p) => Err(format!(
            "the audit log was altered: entry #{seq} is the first that cannot be trusted ({})",
            p.as_deref().unwrap_or("see above")
        )
        .into()),
        (None, Some(p)) => Err(format!("the audit log could not be fully checked: {p}").into()),
    }
}

/// The verdict in words.
fn describe(v: &AuditVerdict) -> String {
    let mut out = format!("{} entries", v.entries);
    if v.checkpoints > 0 || v.tpm_checked {
        out.push_str(&format!(
            ", {} of {} TPM-certified checkpoints verify",
            v.checkpoints_verified, v.checkpoints
        ));
        if let Some(seq) = v.vouched_through {
            out.push_str(&format!(" (the TPM vouches for entries up to #{seq})"));
        }
        if v.tpm_checked {
            out.push_str("; the TPM's audit index matches them");
        }
    } else {
        out.push_str(", no TPM checkpoints (this install has no audit index): hash chain only");
    }
    if let Some(n) = &v.notice {
        out.push_str(&format!("\nnote: {n}"));
    }
    match &v.problem {
        Some(p) => format!("{out}\nPROBLEM: {p}"),
        None => format!("{out}\nthe audit log verifies"),
    }
}

fn export(args: &AuditArgs) -> CliResult {
    let DaemonMessage::AuditExported(export) =
        args.read.conn.client()?.call(&ClientMessage::AuditExport {
            nonce: args.nonce.clone(),
        })?
    else {
        return Err("unexpected answer from the daemon".into());
    };
    print_json(&export)
}

fn show(args: &AuditArgs) -> CliResult {
    let DaemonMessage::Audit { records } = args
        .read
        .conn
        .client()?
        .call(&ClientMessage::AuditTail { limit: args.limit })?
    else {
        return Err("unexpected answer from the daemon".into());
    };
    if args.read.json {
        return print_json(&records);
    }
    for r in records {
        let site = r.rp_id.as_deref().unwrap_or("-");
        let detail = r.detail.map(|d| format!("  ({d})")).unwrap_or_default();
        println!(
            "{}  {:<13} {:<10} {site}{detail}",
            utc(r.time),
            r.event.as_str(),
            r.outcome.as_str()
        );
    }
    Ok(())
}
