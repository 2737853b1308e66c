//! The management commands: `status`, `list`, `delete`, `pin set|change`, `settings`,
//! `reset` (`audit` is in `audit_cmd`). Each talks to the running daemon over the control socket; read
//! commands take `--json`.

use std::path::PathBuf;

use std::time::Duration;

use clap::{Args, Subcommand};
use tpm_passkey_core::ipc::{
    control_path, Client, ClientMessage, DaemonMessage, ErrorKind, Pin, PinProtection, TpmHealth,
};

use crate::tpm_choice::SIMULATED_WARNING;

pub type CliResult<T = ()> = Result<T, Box<dyn std::error::Error>>;

/// How long the CLI waits for one answer (a request that prompts the user, like the test
/// sign-in, waits for the prompt's own deadline first).
/// How long the CLI waits for an answer. The daemon bounds every request itself (its
/// prompts, its TPM deadline) and answers, if only to say it gave up; this is a backstop
/// far beyond that, so that the CLI never reports a failure for work that then succeeds.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(600);

#[derive(Debug, Args)]
pub struct Conn {
    /// Control socket [default: $XDG_RUNTIME_DIR/tpm-passkey/control.sock].
    #[arg(long, global = true)]
    control: Option<PathBuf>,
}

impl Conn {
    pub fn client(&self) -> CliResult<Client> {
        Ok(Client::connect(
            &control_path(self.control.as_deref())?,
            Some(ANSWER_TIMEOUT),
        )?)
    }
}

