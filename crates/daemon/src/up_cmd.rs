//! `tpm-passkey up`: the product in one command, for a newcomer (the README's first
//! command ends here). It starts the authenticator — on the TPM, or the embedded swtpm when
//! there is none, saying so — as a virtual USB security key when the machine allows it,
//! else on the socket transport with the one install step that fixes it; then an approval
//! agent: the app when there is a display, this terminal when there is not. With no PIN yet
//! it asks for one, then runs the test sign-in, and stays up until Ctrl-C.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use clap::Args;
use tpm_passkey_core::ipc::{Client, ClientMessage, DaemonMessage, Pin};
use tpm_passkey_hid::uhid::Target;

use crate::cli::CliResult;

#[derive(Debug, Args)]
pub struct UpArgs {
    /// Use the embedded software TPM (swtpm) even if a hardware TPM is present.
    #[arg(long)]
    simulator: bool,
    /// Where state is kept [default: $XDG_DATA_HOME/tpm-passkey].
    #[arg(long)]
    state_dir: Option<PathBuf>,
    /// Control socket [default: $XDG_RUNTIME_DIR/tpm-passkey/control.sock].
    #[arg(long)]
    control: Option<PathBuf>,
    /// Approve on this terminal even when a display is available.
    #[arg(long)]
    terminal: bool,
    /// Do not run the test sign-in.
    #[arg(long)]
    no_test: bool,
    /// The uhid device to try (tests point it elsewhere).
    #[arg(long, hide = true, default_value = "/dev/uhid")]
    uhid: PathBuf,
    /// The uhid helper's socket to try.
    #[arg(long, hide = true, default_value = tpm_passkey_hid::uhid::HELPER_SOCKET)]
    uhid_helper: PathBuf,
}

/// The daemon we started; stopped (SIGTERM, as systemd does) when `up` ends.
struct Started(Child);

impl Drop for Started {
    fn drop(&mut self) {
        if let Ok(pid) = i32::try_from(self.0.id()) {
            if let Some(pid) = rustix::process::Pid::from_raw(pid) {
                let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
            }
        }
        let _ = self.0.wait();
    }
}

fn runtime_dir() -> PathBuf {
    match std::env::var_os("XDG_RUNTIME_DIR") {
        Some(d) => PathBuf::from(d),
        None => std::env::temp_dir().join(format!(
            "tpm-passkey-{}",
            rustix::process::getuid().as_raw()
        )),
    }
}

/// The HID back end to use — /dev/uhid if we may open it, else the helper if it is
/// installed, else the socket transport — and what to tell the user about the fallback.
fn hid_choice(device: &Path, helper: &Path, socket: &Path) -> (String, Option<String>) {
    if Target::Device(device.to_owned()).check().is_ok() {
        return (format!("uhid:{}", device.display()), None);
    }
    match Target::Helper(helper.to_owned()).check() {
        Ok(()) => (format!("uhid-helper:{}", helper.display()), None),
        Err(_) => (
            format!("socket:{}", socket.display()),
            Some(format!(
                "no virtual USB security key yet: {} cannot be opened by you and the uhid helper is not installed ({} is missing).\n  One-time fix: `cargo build --release -p tpm-passkey && sudo contrib/install.sh` (installs the uhid helper and the udev rule; docs/INSTALL.md), then run this again.\n  Until then the authenticator runs on a local socket: the test sign-in works, browsers cannot see it.",
                device.display(),
                helper.display()
            )),
        ),
    }
}

