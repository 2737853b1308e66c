//! `tpm-passkey daemon`: the TPM, the engine thread, the control socket and the HID
//! transports, until SIGTERM or SIGINT.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use tpm_passkey_hid::socket::SocketTransport;
use tpm_passkey_hid::uhid::{Target, UhidTransport, HELPER_SOCKET};

use crate::agent_hub::{AgentHub, Launcher};
use crate::cli::CliResult;
use crate::control::ControlServer;
use crate::engine_thread::{EngineConfig, EngineHandle};
use crate::tpm_choice::{TpmSelect, SIMULATED_WARNING};

#[derive(Debug, Args)]
pub struct DaemonArgs {
    #[command(flatten)]
    select: TpmSelect,
    /// HID back end: `uhid` (a virtual USB FIDO device, the default: /dev/uhid when it may
    /// be opened, else through the uhid helper), `uhid:PATH` (that uhid device),
    /// `uhid-helper[:PATH]` (the privileged helper's socket), or `socket:PATH` (a
    /// SOCK_SEQPACKET socket, one datagram per 64-byte report). May be given more than once.
    #[arg(long = "hid", value_name = "BACKEND")]
    hid: Vec<String>,
    /// Control socket [default: $XDG_RUNTIME_DIR/tpm-passkey/control.sock].
    #[arg(long)]
    control: Option<PathBuf>,
    /// How long a prompt waits for the user before the request fails.
    #[arg(long, default_value_t = 30)]
    prompt_timeout_secs: u64,
    /// Start APP when a request needs approval and no approval agent is connected: by
    /// default the approval window, tpm-passkey-prompt (beside this binary, else on PATH),
    /// which shows the request and exits once idle. The systemd unit sets it.
    #[arg(long, value_name = "APP", num_args = 0..=1, default_missing_value = "tpm-passkey-prompt")]
    start_app: Option<PathBuf>,
    /// The longest one TPM operation may take before the daemon cuts the connection,
    /// answers "TPM unreachable" and reconnects.
    #[arg(long, default_value_t = tpm_passkey_tpm::DEFAULT_DEADLINE.as_millis() as u64)]
    tpm_deadline_ms: u64,
    /// Accept the credential store as it is although its seal says it was restored, rolled
    /// back or edited (docs/RECOVERY.md): it is sealed anew, and passkeys deleted since the
    /// copy was made are back. Audited. What the PIN protects (a protection loosened or a
    /// passkey deleted with it) is accepted only with the PIN: `--pin-file`, or typed here
    /// when run from a terminal.
    #[arg(long)]
    accept_restored_store: bool,
    /// With --accept-restored-store: read the PIN from FILE.
    #[arg(long, value_name = "FILE", requires = "accept_restored_store")]
    pin_file: Option<PathBuf>,
}

/// The PIN for accepting a store: from --pin-file, else typed when stdin is a terminal, else
/// none (the start then says that accepting needs it).
fn accept_pin(args: &DaemonArgs) -> CliResult<Option<tpm_passkey_core::PinHash>> {
    use std::io::IsTerminal;
    if !args.accept_restored_store {
        return Ok(None);
    }
    let pin = match &args.pin_file {
        Some(f) => crate::cli::read_pin(Some(f), "")?,
        None if std::io::stdin().is_terminal() => crate::cli::read_pin(
            None,
            "PIN (accepting what was changed without it needs it; Enter to skip): ",
        )?,
        None => return Ok(None),
    };
    if pin.expose_secret().is_empty() {
        return Ok(None);
    }
    Ok(Some(tpm_passkey_core::PinHash::from_pin(
        pin.expose_secret(),
    )))
}

/// `tpm-passkey-prompt` → the one beside our own binary when it is there.
fn resolve_app(app: &std::path::Path) -> PathBuf {
    if app.components().count() == 1 {
        if let Some(sibling) = std::env::current_exe()
            .ok()
            .and_then(|e| e.parent().map(|d| d.join(app)))
            .filter(|p| p.is_file())
        {
            return sibling;
        }
    }
    app.to_owned()
}

