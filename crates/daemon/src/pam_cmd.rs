//! `tpm-passkey pam enroll | remove`: login and sudo with the authenticator, through the
//! pam_u2f module Debian ships (libpam-u2f).
//!
//! Debian 12's `pamu2fcfg` (1.1.0) cannot enrol us: it verifies the attestation with
//! `fido_cred_verify`, which needs an x5c, and our packed self-attestation has none (the
//! credential key signs for itself). So enrolment does not go through pamu2fcfg: the daemon
//! makes the credential (the user approves with the PIN, the key is bound to the PIN in the
//! TPM), and this writes the authfile line pam_u2f reads — `user:keyHandle,publicKey,es256,
//! +presence+verification` (pam_u2f's own format) — then prints the PAM line to add.
//! `remove` takes out exactly the entries this authenticator made.

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use tpm_passkey_core::ipc::{ClientMessage, DaemonMessage};

use crate::cli::{CliResult, Conn};

#[derive(Debug, Subcommand)]
pub enum PamCommand {
    /// Make a credential for login and sudo, add it to pam_u2f's authfile, and print the
    /// PAM line to add.
    Enroll(PamArgs),
    /// Take this authenticator's credentials out of pam_u2f's authfile.
    Remove(PamArgs),
}

#[derive(Debug, Args)]
pub struct PamArgs {
    #[command(flatten)]
    conn: Conn,
    /// The login name [default: the current user].
    #[arg(long)]
    user: Option<String>,
    /// pam_u2f's origin and appid [default: pam://HOSTNAME, as pam_u2f uses].
    #[arg(long)]
    origin: Option<String>,
    /// pam_u2f's authfile [default: $XDG_CONFIG_HOME/Yubico/u2f_keys, where pam_u2f looks].
    #[arg(long)]
    authfile: Option<PathBuf>,
}

/// pam_u2f's authfile options for our credentials: user presence and verification (the
/// PIN, checked by the TPM) on every login.
const OPTIONS: &str = "+presence+verification";

fn hostname() -> String {
    rustix::system::uname()
        .nodename()
        .to_string_lossy()
        .into_owned()
}

fn current_user() -> CliResult<String> {
    if let Some(u) = std::env::var_os("USER").and_then(|u| u.into_string().ok()) {
        return Ok(u);
    }
    let uid = rustix::process::getuid().as_raw().to_string();
    let passwd = std::fs::read_to_string("/etc/passwd")?;
    passwd
        .lines()
        .find_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f.get(2) == Some(&uid.as_str())).then(|| f[0].to_owned())
        })
        .ok_or_else(|| "cannot tell who you are; pass --user".into())
}

fn default_authfile() -> CliResult<PathBuf> {
    let config = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))
        .ok_or("HOME is not set; pass --authfile")?;
    Ok(config.join("Yubico/u2f_keys"))
}

struct Resolved {
    user: String,
    origin: String,
    authfile: PathBuf,
    default_authfile: bool,
}

fn resolve(args: &PamArgs) -> CliResult<Resolved> {
    let default = default_authfile().ok();
    let authfile = match (&args.authfile, &default) {
        (Some(a), _) => a.clone(),
        (None, Some(d)) => d.clone(),
        (None, None) => return Err("HOME is not set; pass --authfile".into()),
    };
    Ok(Resolved {
        user: match &args.user {
            Some(u) => u.clone(),
            None => current_user()?,
        },
        origin: args
            .origin
            .clone()
            .unwrap_or_else(|| format!("pam://{}", hostname())),
        default_authfile: default.as_deref() == Some(authfile.as_path()),
        authfile,
    })
}

/// The authfile with `entry` added to `user`'s line (one line per user, entries separated
/// by ':').
fn with_entry(text: &str, user: &str, entry: &str) -> String {
    let prefix = format!("{user}:");
    let mut found = false;
    let mut out: Vec<String> = text
        .lines()
        .map(|l| {
            if l.starts_with(&prefix) && !found {
                found = true;
                format!("{l}:{entry}")
            } else {
                l.to_owned()
            }
        })
        .collect();
    if !found {
        out.push(format!("{user}:{entry}"));
    }
    out.join("\n") + "\n"
}

