//! The privileged uhid helper's relay (`tpm-passkey uhid-helper`, a socket-activated
//! system service: contrib/tpm-passkey-uhid.socket).
//!
//! For each connection it opens /dev/uhid, creates exactly one device — ours: the FIDO
//! report descriptor, our name, VID/PID and a HID_UNIQ naming the connected process — and
//! relays reports: a datagram of exactly 64 bytes from the client becomes one UHID_INPUT2,
//! each UHID_OUTPUT becomes one 64-byte datagram back. Nothing else the client sends
//! reaches /dev/uhid: it cannot destroy the device and create another (a keyboard), which
//! it could with the open /dev/uhid file itself. When the client goes, so does the device.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use rustix::event::{poll, PollFd, PollFlags};

use super::events::{self, create2_event, input2_event, output_report};
use crate::REPORT_LEN;

/// Who the helper serves on a connection (from SO_PEERCRED).
#[derive(Debug, Clone, Copy)]
pub struct Client {
    pub pid: u32,
    pub uid: u32,
}

/// Relays between the client connection (`from_client`/`to_client`, two handles on the
/// same `SOCK_SEQPACKET` socket) and a new device on `uhid`, until either side closes.
pub fn relay(
    mut from_client: File,
    mut to_client: File,
    client: Client,
    uhid: &Path,
) -> std::io::Result<()> {
    let mut dev = OpenOptions::new().read(true).write(true).open(uhid)?;
    // The daemon finds its node again by this HID_UNIQ (see `holders`).
    dev.write_all(&create2_event(&format!("tpm-passkey-{}", client.pid)))?;
    tracing::info!(
        pid = client.pid,
        uid = client.uid,
        "FIDO device created for a client"
    );
    let mut dev_reader = dev.try_clone()?;
    let done = Arc::new(AtomicBool::new(false));
    let done2 = done.clone();
    // Device → client, on its own thread; it ends when the device or the client goes.
    let outbound = std::thread::Builder::new()
        .name("uhid-out".into())
        .spawn(move || {
            let mut ev = vec![0u8; events::EVENT_SIZE];
            loop {
                // A report from the device, or the client hanging up: no timer, so an idle
                // helper never wakes (issue 22).
                let mut fds = [
                    PollFd::new(&dev_reader, PollFlags::IN),
                    PollFd::new(&to_client, PollFlags::RDHUP),
                ];
                match poll(&mut fds, None) {
                    _ if done2.load(Ordering::SeqCst) => return,
                    Ok(_) if !fds[1].revents().is_empty() => return,
                    Ok(_) if fds[0].revents().is_empty() => continue,
                    Ok(_) => {}
                    Err(rustix::io::Errno::INTR) => continue,
                    Err(_) => return,
                }
                match dev_reader.read(&mut ev) {
                    Ok(0) | Err(_) => return,
                    Ok(n) => {
                        if let Some(report) = output_report(&ev[..n]) {
                            if to_client.write_all(&report).is_err() {
                                return;
                            }
                        }
                    }
                }
            }
        })?;
    // Client → device: exactly one 64-byte report per datagram, nothing else.
    let mut buf = vec![0u8; events::EVENT_SIZE];
    let mut refused = 0u64;
    loop {
        match from_client.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(REPORT_LEN) => {
                let mut report = [0u8; REPORT_LEN];
                report.copy_from_slice(&buf[..REPORT_LEN]);
                if dev.write_all(&input2_event(&report)).is_err() {
                    break;
                }
            }
            Ok(n) => {
                refused += 1;
                tracing::warn!(
                    pid = client.pid,
                    len = n,
                    "dropped a datagram that is not one 64-byte report"
                );
            }
        }
    }
    let _ = dev.write_all(&events::destroy_event());
    done.store(true, Ordering::SeqCst);
    drop(dev);
    let _ = outbound.join();
    tracing::info!(
        pid = client.pid,
        refused,
        "client gone: FIDO device destroyed"
    );
    Ok(())
}
