//! `tpm-passkey-prompt`: the approval window the daemon starts when a request needs a person
//! and no agent is registered (`tpm-passkey daemon --start-app tpm-passkey-prompt`, as the
//! user unit runs it).
//!
//! It is a plain GTK 3 window and does not link WebKit: started for a request, it paints it
//! in ~0.1 s and uses ~30 MB only while it is up; nothing stays resident between requests
//! (docs/PERFORMANCE.md "The app"; docs/DESIGN.md "The app", "The approval window"). It
//! registers on the control socket as the `prompt` agent, shows each request in the daemon's
//! own words (`Prompt::wording`, as the app and the terminal agent do), sends the answer,
//! and exits a few seconds after the last request is settled. The app (`tpm-passkey-app`)
//! stays the place to enrol and manage passkeys; while it runs it is the agent itself.
#![forbid(unsafe_code)]

mod queue;
mod window;

use std::cell::RefCell;
use std::os::unix::net::UnixStream;
use std::rc::Rc;
use std::time::{Duration, Instant};

use gtk::glib;
use gtk::prelude::*;
use tpm_passkey_ipc::{
    send_on, AgentKind, AgentNoticeKind, Client, ClientError, ClientMessage, DaemonMessage, Pin,
};

use queue::{Queue, Waiting};
use window::Ui;

/// The window exits this long after its last request was settled (or after it started, if
/// the request it was started for was gone by then). A request that follows at once — a
/// browser asking for a PIN token and then for the credential — finds it still up.
const LINGER: Duration = Duration::from_secs(3);

/// Approve does nothing for this long after a request is drawn: the window comes up on
/// top and takes the keyboard, so an Enter meant for another window must not approve
/// (as browsers delay the buttons of their permission dialogs).
const ARM_DELAY: Duration = Duration::from_millis(500);

/// The arming delay: [`ARM_DELAY`], or longer where `TPM_PASSKEY_PROMPT_ARM_MS` asks for
/// more (never shorter). The UI e2e lengthens it so that its too-early Enter is certainly
/// inside the delay on a loaded machine.
fn arm_delay() -> Duration {
    arm_delay_from(std::env::var("TPM_PASSKEY_PROMPT_ARM_MS").ok().as_deref())
}

fn arm_delay_from(ms: Option<&str>) -> Duration {
    ms.and_then(|v| v.parse::<u64>().ok())
        .map_or(ARM_DELAY, |ms| Duration::from_millis(ms).max(ARM_DELAY))
}

/// How often the countdown is redrawn while a request is on screen (no timer runs
/// otherwise).
const TICK: Duration = Duration::from_millis(250);

struct Prompter {
    ui: Ui,
    queue: Queue,
    writer: UnixStream,
    ticker: Option<glib::SourceId>,
    linger: Option<glib::SourceId>,
    /// When the request on screen was drawn (the arming delay runs from here).
    drawn: Instant,
    arm_delay: Duration,
}

type Shared = Rc<RefCell<Prompter>>;

