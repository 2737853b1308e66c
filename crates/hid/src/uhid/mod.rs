//! The /dev/uhid transport: a virtual USB HID device with the FIDO usage page, which the
//! kernel exposes as /dev/hidrawN to every unmodified client (browsers, OpenSSH, libfido2).
//! All hidraw clients share the one device; CTAPHID channels keep them apart, as on a real
//! USB key.
//!
//! The device is reached by one of two links:
//! * [`Link::Device`]: /dev/uhid opened by us (root, a test VM, or a machine where the
//!   user was given the node);
//! * [`Link::Helper`]: a connection to the privileged helper ([`helper`], a socket-activated
//!   system service), which owns /dev/uhid, creates exactly our FIDO device for us, and
//!   relays 64-byte reports. Users do not get raw /dev/uhid, which can create any HID
//!   device, keyboards included.
//!
//! * [`events`]: the `struct uhid_event` byte layouts.

pub mod events;
pub mod helper;
mod pace;

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;

use socket2::{Domain, SockAddr, Socket, Type};

use crate::{holders, Backend, Device, REPORT_LEN};
pub use events::{
    create2_event, input2_event, output_report, PRODUCT_ID, PRODUCT_NAME, REPORT_DESCRIPTOR,
    VENDOR_ID,
};

/// Where the helper listens (contrib/tpm-passkey-uhid.socket).
pub const HELPER_SOCKET: &str = "/run/tpm-passkey/uhid.sock";

/// Why /dev/uhid could not be used, in words that say how to fix it.
fn open_error(path: &Path, e: std::io::Error) -> std::io::Error {
    let hint = match e.kind() {
        std::io::ErrorKind::NotFound => "the uhid kernel module is not loaded (sudo modprobe uhid; add `uhid` to /etc/modules-load.d/)",
        std::io::ErrorKind::PermissionDenied => "users do not get raw /dev/uhid (it can create any input device); install the tpm-passkey uhid helper (contrib/install.sh, or the .deb), which creates the FIDO device for you",
        _ => "see the error above",
    };
    std::io::Error::new(
        e.kind(),
        format!("cannot open {}: {e}; {hint}", path.display()),
    )
}

fn helper_error(path: &Path, e: std::io::Error) -> std::io::Error {
    std::io::Error::new(
        e.kind(),
        format!(
            "cannot reach the uhid helper at {}: {e}; install it (sudo contrib/install.sh, or the .deb) and make sure `systemctl status tpm-passkey-uhid.socket` is active",
            path.display()
        ),
    )
}

/// How the virtual device is reached.
#[derive(Debug)]
pub enum Link {
    /// /dev/uhid, opened by us: we write the uhid events ourselves.
    Device(File),
    /// A `SOCK_SEQPACKET` connection to the helper: one 64-byte report per datagram.
    Helper(Socket),
}

/// Which link to use, before it is opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Device(PathBuf),
    Helper(PathBuf),
}

impl Target {
    /// The default: /dev/uhid when we may open it (root, a VM), else the helper.
    pub fn auto() -> Self {
        let dev = Path::new("/dev/uhid");
        if check_access(dev).is_ok() {
            Target::Device(dev.to_owned())
        } else {
            Target::Helper(PathBuf::from(HELPER_SOCKET))
        }
    }

    /// Checks the target can be used, with advice when not: the daemon asks before it
    /// starts the TPM.
    pub fn check(&self) -> std::io::Result<()> {
        match self {
            Target::Device(p) => check_access(p),
            // Connecting would make the helper create a device: check the socket is there.
            Target::Helper(p) => {
                use std::os::unix::fs::FileTypeExt;
                match std::fs::metadata(p) {
                    Ok(m) if m.file_type().is_socket() => Ok(()),
                    Ok(_) => Err(helper_error(
                        p,
                        std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a socket"),
                    )),
                    Err(e) => Err(helper_error(p, e)),
                }
            }
        }
    }

    pub fn open(&self) -> std::io::Result<Link> {
        match self {
            Target::Device(p) => OpenOptions::new()
                .read(true)
                .write(true)
                .open(p)
                .map(Link::Device)
                .map_err(|e| open_error(p, e)),
            Target::Helper(p) => connect_helper(p).map(Link::Helper),
        }
    }
}

fn connect_helper(path: &Path) -> std::io::Result<Socket> {
    let s = Socket::new(Domain::UNIX, Type::SEQPACKET, None)?;
    s.connect(&SockAddr::unix(path)?)
        .map_err(|e| helper_error(path, e))?;
    Ok(s)
}

/// Checks that `path` can be opened for reading and writing, with advice when not.
pub fn check_access(path: &Path) -> std::io::Result<()> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map(drop)
        .map_err(|e| open_error(path, e))
}

/// The two directions of a link, each on its own thread.
trait Reports: Send {
    fn send(&mut self, report: &[u8; REPORT_LEN]) -> std::io::Result<()>;
}

struct DeviceWriter(File);
impl Reports for DeviceWriter {
    fn send(&mut self, report: &[u8; REPORT_LEN]) -> std::io::Result<()> {
        self.0.write_all(&input2_event(report))
    }
}
impl Drop for DeviceWriter {
    fn drop(&mut self) {
        let _ = self.0.write_all(&events::destroy_event());
    }
}