fn write_private(path: &Path, text: &str) -> CliResult {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension("tpm-passkey.tmp");
    std::fs::write(&tmp, text)?;
    std::fs::set_permissions(&tmp, std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}

/// The PAM line: pam_u2f, with a cue to approve, for our origin.
fn pam_line(r: &Resolved) -> String {
    let mut line = format!(
        "auth sufficient pam_u2f.so cue origin={} appid={}",
        r.origin, r.origin
    );
    if !r.default_authfile {
        line.push_str(&format!(" authfile={}", r.authfile.display()));
    }
    line
}

pub fn run(cmd: &PamCommand) -> CliResult {
    match cmd {
        PamCommand::Enroll(args) => enroll(args),
        PamCommand::Remove(args) => remove(args),
    }
}

fn enroll(args: &PamArgs) -> CliResult {
    let r = resolve(args)?;
    eprintln!(
        "tpm-passkey: approve the new credential for {} (login and sudo) with your PIN",
        r.origin
    );
    let answer = args.conn.client()?.call(&ClientMessage::PamEnroll {
        origin: r.origin.clone(),
        user: r.user.clone(),
    })?;
    let DaemonMessage::PamCredential { public_key, .. } = answer else {
        return Err("unexpected answer from the daemon".into());
    };
    let text = std::fs::read_to_string(&r.authfile).unwrap_or_default();
    let entry = format!("*,{public_key},es256,{OPTIONS}");
    write_private(&r.authfile, &with_entry(&text, &r.user, &entry))?;
    println!(
        "added a credential for {} to {}",
        r.user,
        r.authfile.display()
    );
    println!();
    println!("To use it for sudo, add this line to /etc/pam.d/sudo above \"@include common-auth\"");
    println!(
        "(and to your display manager's file, e.g. /etc/pam.d/gdm-password or /etc/pam.d/lightdm,"
    );
    println!("to log in with it):");
    println!();
    println!("    {}", pam_line(&r));
    println!();
    println!(
        "\"sufficient\": the authenticator (approve and type the PIN) is enough, and your password"
    );
    println!(
        "still works without it; \"required\" instead demands both. Keep a root shell open while"
    );
    println!("you try it. To undo: `tpm-passkey pam remove`, then delete that line.");
    Ok(())
}

fn remove(args: &PamArgs) -> CliResult {
    let r = resolve(args)?;
    let text = match std::fs::read_to_string(&r.authfile) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            println!("nothing to remove: {} does not exist", r.authfile.display());
            return Ok(());
        }
        Err(e) => return Err(e.into()),
    };
    // Every public key in the file (an entry is keyHandle,publicKey,coseType,options); the
    // daemon says which are ours.
    let public_key = |e: &str| e.split(',').nth(1).map(str::to_owned);
    let keys: Vec<String> = text
        .lines()
        .filter_map(|l| l.split_once(':').map(|(_, rest)| rest))
        .flat_map(|rest| rest.split(':'))
        .filter_map(public_key)
        .collect();
    let answer = args.conn.client()?.call(&ClientMessage::PamOwned {
        origin: r.origin.clone(),
        public_keys: keys,
    })?;
    let DaemonMessage::PamOwned { ours } = answer else {
        return Err("unexpected answer from the daemon".into());
    };
    let mut removed = 0;
    let kept: Vec<String> = text
        .lines()
        .filter_map(|l| {
            let Some((user, rest)) = l.split_once(':') else {
                return Some(l.to_owned());
            };
            let entries: Vec<&str> = rest
                .split(':')
                .filter(|e| {
                    let mine = public_key(e).is_some_and(|pk| ours.contains(&pk));
                    removed += usize::from(mine);
                    !mine
                })
                .collect();
            (!entries.is_empty()).then(|| format!("{user}:{}", entries.join(":")))
        })
        .collect();
    write_private(
        &r.authfile,
        &(kept.join("\n") + if kept.is_empty() { "" } else { "\n" }),
    )?;
    println!(
        "removed {removed} credential(s) of this authenticator from {}; now delete the pam_u2f line you added to /etc/pam.d",
        r.authfile.display()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_join_the_users_line_and_other_users_stay() {
        let t = with_entry("", "alice", "kh1,pk1,es256,+presence");
        assert_eq!(t, "alice:kh1,pk1,es256,+presence\n");
        let t = with_entry(&t, "alice", "kh2,pk2,es256,+presence");
        assert_eq!(t, "alice:kh1,pk1,es256,+presence:kh2,pk2,es256,+presence\n");
        let t = with_entry(&t, "bob", "kh3,pk3,es256,+presence");
        assert_eq!(t.lines().count(), 2);
    }
}