fn main() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("TPM_PASSKEY_LOG")
                .unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
    if let Err(e) = run() {
        eprintln!("tpm-passkey-prompt: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    // The PIN passes through this process: other programs of the same user must not read
    // it out of its memory (ptrace, /proc/PID/mem) nor from a core dump.
    if let Err(e) =
        rustix::process::set_dumpable_behavior(rustix::process::DumpableBehavior::NotDumpable)
    {
        tracing::warn!(error = %e, "could not make the prompt window non-dumpable");
    }
    // Under X11 GDK loads Mesa (and LLVM) to choose a GL visual it never uses here: 80 MB
    // and ~50 ms of a start (docs/PERFORMANCE.md). Set before GTK and any thread; a value
    // the person set is kept.
    if std::env::var_os("GDK_GL").is_none() {
        std::env::set_var("GDK_GL", "disable");
    }
    let control = std::env::var_os("TPM_PASSKEY_CONTROL")
        .map(std::path::PathBuf::from)
        .map_or_else(|| tpm_passkey_ipc::control_path(None), Ok)?;
    let mut client = Client::connect(&control, Some(Duration::from_secs(10)))?;
    match client.call(&ClientMessage::RegisterAgent {
        kind: AgentKind::Prompt,
        take_over: None,
    }) {
        Ok(_) => {}
        // Another agent (the app, a terminal) came first: it shows the request.
        Err(ClientError::Refused { message, .. }) => {
            tracing::info!(%message, "another agent approves requests; nothing to show");
            return Ok(());
        }
        Err(e) => return Err(e.into()),
    }
    client.set_read_timeout(None)?;
    let writer = client.try_clone_writer()?;
    gtk::init()?;

    // The daemon's messages are read on their own thread and handled on GTK's.
    let (tx, rx) = async_channel::unbounded::<Option<DaemonMessage>>();
    std::thread::spawn(move || {
        while let Ok(m) = client.receive() {
            if tx.send_blocking(Some(m)).is_err() {
                return;
            }
        }
        let _ = tx.send_blocking(None);
    });

    let shared: Shared = Rc::new(RefCell::new(Prompter {
        ui: Ui::build(),
        queue: Queue::default(),
        writer,
        ticker: None,
        linger: None,
        drawn: Instant::now(),
        arm_delay: arm_delay(),
    }));
    wire(&shared);
    arm_linger(&shared);
    let s = shared.clone();
    glib::MainContext::default().spawn_local(async move {
        while let Ok(Some(msg)) = rx.recv().await {
            on_message(&s, msg);
        }
        // The daemon went away: it has failed whatever was waiting.
        tracing::info!("the daemon closed the connection");
        gtk::main_quit();
    });
    tracing::debug!("prompt window registered");
    gtk::main();
    Ok(())
}

/// Buttons and keys: Approve (Enter, with the PIN typed first when it is asked), Deny
/// (Escape); closing the window denies everything waiting.
fn wire(shared: &Shared) {
    let p = shared.borrow();
    let s = shared.clone();
    p.ui.approve.connect_clicked(move |_| answer(&s, true));
    let s = shared.clone();
    p.ui.deny.connect_clicked(move |_| answer(&s, false));
    let s = shared.clone();
    p.ui.window.connect_key_press_event(move |_, key| {
        if key.keyval() == gtk::gdk::keys::constants::Escape {
            answer(&s, false);
            glib::Propagation::Stop
        } else {
            glib::Propagation::Proceed
        }
    });
    let s = shared.clone();
    p.ui.window.connect_delete_event(move |_, _| {
        let denials = s.borrow_mut().queue.deny_all();
        for d in denials {
            send(&s, &d);
        }
        settled(&s);
        glib::Propagation::Stop
    });
}

fn on_message(shared: &Shared, msg: DaemonMessage) {
    match msg {
        DaemonMessage::Prompt {
            id,
            prompt,
            timeout_ms,
            sent_unix_ms,
            asked_unix_ms,
        } => {
            let total = Duration::from_millis(timeout_ms);
            let w = Waiting {
                id,
                wording: prompt.wording(),
                prompt,
                deadline: Instant::now() + total,
                total,
                asked_unix_ms,
                sent_unix_ms,
            };
            let on_screen = shared.borrow_mut().queue.add(w);
            queue_changed(shared, on_screen);
        }
        DaemonMessage::PromptClosed { id, .. } => {
            let was_on_screen = shared.borrow_mut().queue.drop_id(id);
            queue_changed(shared, was_on_screen);
        }
        DaemonMessage::Wink => {
            let p = shared.borrow();
            if p.ui.window.is_visible() {
                p.ui.window.present();
            }
        }
        DaemonMessage::AgentNotice(n) => {
            let words = n.wording("this window");
            match n.notice {
                AgentNoticeKind::Contested => shared.borrow().ui.set_notice(&words),
                AgentNoticeKind::Replaced => {
                    // Whatever waits is shown to the new agent now; nothing is sent from here.
                    tracing::info!(%words, "another agent took over approvals");
                    gtk::main_quit();
                }
            }
        }
        DaemonMessage::Notice { text } => shared.borrow().ui.set_notice(&text),
        DaemonMessage::Error { message, .. } => {
            tracing::warn!(%message, "the daemon refused an answer");
        }
        _ => {}
    }
}

/// A request came or went: the one on screen changed (draw it) or only the count behind it.
fn queue_changed(shared: &Shared, head_changed: bool) {
    if head_changed {
        draw(shared);
    } else {
        let p = shared.borrow();
        p.ui.set_behind(p.queue.behind());
    }
}

/// Shows the request at the head of the queue, or hides the window when none is left.
fn draw(shared: &Shared) {
    let mut p = shared.borrow_mut();
    let Some(current) = p.queue.current().cloned() else {
        drop(p);
        settled(shared);
        return;
    };
    if let Some(l) = p.linger.take() {
        l.remove();
    }
    let behind = p.queue.behind();
    p.ui.show(&current, behind);
    p.drawn = Instant::now();
    let was_hidden = !p.ui.window.is_visible();
    p.ui.window.set_urgency_hint(true);
    p.ui.window.present();
    if current.prompt.pin_required {
        p.ui.pin.grab_focus();
    } else {
        p.ui.approve.grab_focus();
    }
    if was_hidden {
        log_first_frame(&p.ui.window, &current);
    }
    if p.ticker.is_none() {
        let s = shared.clone();
        p.ticker = Some(glib::timeout_add_local(TICK, move || {
            let p = s.borrow();
            if let Some(w) = p.queue.current() {
                p.ui.tick(w);
            }
            glib::ControlFlow::Continue
        }));
    }
}

/// Logs how long after the request (and after the daemon sent it) the first frame showing
/// it was painted: the figure the UI e2e reads (`prompt painted since_asked_ms=…`).
fn log_first_frame(window: &gtk::Window, w: &Waiting) {
    let Some(clock) = window.frame_clock() else {
        return;
    };
    let (asked, sent) = (w.asked_unix_ms, w.sent_unix_ms);
    let handler: Rc<RefCell<Option<glib::SignalHandlerId>>> = Rc::default();
    let h = handler.clone();
    let id = clock.connect_after_paint(move |clock| {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let since_sent_ms = now.saturating_sub(sent);
        let since_asked_ms = if asked > 0 {
            now.saturating_sub(asked)
        } else {
            since_sent_ms
        };
        tracing::info!(since_asked_ms, since_sent_ms, "prompt painted");
        if let Some(id) = h.borrow_mut().take() {
            clock.disconnect(id);
        }
    });
    *handler.borrow_mut() = Some(id);
}

/// Nothing is on screen: hide, stop the countdown, and exit unless a request comes within
/// [`LINGER`].
fn settled(shared: &Shared) {
    let mut p = shared.borrow_mut();
    p.ui.pin.set_text("");
    p.ui.set_notice("");
    p.ui.window.hide();
    if let Some(t) = p.ticker.take() {
        t.remove();
    }
    drop(p);
    arm_linger(shared);
}

fn arm_linger(shared: &Shared) {
    let s = shared.clone();
    let id = glib::timeout_add_local_once(LINGER, move || {
        let mut p = s.borrow_mut();
        p.linger = None;
        if p.queue.is_empty() {
            tracing::debug!("nothing to approve: the prompt window exits");
            gtk::main_quit();
        }
    });
    if let Some(old) = shared.borrow_mut().linger.replace(id) {
        old.remove();
    }
}

/// The person's answer to the request on screen. The PIN is taken out of the field (GTK's
/// entry buffer overwrites the memory it frees) into a [`Pin`], which zeroizes itself.
fn answer(shared: &Shared, approve: bool) {
    let mut p = shared.borrow_mut();
    let Some(current) = p.queue.current() else {
        return;
    };
    if approve && p.drawn.elapsed() < p.arm_delay {
        tracing::debug!("approve within the arming delay: ignored");
        return;
    }
    let pin = (approve && current.prompt.pin_required).then(|| Pin::new(p.ui.pin.text().into()));
    let choice = p.ui.choice();
    p.ui.pin.set_text("");
    match p.queue.answer(approve, pin, choice) {
        Err(not_yet) => {
            p.ui.set_pin_note(not_yet.message(), true);
            if p.ui.pin_row.is_visible() {
                p.ui.pin.grab_focus();
            }
        }
        Ok(None) => {}
        Ok(Some(msg)) => {
            drop(p);
            send(shared, &msg);
            draw(shared);
        }
    }
}

fn send(shared: &Shared, msg: &ClientMessage) {
    if let Err(e) = send_on(&mut shared.borrow_mut().writer, msg) {
        // The daemon is gone: it has failed the request; the reader sees the close too.
        tracing::warn!(error = %e, "could not send the answer");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The environment can only lengthen the arming delay: a program that sets it for the
    /// window cannot take away the protection against a stray Enter.
    #[test]
    fn the_arming_delay_can_be_lengthened_never_shortened() {
        assert_eq!(arm_delay_from(None), ARM_DELAY);
        assert_eq!(arm_delay_from(Some("0")), ARM_DELAY);
        assert_eq!(arm_delay_from(Some("100")), ARM_DELAY);
        assert_eq!(arm_delay_from(Some("not a number")), ARM_DELAY);
        assert_eq!(arm_delay_from(Some("4000")), Duration::from_secs(4));
    }
}
