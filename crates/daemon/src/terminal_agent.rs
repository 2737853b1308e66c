//! `tpm-passkey agent`: the approval agent for a machine without a desktop (an SSH session,
//! a server, a container). Like pinentry, it talks to the controlling terminal (/dev/tty),
//! not to stdin/stdout: each request is shown in the same plain words as the app
//! ([`Prompt::wording`]) with its deadline; Enter approves, Escape denies; a PIN is typed
//! masked. It registers with the daemon as the app does (`terminal`), and leaves a prompt
//! the moment the daemon closes it (the client cancelled, or time ran out).

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::path::Path;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use tpm_passkey_core::ipc::{
    send_on, AgentKind, AgentNoticeKind, Client, ClientError, ClientMessage, DaemonMessage, Pin,
    Prompt, PromptClosedReason,
};
use zeroize::Zeroize;

use crate::cli::CliResult;

/// The controlling terminal in raw mode (no echo, no line editing) while a key is read;
/// restored on drop, whatever happened.
struct Tty {
    file: File,
    saved: rustix::termios::Termios,
}

impl Tty {
    fn open() -> std::io::Result<Self> {
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/tty")?;
        let saved = rustix::termios::tcgetattr(&file)?;
        let mut raw = saved.clone();
        raw.make_raw();
        // Keep output processing so that "\n" still starts a new line.
        raw.output_modes = saved.output_modes;
        rustix::termios::tcsetattr(&file, rustix::termios::OptionalActions::Now, &raw)?;
        Ok(Tty { file, saved })
    }

    fn say(&mut self, text: &str) {
        let _ = self.file.write_all(text.as_bytes());
        let _ = self.file.flush();
    }

    /// The next byte typed, waiting at most `wait`.
    fn byte(&mut self, wait: Duration) -> Option<u8> {
        let fd = self.file.as_fd();
        let mut fds = [rustix::event::PollFd::new(
            &fd,
            rustix::event::PollFlags::IN,
        )];
        let timeout = rustix::event::Timespec::try_from(wait).ok()?;
        match rustix::event::poll(&mut fds, Some(&timeout)) {
            Ok(n) if n > 0 => {
                let mut b = [0u8; 1];
                (self.file.read(&mut b).ok()? == 1).then_some(b[0])
            }
            _ => None,
        }
    }
}

impl Drop for Tty {
    fn drop(&mut self) {
        let _ = rustix::termios::tcsetattr(
            &self.file,
            rustix::termios::OptionalActions::Now,
            &self.saved,
        );
    }
}

/// What the person did with a prompt.
enum Outcome {
    /// With the PIN typed and the account chosen (an index), when the prompt asked.
    Approve(Option<Pin>, Option<u32>),
    Deny,
    /// The daemon closed the prompt first (cancelled by the client, or timed out).
    Closed(PromptClosedReason),
}

/// Shows `prompt` and waits for Enter (with the PIN typed first when it asks for one) or
/// Escape, until `deadline` or until the daemon closes prompt `id`.
fn ask(
    id: u64,
    prompt: &Prompt,
    deadline: Instant,
    events: &mpsc::Receiver<DaemonMessage>,
) -> std::io::Result<Outcome> {
    let mut tty = Tty::open()?;
    let w = prompt.wording();
    let mut text = format!(
        "\r\n\x07── tpm-passkey ──\r\n{}\r\n{}\r\n{}\r\n",
        w.title, w.detail, w.requested_by
    );
    if let Some(note) = w.pin_note.as_deref().filter(|n| !n.is_empty()) {
        text.push_str(note);
        text.push_str("\r\n");
    }
    for (i, account) in prompt.accounts.iter().enumerate() {
        text.push_str(&format!("  {}  {account}\r\n", i + 1));
    }
    let secs = deadline.saturating_duration_since(Instant::now()).as_secs();
    if prompt.accounts.len() > 1 {
        text.push_str(&format!(
            "Account number, then Enter · Escape denies · {secs} s left\r\nAccount: "
        ));
    } else if prompt.pin_required {
        text.push_str(&format!(
            "PIN, then Enter to {} · Escape denies · {secs} s left\r\nPIN: ",
            w.approve.to_lowercase()
        ));
    } else {
        text.push_str(&format!(
            "Enter: {} · Escape: deny · {secs} s left ",
            w.approve.to_lowercase()
        ));
    }
    tty.say(&text);
    // First the account, when the prompt lists several; then the PIN, as UTF-8 bytes (a PIN
    // may be any Unicode text, §6.5.5.5), one '*' per character, not per byte.
    let mut choosing = prompt.accounts.len() > 1;
    let mut number = String::new();
    let mut choice: Option<u32> = None;
    let mut pin: Vec<u8> = Vec::new();
    let is_char_start = |b: u8| b & 0xC0 != 0x80;
    let outcome = loop {
        if let Ok(DaemonMessage::PromptClosed { id: closed, reason }) = events.try_recv() {
            if closed == id {
                break Outcome::Closed(reason);
            }
        }
        if Instant::now() >= deadline {
            break Outcome::Closed(PromptClosedReason::Timeout);
        }
        let Some(b) = tty.byte(Duration::from_millis(200)) else {
            continue;
        };
        if choosing {
            match b {
                b'0'..=b'9' if number.len() < 4 => {
                    number.push(char::from(b));
                    tty.say(&char::from(b).to_string());
                }
                0x7f | 0x08 if number.pop().is_some() => tty.say("\x08 \x08"),
                b'\r' | b'\n' => match number.parse::<usize>() {
                    Ok(n) if (1..=prompt.accounts.len()).contains(&n) => {
                        choice = u32::try_from(n - 1).ok();
                        choosing = false;
                        tty.say(&format!("  ({})", prompt.accounts[n - 1]));
                        if !prompt.pin_required {
                            break Outcome::Approve(None, choice);
                        }
                        tty.say("\r\nPIN, then Enter to approve · Escape denies\r\nPIN: ");
                    }
                    _ => {
                        number.clear();
                        tty.say(&format!(
                            "\r\nA number from 1 to {}: ",
                            prompt.accounts.len()
                        ));
                    }
                },
                0x1b => {
                    if tty.byte(Duration::from_millis(30)).is_none() {
                        break Outcome::Deny;
                    }
                    while tty.byte(Duration::from_millis(5)).is_some() {}
                }
                0x03 | 0x04 => break Outcome::Deny,
                _ => {}
            }
            continue;
        }
        match b {
            b'\r' | b'\n' if prompt.pin_required && pin.is_empty() => {}
            b'\r' | b'\n' => {
                let typed = match String::from_utf8(std::mem::take(&mut pin)) {
                    Ok(p) if !p.is_empty() => Some(Pin::new(p)),
                    Ok(_) => None,
                    Err(e) => {
                        let mut bytes = e.into_bytes();
                        bytes.zeroize();
                        tty.say("\r\nthat was not valid text; type the PIN again: ");
                        continue;
                    }
                };
                break Outcome::Approve(typed, choice);
            }
            // Escape alone denies; an escape sequence (arrow keys) is read and ignored.
            0x1b => {
                if tty.byte(Duration::from_millis(30)).is_none() {
                    break Outcome::Deny;
                }
                while tty.byte(Duration::from_millis(5)).is_some() {}
            }
            // Ctrl-C and Ctrl-D deny too.
            0x03 | 0x04 => break Outcome::Deny,
            0x7f | 0x08 if !pin.is_empty() => {
                while let Some(last) = pin.pop() {
                    if is_char_start(last) {
                        break;
                    }
                }
                tty.say("\x08 \x08");
            }
            c if prompt.pin_required && c >= 0x20 && c != 0x7f => {
                pin.push(c);
                if is_char_start(c) {
                    tty.say("*");
                }
            }
            _ => {}
        }
    };
    pin.zeroize();
    let said = match &outcome {
        Outcome::Approve(..) => "approved".to_owned(),
        Outcome::Deny => "denied".to_owned(),
        Outcome::Closed(PromptClosedReason::Timeout) => "timed out".to_owned(),
        Outcome::Closed(r) => format!("closed ({})", r.explain()),
    };
    tty.say(&format!("\r\n{said}\r\n"));
    Ok(outcome)
}