#[derive(Debug, Args)]
pub struct ReadArgs {
    #[command(flatten)]
    pub conn: Conn,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct PinSource {
    /// Read the PIN from the first line of FILE instead of asking.
    #[arg(long, value_name = "FILE")]
    pin_file: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct DeleteArgs {
    #[command(flatten)]
    conn: Conn,
    #[command(flatten)]
    pin: PinSource,
    /// The passkey's id, as `tpm-passkey list` shows it (a unique prefix is enough).
    id: String,
}

#[derive(Debug, Subcommand)]
pub enum PinCommand {
    /// Set the first PIN.
    Set {
        #[command(flatten)]
        conn: Conn,
        /// Read the new PIN from FILE.
        #[arg(long, value_name = "FILE")]
        new_pin_file: Option<PathBuf>,
    },
    /// Change the PIN (the TPM checks the current one).
    Change {
        #[command(flatten)]
        conn: Conn,
        #[command(flatten)]
        pin: PinSource,
        /// Read the new PIN from FILE.
        #[arg(long, value_name = "FILE")]
        new_pin_file: Option<PathBuf>,
    },
}

#[derive(Debug, Args)]
pub struct SettingsArgs {
    #[command(flatten)]
    conn: Conn,
    #[command(flatten)]
    pin: PinSource,
    /// Require user verification (the PIN) for every passkey: on or off.
    #[arg(long, value_parser = ["on", "off"])]
    always_uv: Option<String>,
    /// Minimum PIN length (can only go up).
    #[arg(long)]
    min_pin_length: Option<u8>,
    /// Approval-fatigue defence (refuse prompts unseen for a cool-down after too many
    /// unanswered ones): on or off. Off, or any limit less strict, needs the PIN.
    #[arg(long, value_parser = ["on", "off"])]
    prompt_limits: Option<String>,
    /// Prompts for one site not approved within --prompt-window that start a cool-down
    /// (0: no per-site limit).
    #[arg(long)]
    prompts_per_site: Option<u32>,
    /// The window, in seconds, in which --prompts-per-site are counted.
    #[arg(long)]
    prompt_window: Option<u64>,
    /// Denials in a row (any site) that start a cool-down for every site (0: no limit).
    #[arg(long)]
    denials_in_a_row: Option<u32>,
    /// How long a cool-down lasts, in seconds.
    #[arg(long)]
    cooldown: Option<u64>,
    /// End the cool-downs in force now (needs the PIN).
    #[arg(long)]
    lift_cooldowns: bool,
    /// Step-up by risk (the PIN even where a site asks only for presence, when it has not
    /// been typed for --uv-max-age or the site is new here): on or off. Off or looser needs
    /// the PIN. Matters only with --always-uv off.
    #[arg(long, value_parser = ["on", "off"])]
    step_up: Option<String>,
    /// The longest time, in seconds, between PIN checks before presence alone is not enough.
    #[arg(long)]
    uv_max_age: Option<u64>,
    /// Ask for the PIN at a site's first ceremony here: on or off.
    #[arg(long, value_parser = ["on", "off"])]
    new_site_pin: Option<String>,
}

#[derive(Debug, Args)]
pub struct ResetArgs {
    #[command(flatten)]
    conn: Conn,
    #[command(flatten)]
    pin: PinSource,
    /// Confirm that every passkey and the PIN are to be erased, for good.
    #[arg(long)]
    yes: bool,
    /// The PIN is forgotten (or blocked): erase without it. Recorded in the activity log.
    #[arg(long)]
    forgotten_pin: bool,
}

/// A PIN from `file`, else typed at the terminal without echo.
pub fn read_pin(file: Option<&PathBuf>, prompt: &str) -> CliResult<Pin> {
    match file {
        Some(f) => {
            let mut text = std::fs::read_to_string(f)
                .map_err(|e| format!("cannot read {}: {e}", f.display()))?;
            let pin = Pin::new(text.lines().next().unwrap_or("").to_owned());
            zeroize::Zeroize::zeroize(&mut text);
            Ok(pin)
        }
        None => rpassword::prompt_password(prompt)
            .map(Pin::new)
            .map_err(|e| {
                format!("cannot read a PIN from the terminal ({e}); use --pin-file").into()
            }),
    }
}

/// The PIN when the daemon says one is set, for actions that lower protection.
pub fn pin_if_set(client: &mut Client, source: &PinSource) -> CliResult<Option<Pin>> {
    match client.call(&ClientMessage::Status)? {
        DaemonMessage::Status(s) if s.pin_set => {
            Ok(Some(read_pin(source.pin_file.as_ref(), "PIN: ")?))
        }
        _ => Ok(None),
    }
}

pub fn print_json(v: &impl serde::Serialize) -> CliResult {
    println!("{}", serde_json::to_string_pretty(v)?);
    Ok(())
}

/// "2026-11-22 23:01" (UTC) from Unix seconds.
pub fn utc(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60
    )
}

pub fn status(args: &ReadArgs) -> CliResult {
    let DaemonMessage::Status(s) = args.conn.client()?.call(&ClientMessage::Status)? else {
        return Err("unexpected answer from the daemon".into());
    };
    if args.json {
        return print_json(&s);
    }
    if s.simulated {
        println!("WARNING: {SIMULATED_WARNING}");
    }
    let pin = match (s.pin_set, s.pin_retries) {
        (false, _) if s.pin_protection == PinProtection::Lost => {
            format!("LOST: {}", PinProtection::Lost.explain())
        }
        (false, _) => "not set (`tpm-passkey pin set`)".to_owned(),
        (true, _) if s.pin_auth_blocked => {
            "paused after 3 wrong PINs: restart the daemon (`systemctl --user restart tpm-passkey`)"
                .to_owned()
        }
        (true, Some(n)) => format!("set, {n} attempts left"),
        (true, None) => "set".to_owned(),
    };
    println!("daemon     running");
    match s.tpm {
        TpmHealth::Ready => println!("TPM        {}", s.tcti),
        other => println!("TPM        {} — {}", s.tcti, other.explain()),
    }
    println!("path       {}", s.path.explain());
    println!("PIN        {pin}");
    if s.pin_protection == PinProtection::Legacy {
        println!(
            "WARNING: the PIN's protection is the {}",
            PinProtection::Legacy.explain()
        );
    }
    if s.pin_protection == PinProtection::Sealed {
        println!("NOTE: the PIN is {}", PinProtection::Sealed.explain());
    }
    println!("passkeys   {}", s.credentials);
    println!("always UV  {}", if s.always_uv { "on" } else { "off" });
    println!("min PIN    {}", s.min_pin_length);
    let f = &s.fatigue;
    if f.enabled {
        println!(
            "prompts    refused for {} s after {} not approved for a site in {} s, or {} denials in a row",
            f.cooldown_secs, f.unapproved_per_site, f.window_secs, f.denials_in_a_row
        );
    } else {
        println!("prompts    no limit (approval-fatigue defence off)");
    }
    let st = &s.step_up;
    if st.enabled {
        println!(
            "step-up    the PIN if not typed for {} s{}",
            st.uv_max_age_secs,
            if st.new_sites {
                ", and at a site's first ceremony"
            } else {
                ""
            }
        );
    } else {
        println!("step-up    off");
    }
    for c in &s.cooldowns {
        println!(
            "COOL-DOWN  {}: {} ({} s left; `tpm-passkey settings --lift-cooldowns` ends it)",
            c.site
                .as_deref()
                .filter(|s| !s.is_empty())
                .unwrap_or("every site"),
            c.reason,
            c.seconds_left
        );
    }
    let agent = match &s.agent_info {
        Some(a) => format!(
            "{} connected (pid {})",
            a.name.as_deref().unwrap_or("an agent"),
            a.pid.map_or("?".into(), |p| p.to_string())
        ),
        None => "no app connected: requests will time out".into(),
    };
    println!("approvals  {agent}");
    Ok(())
}

pub fn list(args: &ReadArgs) -> CliResult {
    let DaemonMessage::Passkeys { passkeys } =
        args.conn.client()?.call(&ClientMessage::ListPasskeys)?
    else {
        return Err("unexpected answer from the daemon".into());
    };
    if args.json {
        return print_json(&passkeys);
    }
    if passkeys.is_empty() {
        println!("no passkeys yet: sign up on a website and choose \"passkey\", or use `tpm-passkey status` to check the setup");
        return Ok(());
    }
    let rows: Vec<[String; 5]> = passkeys
        .iter()
        .map(|p| {
            let user = match (&p.user_name, &p.user_display_name) {
                (Some(n), Some(d)) if n != d => format!("{n} ({d})"),
                (Some(n), _) => n.clone(),
                (None, Some(d)) => d.clone(),
                (None, None) => "-".into(),
            };
            [
                p.rp_id.clone(),
                user,
                utc(p.created),
                p.last_used.map_or("never".into(), utc),
                p.id[..16].to_owned(),
            ]
        })
        .collect();
    let header = ["SITE", "USER", "CREATED (UTC)", "LAST USED", "ID"];
    let widths: Vec<usize> = (0..5)
        .map(|i| {
            rows.iter()
                .map(|r| r[i].chars().count())
                .chain([header[i].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: [&str; 5]| {
        let mut out = String::new();
        for (i, c) in cells.iter().enumerate() {
            out.push_str(&format!("{c:<w$}  ", w = widths[i]));
        }
        println!("{}", out.trim_end());
    };
    line(header);
    for r in &rows {
        line([&r[0], &r[1], &r[2], &r[3], &r[4]]);
    }
    Ok(())
}

pub fn delete(args: &DeleteArgs) -> CliResult {
    let mut client = args.conn.client()?;
    let DaemonMessage::Passkeys { passkeys } = client.call(&ClientMessage::ListPasskeys)? else {
        return Err("unexpected answer from the daemon".into());
    };
    let wanted = args.id.to_ascii_lowercase();
    let matches: Vec<_> = passkeys
        .iter()
        .filter(|p| p.id.starts_with(&wanted))
        .collect();
    let target = match matches.as_slice() {
        [one] => *one,
        [] => {
            return Err(format!("no passkey with id {} (see `tpm-passkey list`)", args.id).into())
        }
        _ => {
            return Err(format!(
                "{} passkeys start with {}; give more of the id",
                matches.len(),
                args.id
            )
            .into())
        }
    };
    let pin = pin_if_set(&mut client, &args.pin)?;
    client.call(&ClientMessage::DeletePasskey {
        id: target.id.clone(),
        pin,
    })?;
    println!(
        "deleted the passkey for {} ({})",
        target.rp_id,
        target.user_name.as_deref().unwrap_or("-")
    );
    Ok(())
}

pub fn pin(cmd: &PinCommand) -> CliResult {
    match cmd {
        PinCommand::Set { conn, new_pin_file } => {
            let pin = read_pin(new_pin_file.as_ref(), "New PIN: ")?;
            if new_pin_file.is_none() && read_pin(None, "New PIN again: ")? != pin {
                return Err("the two PINs differ; nothing changed".into());
            }
            conn.client()?.call(&ClientMessage::SetPin { pin })?;
            println!("PIN set: the TPM now enforces it");
        }
        PinCommand::Change {
            conn,
            pin,
            new_pin_file,
        } => {
            let old = read_pin(pin.pin_file.as_ref(), "Current PIN: ")?;
            let new = read_pin(new_pin_file.as_ref(), "New PIN: ")?;
            conn.client()?
                .call(&ClientMessage::ChangePin { old, new })?;
            println!("PIN changed");
        }
    }
    Ok(())
}

pub fn settings(args: &SettingsArgs) -> CliResult {
    let mut client = args.conn.client()?;
    let DaemonMessage::Status(status) = client.call(&ClientMessage::Status)? else {
        return Err("unexpected answer from the daemon".into());
    };
    let always_uv = args.always_uv.as_deref().map(|v| v == "on");
    // The PIN, when one is set (from the status above, not asked for again).
    let pin = |pin_set: bool| -> CliResult<Option<Pin>> {
        pin_set
            .then(|| read_pin(args.pin.pin_file.as_ref(), "PIN: "))
            .transpose()
    };
    if always_uv.is_some() || args.min_pin_length.is_some() {
        let pin = if always_uv == Some(false) {
            pin(status.pin_set)?
        } else {
            None
        };
        client.call(&ClientMessage::SetSettings {
            always_uv,
            min_pin_length: args.min_pin_length,
            pin,
        })?;
    }
    let old = status.fatigue;
    let limits = tpm_passkey_core::ipc::FatigueLimits {
        enabled: args
            .prompt_limits
            .as_deref()
            .map_or(old.enabled, |v| v == "on"),
        unapproved_per_site: args.prompts_per_site.unwrap_or(old.unapproved_per_site),
        window_secs: args.prompt_window.unwrap_or(old.window_secs),
        denials_in_a_row: args.denials_in_a_row.unwrap_or(old.denials_in_a_row),
        cooldown_secs: args.cooldown.unwrap_or(old.cooldown_secs),
    };
    // Only a stricter change goes without the PIN; the daemon decides, so the PIN is asked
    // for when the daemon says it is needed.
    if limits != old {
        call_asking_pin_if_needed(
            &mut client,
            |p| ClientMessage::SetFatigueLimits { limits, pin: p },
            || pin(status.pin_set),
        )?;
    }
    let old = status.step_up;
    let step_up = tpm_passkey_core::ipc::StepUp {
        enabled: args.step_up.as_deref().map_or(old.enabled, |v| v == "on"),
        uv_max_age_secs: args.uv_max_age.unwrap_or(old.uv_max_age_secs),
        new_sites: args
            .new_site_pin
            .as_deref()
            .map_or(old.new_sites, |v| v == "on"),
    };
    if step_up != old {
        call_asking_pin_if_needed(
            &mut client,
            |p| ClientMessage::SetStepUp { step_up, pin: p },
            || pin(status.pin_set),
        )?;
    }
    if args.lift_cooldowns {
        let pin = pin(status.pin_set)?;
        client.call(&ClientMessage::LiftCooldowns { pin })?;
        println!("cool-downs lifted: prompts are shown again");
    }
    println!("settings saved");
    Ok(())
}

/// Sends `message(None)`; when the daemon refuses because the PIN was not given, sends
/// `message(pin())` instead.
fn call_asking_pin_if_needed(
    client: &mut tpm_passkey_core::ipc::Client,
    message: impl Fn(Option<Pin>) -> ClientMessage,
    pin: impl FnOnce() -> CliResult<Option<Pin>>,
) -> CliResult {
    match client.call(&message(None)) {
        Err(e) if e.refusal_kind() == Some(ErrorKind::PinRequired) => {
            client.call(&message(pin()?))?;
        }
        other => {
            other?;
        }
    }
    Ok(())
}

pub fn reset(args: &ResetArgs) -> CliResult {
    if !args.yes {
        return Err(
            "reset erases every passkey and the PIN, for good; run again with --yes to confirm"
                .into(),
        );
    }
    let mut client = args.conn.client()?;
    if args.forgotten_pin {
        client.call(&ClientMessage::ResetForgottenPin {
            confirm: tpm_passkey_core::ipc::FORGOTTEN_PIN_PHRASE.into(),
        })?;
        println!(
            "erased without the PIN: every passkey and the PIN are gone (see docs/RECOVERY.md)"
        );
        return Ok(());
    }
    let pin = pin_if_set(&mut client, &args.pin)?;
    client.call(&ClientMessage::Reset { pin })?;
    println!("erased: every passkey and the PIN are gone");
    Ok(())
}

#[derive(Debug, Args)]
pub struct PruneArgs {
    #[command(flatten)]
    conn: Conn,
    /// Confirm the removal of the passkeys this TPM cannot use.
    #[arg(long)]
    yes: bool,
}

/// `tpm-passkey prune`: removes the passkeys this TPM refuses (it was cleared or replaced,
/// or their PIN index is gone).
pub fn prune(args: &PruneArgs) -> CliResult {
    let mut client = args.conn.client()?;
    if !args.yes {
        let DaemonMessage::Status(s) = client.call(&ClientMessage::Status)? else {
            return Err("unexpected answer from the daemon".into());
        };
        println!("TPM: {}", s.tpm.explain());
        return Err("prune removes, for good, every passkey this TPM cannot use; run again with --yes to confirm".into());
    }
    match client.call(&ClientMessage::PruneDeadPasskeys)? {
        DaemonMessage::Pruned { removed } => {
            println!("removed {removed} passkey(s) this TPM cannot use");
            Ok(())
        }
        _ => Err("unexpected answer from the daemon".into()),
    }
}

/// `tpm-passkey test-sign-in`: the built-in relying party registers and signs in (approve
/// both prompts in the app), and the signature is verified.
pub fn test_sign_in(conn: &Conn) -> CliResult {
    conn.client()?.call(&ClientMessage::TestSignIn)?;
    println!(
        "test sign-in passed: a passkey for {} was made in the TPM, signed in, and its signature verified",
        crate::demo::DEMO_RP
    );
    Ok(())
}
