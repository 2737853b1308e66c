//! `tpm-passkey sites` (list the per-site rules) and `tpm-passkey site RP block|require-pin|none`.

use clap::{Args, ValueEnum};
use tpm_passkey_core::ipc::{ClientMessage, DaemonMessage, SiteRule};

use crate::cli::{pin_if_set, print_json, CliResult, Conn, PinSource, ReadArgs};

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Rule {
    /// Refuse every request from the site, without a prompt.
    Block,
    /// Always ask for the PIN for this site, even with alwaysUv off.
    RequirePin,
    /// No rule (needs the PIN).
    None,
}

#[derive(Debug, Args)]
pub struct SiteArgs {
    #[command(flatten)]
    conn: Conn,
    #[command(flatten)]
    pin: PinSource,
    /// The site (relying party id), e.g. github.com.
    rp_id: String,
    rule: Rule,
}

pub fn list(args: &ReadArgs) -> CliResult {
    let DaemonMessage::SiteRules { rules } =
        args.conn.client()?.call(&ClientMessage::ListSiteRules)?
    else {
        return Err("unexpected answer from the daemon".into());
    };
    if args.json {
        return print_json(&rules);
    }
    if rules.is_empty() {
        println!("no site rules (add one with `tpm-passkey site github.com require-pin`)");
    }
    for r in rules {
        let what = if r.rule == SiteRule::Block {
            "blocked"
        } else {
            "always asks for the PIN"
        };
        println!("{:<32} {what}", r.rp_id);
    }
    Ok(())
}

pub fn set(args: &SiteArgs) -> CliResult {
    let mut client = args.conn.client()?;
    let rule = match args.rule {
        Rule::Block => Some(SiteRule::Block),
        Rule::RequirePin => Some(SiteRule::RequirePin),
        Rule::None => None,
    };
    // Only weakening needs the PIN; ask for it then.
    let pin = if rule != Some(SiteRule::Block) {
        let DaemonMessage::SiteRules { rules } = client.call(&ClientMessage::ListSiteRules)? else {
            return Err("unexpected answer from the daemon".into());
        };
        let had = rules
            .iter()
            .any(|r| r.rp_id == args.rp_id.to_ascii_lowercase());
        if had {
            pin_if_set(&mut client, &args.pin)?
        } else {
            None
        }
    } else {
        None
    };
    client.call(&ClientMessage::SetSiteRule {
        rp_id: args.rp_id.clone(),
        rule,
        pin,
    })?;
    println!(
        "{}: {}",
        args.rp_id,
        match args.rule {
            Rule::Block => "blocked",
            Rule::RequirePin => "always asks for the PIN",
            Rule::None => "no rule",
        }
    );
    Ok(())
}
