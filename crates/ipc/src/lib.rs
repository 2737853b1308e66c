//! The control socket's language (docs/CONTROL.md): one JSON object per line in each
//! direction. Everything the daemon, the engine, the CLI and the app say to one another is
//! one of these types — the engine returns them, the app shows them — so nobody mirrors or
//! re-parses anything. Serde and the standard library only: the app links it without the
//! TPM stack.
//!
//! A client opens with [`ClientMessage::Hello`]; the daemon answers with
//! [`DaemonMessage::Hello`] carrying [`PROTOCOL_VERSION`]. An approval agent then sends
//! [`ClientMessage::RegisterAgent`] and receives [`DaemonMessage::Prompt`]s, each answered
//! by [`ClientMessage::Answer`] with the same id, or withdrawn by
//! [`DaemonMessage::PromptClosed`]. [`Client`] is the one client of the socket.
#![forbid(unsafe_code)]

mod client;
mod messages;
mod pin;
mod views;
mod vocab;
mod wording;

use std::io::BufRead;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

pub use client::{
    control_path, last_start_failure, send_on, start_failure_path, Client, ClientError,
    MAX_DAEMON_LINE,
};
pub use messages::{ClientMessage, DaemonMessage, FORGOTTEN_PIN_PHRASE};
pub use pin::Pin;
pub use views::{
    AgentNotice, AgentNoticeKind, AgentView, AttestationView, AuditExport, AuditRecord,
    AuditVerdict, CooldownView, ExportedCheckpoint, ExportedEntry, ExportedStatement,
    FatigueLimits, Passkey, Prompt, SiteRuleEntry, StatusView, StepUp, TpmView,
};
pub use vocab::{
    AgentKind, AuditKind, ErrorKind, Operation, Outcome, PinProtection, PromptClosedReason,
    SiteRule, TpmHealth, TpmPath,
};
pub use wording::Wording;

/// Bumped on any incompatible change; the daemon refuses other versions.
/// 2: agents are no longer replaced silently; `Pin` strings; status carries
/// `pin_protection` and the agent's identity.
pub const PROTOCOL_VERSION: u32 = 2;

/// Where the daemon listens: `$XDG_RUNTIME_DIR/tpm-passkey/control.sock`.
pub fn default_control_path() -> Option<PathBuf> {
    std::env::var_os("XDG_RUNTIME_DIR")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .map(|d| d.join("tpm-passkey").join("control.sock"))
}

/// One line of JSON (with its newline).
pub fn encode<T: Serialize>(msg: &T) -> String {
    let mut s = serde_json::to_string(msg).unwrap_or_else(|_| "{}".into());
    s.push('\n');
    s
}

/// Parses one line.
pub fn decode<'a, T: Deserialize<'a>>(line: &'a str) -> Result<T, serde_json::Error> {
    serde_json::from_str(line.trim_end())
}