fn wait_for_daemon(control: &Path, daemon: &mut Child) -> CliResult<Client> {
    let until = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(c) = Client::connect(control, Some(Duration::from_secs(120))) {
            return Ok(c);
        }
        if let Ok(Some(status)) = daemon.try_wait() {
            return Err(format!("the daemon stopped ({status}); its messages are above").into());
        }
        if Instant::now() > until {
            return Err("the daemon did not start within a minute".into());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn has_display() -> bool {
    std::env::var_os("DISPLAY").is_some() || std::env::var_os("WAYLAND_DISPLAY").is_some()
}

/// `name` beside this binary (`cargo build --release -p tpm-passkey-app` puts the app and
/// the approval window there).
fn beside_us(name: &str) -> Option<PathBuf> {
    let app = std::env::current_exe().ok()?.parent()?.join(name);
    app.is_file().then_some(app)
}

fn app_binary() -> Option<PathBuf> {
    beside_us("tpm-passkey-app")
}

fn ask_new_pin() -> CliResult<Pin> {
    loop {
        let a = rpassword::prompt_password("Choose a PIN (at least 4 characters): ")?;
        let b = rpassword::prompt_password("The same PIN again: ")?;
        if a == b && a.chars().count() >= 4 {
            return Ok(Pin::new(a));
        }
        eprintln!("The two did not match, or the PIN is shorter than 4 characters; again.");
    }
}

pub fn run(args: &UpArgs) -> CliResult {
    let run_dir = runtime_dir().join("tpm-passkey");
    std::fs::create_dir_all(&run_dir)?;
    let control = args
        .control
        .clone()
        .unwrap_or_else(|| run_dir.join("control.sock"));
    let exe = std::env::current_exe()?;

    // The approval agent: the app on a desktop, else this terminal.
    let use_app = !args.terminal && has_display();
    let app_path = app_binary().filter(|_| use_app);

    let mut started = None;
    let mut client = match Client::connect(&control, Some(Duration::from_secs(120))) {
        Ok(c) => {
            eprintln!("tpm-passkey: the authenticator is already running");
            c
        }
        Err(_) => {
            let (hid, advice) =
                hid_choice(&args.uhid, &args.uhid_helper, &run_dir.join("hid.sock"));
            if let Some(a) = &advice {
                eprintln!("tpm-passkey: {a}");
            }
            // The daemon dies with us even on Ctrl-C (parent-death signal), and says only
            // what matters on this terminal unless asked for more.
            let mut cmd = if Path::new("/usr/bin/setpriv").exists() {
                let mut c = Command::new("/usr/bin/setpriv");
                c.args(["--pdeathsig", "TERM", "--"]).arg(&exe);
                c
            } else {
                Command::new(&exe)
            };
            if std::env::var_os("TPM_PASSKEY_LOG").is_none() {
                cmd.env("TPM_PASSKEY_LOG", "warn");
            }
            cmd.args(["daemon", "--hid", &hid, "--control"])
                .arg(&control);
            if args.simulator {
                cmd.arg("--simulator");
            }
            if let Some(d) = &args.state_dir {
                cmd.arg("--state-dir").arg(d);
            }
            // The app exits once idle (DESIGN.md "The app"); after that the daemon starts
            // the approval window for each request (the app where there is no window
            // binary), as the installed unit does.
            if let Some(window) = app_path
                .as_ref()
                .and_then(|_| beside_us("tpm-passkey-prompt"))
                .or_else(|| app_path.clone())
            {
                cmd.arg("--start-app").arg(window);
            }
            let mut child = cmd.stdin(Stdio::null()).spawn()?;
            let c = wait_for_daemon(&control, &mut child)?;
            started = Some(Started(child));
            c
        }
    };

    let app = match (use_app, app_path) {
        (true, Some(app)) => {
            eprintln!(
                "tpm-passkey: requests are approved in the app ({})",
                app.display()
            );
            Some(
                Command::new(app)
                    .env("TPM_PASSKEY_CONTROL", &control)
                    .stdin(Stdio::null())
                    .spawn()?,
            )
        }
        (true, None) => {
            eprintln!("tpm-passkey: there is a display but no app beside this binary (`cargo build --release -p tpm-passkey-app`); approving on this terminal");
            None
        }
        _ => None,
    };

    let status = match client.call(&ClientMessage::Status)? {
        DaemonMessage::Status(s) => s,
        _ => return Err("unexpected answer from the daemon".into()),
    };
    eprintln!("tpm-passkey: TPM: {}", status.path.explain());
    if app.is_none() {
        if !status.pin_set {
            eprintln!("tpm-passkey: no PIN yet. The TPM will enforce it: 8 wrong tries and the passkeys are gone.");
            client.call(&ClientMessage::SetPin {
                pin: ask_new_pin()?,
            })?;
        }
        // The test sign-in runs on its own connection while this terminal approves.
        if !args.no_test {
            let control2 = control.clone();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(300));
                let result = Client::connect(&control2, Some(Duration::from_secs(180)))
                    .and_then(|mut c| c.call(&ClientMessage::TestSignIn));
                match result {
                    Ok(_) => eprintln!("\ntpm-passkey: test sign-in passed: a passkey was made in the TPM, signed in, and its signature verified. Ready for your browser (Ctrl-C stops)."),
                    Err(e) => eprintln!("\ntpm-passkey: the test sign-in did not pass: {e}"),
                }
            });
            eprintln!("tpm-passkey: running the test sign-in: approve its two requests below");
        }
        drop(client);
        let result = crate::terminal_agent::run(&control, false);
        drop(started);
        return result;
    }
    eprintln!("tpm-passkey: up; the app runs the setup and the test sign-in. Ctrl-C stops.");
    let mut signals = signal_hook::iterator::Signals::new([
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGINT,
    ])?;
    let _ = signals.forever().next();
    if let Some(mut a) = app {
        let _ = a.kill();
        let _ = a.wait();
    }
    drop(started);
    Ok(())
}
