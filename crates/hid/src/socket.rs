//! The socket transport: a Unix `SOCK_SEQPACKET` listener. Each accepted connection is one
//! HID device as a client would see an opened hidraw node; every datagram, in either
//! direction, is exactly one 64-byte report (no report-ID byte). Datagrams of another
//! length are dropped, as a HID device drops malformed reports. At most
//! [`MAX_CONNECTIONS`] clients are served at once (two threads each); more are hung up on.

use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::Duration;

use socket2::{Domain, SockAddr, Socket, Type};

use crate::{Backend, Device, Origin, REPORT_LEN};

/// Clients served at once; the next ones are hung up on at once (issue 23: 535 held
/// connections used to mean 541 threads).
pub const MAX_CONNECTIONS: usize = 32;

/// A running listener; dropping it stops accepting and removes the socket file.
#[derive(Debug)]
pub struct SocketTransport {
    path: PathBuf,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl SocketTransport {
    /// Binds `path` (mode 0600; a stale socket file is replaced) and serves connections on
    /// background threads.
    pub fn serve<B: Backend + 'static>(path: &Path, backend: Arc<B>) -> std::io::Result<Self> {
        if path.exists() {
            std::fs::remove_file(path)?;
        }
        let listener = Socket::new(Domain::UNIX, Type::SEQPACKET, None)?;
        listener.bind(&SockAddr::unix(path)?)?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
        listener.listen(8)?;
        // Accept blocks (no timer while idle); Drop wakes it with a connection of its own.
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = stop.clone();
        let open = Arc::new(AtomicUsize::new(0));
        let thread = std::thread::Builder::new()
            .name("hid-socket".into())
            .spawn(move || {
                while !stop2.load(Ordering::SeqCst) {
                    match listener.accept() {
                        Ok((conn, _)) => {
                            if open.load(Ordering::SeqCst) >= MAX_CONNECTIONS {
                                tracing::warn!("HID socket: {MAX_CONNECTIONS} clients already; hung up on one more");
                                continue;
                            }
                            open.fetch_add(1, Ordering::SeqCst);
                            let (backend, stop, open2) = (backend.clone(), stop2.clone(), open.clone());
                            let spawned = std::thread::Builder::new()
                                .name("hid-conn".into())
                                .spawn(move || {
                                    serve_connection(conn, backend, &stop);
                                    open2.fetch_sub(1, Ordering::SeqCst);
                                });
                            if spawned.is_err() {
                                open.fetch_sub(1, Ordering::SeqCst);
                            }
                        }
                        Err(e) if no_data_yet(&e) => {}
                        Err(e) => {
                            tracing::error!(error = %e, "HID socket accept failed");
                            std::thread::sleep(Duration::from_millis(200));
                        }
                    }
                }
            })?;
        tracing::info!(path = %path.display(), "CTAPHID socket transport listening");
        Ok(SocketTransport {
            path: path.to_owned(),
            stop,
            thread: Some(thread),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for SocketTransport {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Ok(s) = Socket::new(Domain::UNIX, Type::SEQPACKET, None) {
            let _ = SockAddr::unix(&self.path).map(|a| s.connect(&a));
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let _ = std::fs::remove_file(&self.path);
    }
}

/// A read or accept that timed out or was interrupted: try again.
fn no_data_yet(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::WouldBlock
            | std::io::ErrorKind::TimedOut
            | std::io::ErrorKind::Interrupted
    )
}

fn serve_connection<B: Backend + ?Sized>(conn: Socket, backend: Arc<B>, stop: &AtomicBool) {
    // The client's pid, so that the approval prompt can name the application.
    let pid = rustix::net::sockopt::socket_peercred(&conn)
        .ok()
        .and_then(|c| u32::try_from(c.pid.as_raw_nonzero().get()).ok());
    let mut device = Device::with_origin(backend, Origin { pid });
    // Reports from a reader thread and wake-ups from the engine's answer, on one channel
    // the loop waits on: no timer while idle, none but the keepalive's while a request runs.
    let (tx, rx) = mpsc::channel::<Event>();
    let wake = tx.clone();
    device.set_waker(Arc::new(move || {
        let _ = wake.send(Event::Wake);
    }));
    let Ok(reader) = conn.try_clone() else {
        return;
    };
    if std::thread::Builder::new()
        .name("hid-conn-read".into())
        .spawn(move || read_reports(reader, &tx))
        .is_err()
    {
        return;
    }
    let mut conn = conn;
    tracing::debug!("HID socket client connected");
    while !stop.load(Ordering::SeqCst) {
        let next = match device.wait_hint() {
            Some(wait) => rx.recv_timeout(wait),
            None => rx.recv().map_err(|_| mpsc::RecvTimeoutError::Disconnected),
        };
        let mut out = match next {
            Ok(Event::Report(report)) => device.on_report(&report),
            Ok(Event::Wake) | Err(mpsc::RecvTimeoutError::Timeout) => Vec::new(),
            Ok(Event::Gone) | Err(mpsc::RecvTimeoutError::Disconnected) => break,
        };
        out.extend(device.poll());
        for report in out {
            if conn.write_all(&report).is_err() {
                let _ = conn.shutdown(std::net::Shutdown::Both);
                return;
            }
        }
    }
    // Ends the reader too.
    let _ = conn.shutdown(std::net::Shutdown::Both);
    tracing::debug!("HID socket client disconnected");
}

/// What a connection's loop waits for.
enum Event {
    Report([u8; REPORT_LEN]),
    /// The engine answered.
    Wake,
    /// The client hung up.
    Gone,
}

/// Passes each 64-byte datagram on; others are dropped. Says when the client hangs up.
fn read_reports(mut conn: Socket, tx: &mpsc::Sender<Event>) {
    let mut buf = [0u8; REPORT_LEN + 1];
    loop {
        match conn.read(&mut buf) {
            Ok(0) => break,
            Ok(REPORT_LEN) => {
                let mut r = [0u8; REPORT_LEN];
                r.copy_from_slice(&buf[..REPORT_LEN]);
                if tx.send(Event::Report(r)).is_err() {
                    return;
                }
            }
            Ok(n) => {
                tracing::debug!(len = n, "dropped a datagram that is not one 64-byte report");
            }
            Err(e) if no_data_yet(&e) => {}
            Err(_) => break,
        }
    }
    let _ = tx.send(Event::Gone);
}