/// Reads one line into `buf` (appending), but no more than `max` bytes: a longer line is
/// an `InvalidData` error and the rest of it is not read into memory. Ok(0) at the end of
/// the stream.
pub fn read_line_bounded(
    r: &mut (impl BufRead + ?Sized),
    buf: &mut String,
    max: usize,
) -> std::io::Result<usize> {
    let mut bytes = Vec::new();
    let n = std::io::Read::take(&mut *r, max as u64 + 1).read_until(b'\n', &mut bytes)?;
    if n > max || (n == max + 1 && !bytes.ends_with(b"\n")) {
        zeroize::Zeroize::zeroize(&mut bytes);
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("line longer than {max} bytes"),
        ));
    }
    let s = String::from_utf8(bytes).map_err(|e| {
        let mut b = e.into_bytes();
        zeroize::Zeroize::zeroize(&mut b);
        std::io::Error::new(std::io::ErrorKind::InvalidData, "line is not UTF-8")
    })?;
    buf.push_str(&s);
    let mut s = s;
    zeroize::Zeroize::zeroize(&mut s);
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip_as_tagged_json_lines() {
        let m = ClientMessage::Answer {
            id: 7,
            approve: true,
            pin: None,
            choice: None,
        };
        let line = encode(&m);
        assert_eq!(
            line,
            "{\"type\":\"answer\",\"id\":7,\"approve\":true,\"pin\":null}\n"
        );
        assert_eq!(decode::<ClientMessage>(&line).unwrap(), m);
        assert!(decode::<ClientMessage>("{\"type\":\"nope\"}").is_err());
        // A status is one flat object, as before the view type existed.
        let s = DaemonMessage::Status(StatusView {
            simulated: true,
            tcti: "swtpm".into(),
            path: crate::TpmPath::PrivateSimulator,
            pin_set: false,
            pin_retries: None,
            pin_protection: PinProtection::NotSet,
            always_uv: true,
            min_pin_length: 4,
            credentials: 0,
            agent: false,
            agent_info: None,
            pin_auth_blocked: false,
            tpm: Default::default(),
            fatigue: Default::default(),
            cooldowns: Vec::new(),
            step_up: Default::default(),
            attestation: Default::default(),
        });
        let v: serde_json::Value = serde_json::from_str(&encode(&s)).unwrap();
        assert_eq!(v["type"], "status");
        assert_eq!(v["pin_protection"], "not_set");
        assert_eq!(decode::<DaemonMessage>(&encode(&s)).unwrap(), s);
    }

    /// The kinds docs/CONTROL.md promises are the ones on the wire, in its order; a kind
    /// from a newer daemon, or none from an older one, reads as `other`.
    #[test]
    fn error_kinds_are_the_documented_ones_and_unknown_ones_read_as_other() {
        let doc = include_str!("../../../docs/CONTROL.md");
        let start = doc.find("<!-- error kinds -->").unwrap();
        let listed: Vec<&str> = doc[start..doc[start..].find("<!-- end -->").unwrap() + start]
            .lines()
            .filter_map(|l| l.strip_prefix("| `"))
            .map(|l| l.split('`').next().unwrap())
            .collect();
        let wire: Vec<String> = ErrorKind::ALL
            .iter()
            .map(|k| {
                serde_json::to_value(k)
                    .unwrap()
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect();
        assert_eq!(listed, wire);
        for (line, kind) in [
            (
                r#"{"type":"error","kind":"pin_required","message":"m"}"#,
                ErrorKind::PinRequired,
            ),
            (
                r#"{"type":"error","kind":"from_the_future","message":"m"}"#,
                ErrorKind::Other,
            ),
            (r#"{"type":"error","message":"m"}"#, ErrorKind::Other),
        ] {
            match decode::<DaemonMessage>(line).unwrap() {
                DaemonMessage::Error { kind: k, .. } => assert_eq!(k, kind, "{line}"),
                other => panic!("{other:?}"),
            }
        }
        let closed: DaemonMessage =
            decode(r#"{"type":"prompt_closed","id":1,"reason":"gremlins"}"#).unwrap();
        assert!(matches!(
            closed,
            DaemonMessage::PromptClosed {
                reason: PromptClosedReason::Other,
                ..
            }
        ));
    }

    #[test]
    fn lines_are_bounded() {
        let mut buf = String::new();
        let mut r = std::io::Cursor::new(b"short\nsecond\n".to_vec());
        assert_eq!(read_line_bounded(&mut r, &mut buf, 10).unwrap(), 6);
        assert_eq!(buf, "short\n");
        let mut r = std::io::Cursor::new(vec![b'x'; 100]);
        let e = read_line_bounded(&mut r, &mut String::new(), 10).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::InvalidData);
        // Exactly `max` bytes with the newline is fine; one more is not.
        let mut r = std::io::Cursor::new(b"123456789\n".to_vec());
        assert_eq!(
            read_line_bounded(&mut r, &mut String::new(), 10).unwrap(),
            10
        );
        let mut r = std::io::Cursor::new(b"1234567890\n".to_vec());
        assert!(read_line_bounded(&mut r, &mut String::new(), 10).is_err());
    }
}
