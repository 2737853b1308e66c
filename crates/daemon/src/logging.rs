//! Where log lines go: the systemd journal when the daemon runs as a systemd service (its
//! stderr is the journal stream, which systemd announces in `JOURNAL_STREAM`), else stderr.
//! `TPM_PASSKEY_LOG` (an EnvFilter) chooses the level: the daemon says `info` by default,
//! the CLI only `warn`. No secret is ever a field of a log event (see docs/DESIGN.md).

use std::io::IsTerminal;
use std::os::unix::fs::MetadataExt;

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::EnvFilter;

/// True when stderr is the stream systemd connected to the journal ("DEV:INODE" match, as
/// sd_journal_stream_fd(3) describes), not merely inherited from a unit's environment.
fn stderr_is_journal() -> bool {
    let Some(stream) = std::env::var_os("JOURNAL_STREAM") else {
        return false;
    };
    let Ok(meta) = std::fs::metadata("/proc/self/fd/2") else {
        return false;
    };
    stream.to_str() == Some(&format!("{}:{}", meta.dev(), meta.ino()))
}

pub fn init(daemon: bool) {
    let filter = EnvFilter::try_from_env("TPM_PASSKEY_LOG")
        .unwrap_or_else(|_| EnvFilter::new(if daemon { "info" } else { "warn" }));
    let registry = tracing_subscriber::registry().with(filter);
    if stderr_is_journal() {
        if let Ok(journald) = tracing_journald::layer() {
            registry
                .with(journald.with_syslog_identifier("tpm-passkey".into()))
                .init();
            return;
        }
    }
    registry
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_ansi(std::io::stderr().is_terminal()),
        )
        .init();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn journal_only_when_stderr_is_the_announced_stream() {
        // Not set: stderr.
        std::env::remove_var("JOURNAL_STREAM");
        assert!(!stderr_is_journal());
        // Set to some other stream (inherited by a child of the service): still stderr.
        std::env::set_var("JOURNAL_STREAM", "1:1");
        assert!(!stderr_is_journal());
        let meta = std::fs::metadata("/proc/self/fd/2").expect("stderr");
        std::env::set_var("JOURNAL_STREAM", format!("{}:{}", meta.dev(), meta.ino()));
        assert!(stderr_is_journal());
        std::env::remove_var("JOURNAL_STREAM");
    }
}