/// Reads the PIN at the terminal (for `--take-over`).
fn read_pin_at_tty(question: &str) -> CliResult<Pin> {
    rpassword::prompt_password(question)
        .map(Pin::new)
        .map_err(|e| format!("cannot read the PIN from the terminal: {e}").into())
}

/// Runs the terminal agent until the daemon goes away or the terminal does.
pub fn run(control: &Path, take_over: bool) -> CliResult {
    if File::open("/dev/tty").is_err() {
        return Err("no terminal to ask on: the terminal agent needs one (or use the app)".into());
    }
    let mut client = Client::connect(control, None)?;
    let take_over = if take_over {
        Some(read_pin_at_tty("PIN (to take over the approval slot): ")?)
    } else {
        None
    };
    match client.call(&ClientMessage::RegisterAgent {
        kind: AgentKind::Terminal,
        take_over,
    }) {
        Ok(_) => {}
        Err(ClientError::Refused { message, .. }) => {
            return Err(
                format!("{message}\n(to replace it, run `tpm-passkey agent --take-over`)").into(),
            )
        }
        Err(e) => return Err(e.into()),
    }
    eprintln!("tpm-passkey: approving requests on this terminal (Ctrl-C to stop)");
    // Messages arrive on their own thread so that a prompt can be closed while the person
    // is still typing; between prompts the main thread sleeps on the channel.
    let mut writer = client.try_clone_writer()?;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        while let Ok(m) = client.receive() {
            if tx.send(m).is_err() {
                return;
            }
        }
    });
    while let Ok(msg) = rx.recv() {
        match msg {
            DaemonMessage::Prompt {
                id,
                prompt,
                timeout_ms,
                ..
            } => {
                let deadline = Instant::now() + Duration::from_millis(timeout_ms);
                let (approve, pin, choice) = match ask(id, &prompt, deadline, &rx)? {
                    Outcome::Approve(pin, choice) => (true, pin, choice),
                    Outcome::Deny => (false, None, None),
                    Outcome::Closed(_) => continue,
                };
                send_on(
                    &mut writer,
                    &ClientMessage::Answer {
                        id,
                        approve,
                        pin,
                        choice,
                    },
                )?;
            }
            DaemonMessage::AgentNotice(n) => {
                let who = n.by.name.as_deref().unwrap_or("another program");
                match n.notice {
                    AgentNoticeKind::Contested => eprintln!(
                        "tpm-passkey: {who} (pid {}) asked to approve requests instead of this terminal, and was refused",
                        n.by.pid.map_or("?".into(), |p| p.to_string())
                    ),
                    AgentNoticeKind::Replaced => {
                        eprintln!("tpm-passkey: {who} took over approvals with the PIN; this terminal no longer gets requests");
                        return Ok(());
                    }
                }
            }
            DaemonMessage::Notice { text } => eprintln!("tpm-passkey: {text}"),
            DaemonMessage::Wink => eprint!("\x07"),
            DaemonMessage::Error { message, .. } => return Err(message.into()),
            _ => {}
        }
    }
    eprintln!("tpm-passkey: the daemon went away");
    Ok(())
}