struct HelperWriter(Socket);
impl Reports for HelperWriter {
    fn send(&mut self, report: &[u8; REPORT_LEN]) -> std::io::Result<()> {
        self.0.write_all(report)
    }
}

/// A running virtual HID device; dropping it destroys the device.
#[derive(Debug)]
pub struct UhidTransport {
    stop: Arc<AtomicBool>,
    wake: mpsc::Sender<Option<[u8; REPORT_LEN]>>,
    thread: Option<JoinHandle<()>>,
}

impl UhidTransport {
    /// Creates the device through `target` and serves it.
    pub fn serve<B: Backend + 'static>(target: &Target, backend: Arc<B>) -> std::io::Result<Self> {
        // Our node is found again by HID_UNIQ: the helper sets the same one, from our pid.
        let uniq = format!("tpm-passkey-{}", std::process::id());
        // Reports from the reader thread; None only wakes the loop to stop (see Drop).
        let (tx, rx) = mpsc::channel::<Option<[u8; REPORT_LEN]>>();
        let wake = tx.clone();
        let writer: Box<dyn Reports> = match target.open()? {
            Link::Device(mut dev) => {
                dev.write_all(&create2_event(&uniq))?;
                let reader = dev.try_clone()?;
                std::thread::Builder::new()
                    .name("uhid-read".into())
                    .spawn(move || read_device(reader, &tx))?;
                Box::new(DeviceWriter(dev))
            }
            Link::Helper(sock) => {
                let reader = sock.try_clone()?;
                std::thread::Builder::new()
                    .name("uhid-read".into())
                    .spawn(move || read_helper(reader, &tx))?;
                Box::new(HelperWriter(sock))
            }
        };
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = stop.clone();
        let waker = wake.clone();
        let thread = std::thread::Builder::new()
            .name("uhid".into())
            .spawn(move || serve(writer, (waker, rx), backend, &uniq, &stop2))?;
        tracing::info!(?target, "CTAPHID over uhid: virtual FIDO device created");
        Ok(UhidTransport {
            stop,
            wake,
            thread: Some(thread),
        })
    }
}

impl Drop for UhidTransport {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = self.wake.send(None);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn read_device(mut reader: File, tx: &mpsc::Sender<Option<[u8; REPORT_LEN]>>) {
    let mut ev = vec![0u8; events::EVENT_SIZE];
    loop {
        match reader.read(&mut ev) {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                if let Some(report) = output_report(&ev[..n]) {
                    if tx.send(Some(report)).is_err() {
                        return;
                    }
                }
            }
        }
    }
}

fn read_helper(mut reader: Socket, tx: &mpsc::Sender<Option<[u8; REPORT_LEN]>>) {
    let mut buf = [0u8; REPORT_LEN + 1];
    loop {
        match reader.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(REPORT_LEN) => {
                let mut r = [0u8; REPORT_LEN];
                r.copy_from_slice(&buf[..REPORT_LEN]);
                if tx.send(Some(r)).is_err() {
                    return;
                }
            }
            Ok(_) => {}
        }
    }
}

/// Reports from the reader thread; `None` wakes the loop (the engine answered, or Drop).
type Incoming = Option<[u8; REPORT_LEN]>;

fn serve<B: Backend + ?Sized>(
    mut writer: Box<dyn Reports>,
    (wake, rx): (mpsc::Sender<Incoming>, mpsc::Receiver<Incoming>),
    backend: Arc<B>,
    uniq: &str,
    stop: &AtomicBool,
) {
    // The hidraw node appears shortly after CREATE2; look it up when the first message
    // needs it, then ask /proc who holds it open — again only once it was opened or closed.
    let uniq = uniq.to_owned();
    let mut cache: Option<holders::HolderCache> = None;
    let mut device = Device::with_origin_source(backend, move || {
        if cache.is_none() {
            cache = holders::hidraw_node(&uniq).map(holders::HolderCache::new);
        }
        crate::Origin {
            pid: cache.as_mut().and_then(holders::HolderCache::sole_holder),
        }
    });
    // The engine's answer wakes this loop at once (a `None` on the reports channel).
    device.set_waker(Arc::new(move || {
        let _ = wake.send(None);
    }));
    let mut pacer = pace::Pacer::new(std::time::Instant::now());
    while !stop.load(Ordering::SeqCst) {
        // Idle, this blocks until a report (or a wake-up) comes: no timer; while a request
        // runs, until its next keepalive or its answer.
        let next = match device.wait_hint() {
            Some(wait) => rx.recv_timeout(wait),
            None => rx.recv().map_err(|_| mpsc::RecvTimeoutError::Disconnected),
        };
        let mut out = match next {
            Ok(Some(report)) => device.on_report(&report),
            // A wake-up (the engine answered, or Drop) or the keepalive's time.
            Ok(None) | Err(mpsc::RecvTimeoutError::Timeout) => Vec::new(),
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        };
        out.extend(device.poll());
        for report in out {
            let wait = pacer.next(std::time::Instant::now());
            if !wait.is_zero() {
                std::thread::sleep(wait);
            }
            if writer.send(&report).is_err() {
                tracing::error!("writing to the uhid device failed; the virtual device is gone");
                return;
            }
        }
    }
    // Dropping the writer destroys the device (UHID_DESTROY, or the helper does it when
    // our connection closes).
}