pub fn run(args: &DaemonArgs) -> Result<(), Box<dyn std::error::Error>> {
    // Same-user processes must not read the PIN hash or tokens out of our memory.
    if let Err(e) =
        rustix::process::set_dumpable_behavior(rustix::process::DumpableBehavior::NotDumpable)
    {
        tracing::warn!(error = %e, "could not make the daemon non-dumpable");
    }
    let control = match &args.control {
        Some(p) => p.clone(),
        None => tpm_passkey_core::ipc::default_control_path()
            .ok_or("XDG_RUNTIME_DIR is not set; pass --control PATH")?,
    };
    let backends = if args.hid.is_empty() {
        vec!["uhid".to_owned()]
    } else {
        args.hid.clone()
    };
    let mut sockets = Vec::new();
    let mut uhids = Vec::new();
    for h in &backends {
        match h.split_once(':') {
            Some(("socket", p)) if !p.is_empty() => sockets.push(PathBuf::from(p)),
            Some(("uhid", p)) if !p.is_empty() => uhids.push(Target::Device(PathBuf::from(p))),
            Some(("uhid-helper", p)) if !p.is_empty() => {
                uhids.push(Target::Helper(PathBuf::from(p)))
            }
            None if h == "uhid" => uhids.push(Target::auto()),
            None if h == "uhid-helper" => uhids.push(Target::Helper(PathBuf::from(HELPER_SOCKET))),
            _ => {
                return Err(format!(
                    "unknown HID back end {h:?}: use uhid, uhid:PATH, uhid-helper[:PATH] or socket:PATH"
                )
                .into())
            }
        }
    }
    // Fail before the TPM and the simulator are started, with advice on how to fix it.
    for target in &uhids {
        target.check()?;
    }
    let state_dir = args.select.state_dir();
    std::fs::create_dir_all(&state_dir)?;
    std::fs::set_permissions(
        &state_dir,
        std::os::unix::fs::PermissionsExt::from_mode(0o700),
    )?;

    let tpm_deadline = Duration::from_millis(args.tpm_deadline_ms.max(100));
    let chosen = args.select.choose(tpm_deadline)?;
    let simulated = chosen.simulator.is_some();
    let simulator = chosen.simulator.map(|s| Arc::new(std::sync::Mutex::new(s)));
    if simulated {
        tracing::warn!("{SIMULATED_WARNING}");
        eprintln!("tpm-passkey: {SIMULATED_WARNING}");
    }
    let hub = Arc::new(AgentHub::default());
    if let Some(app) = &args.start_app {
        hub.set_launcher(Launcher::new(resolve_app(app), control.clone()));
    }
    let started = EngineHandle::spawn(
        EngineConfig {
            tcti: chosen.tcti.clone(),
            simulated,
            simulator: simulator.clone(),
            store_path: state_dir.join("store.sqlite"),
            prompt_timeout: Duration::from_secs(args.prompt_timeout_secs),
            tpm_deadline,
            accept_restored_store: args.accept_restored_store,
            accept_pin: accept_pin(args)?,
        },
        hub.clone(),
    );
    // Why a start failed (a refused store, with what to do) is left where the app and the
    // CLI look when they find no daemon: the journal alone reaches nobody at a desktop.
    let note = tpm_passkey_core::ipc::start_failure_path(&control);
    let engine = match started {
        Ok(engine) => {
            let _ = std::fs::remove_file(&note);
            engine
        }
        Err(e) => {
            if let Some(dir) = note.parent() {
                let _ = std::fs::create_dir_all(dir);
            }
            if let Err(w) = std::fs::write(&note, format!("{e}\n")) {
                tracing::warn!(error = %w, "could not leave the start failure for the app");
            }
            return Err(e.into());
        }
    };
    let control_server = ControlServer::serve(&control, hub, engine.clone())?;
    let mut transports = Vec::new();
    for path in &sockets {
        transports.push(SocketTransport::serve(path, engine.clone())?);
    }
    let mut devices = Vec::new();
    for target in &uhids {
        devices.push(UhidTransport::serve(target, engine.clone())?);
    }
    // SIGTERM and SIGINT are ours before anyone is told we are ready: a stop that follows
    // "ready" at once (systemd, a test) is a clean stop, not the default action's death.
    let mut signals = signal_hook::iterator::Signals::new([
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGINT,
    ])?;
    eprintln!("tpm-passkey: ready (control {})", control.display());

    // Sleep until SIGTERM or SIGINT: no polling while idle.
    let _ = signals.forever().next();
    tracing::info!("stopping");
    drop(devices);
    drop(transports);
    drop(control_server);
    engine.shutdown();
    drop(simulator);
    Ok(())
}
