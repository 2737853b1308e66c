//! CTAPHID, CTAP 2.1 §11.2: channels, transactions, keepalives and cancellation over
//! 64-byte HID reports, independent of where the reports come from.
//!
//! * [`Device`]: the state machine of one HID device (one hidraw node, or one socket
//!   connection): channel allocation, reassembly with per-transaction timeouts,
//!   busy/lock handling, keepalives every 100 ms while the authenticator works.
//! * [`Backend`]: what answers complete messages (the daemon's engine thread).
//! * [`socket`]: the `SOCK_SEQPACKET` transport, one datagram per report.
//! * [`uhid`]: a virtual USB HID device through /dev/uhid; [`holders`] names its clients.
#![forbid(unsafe_code)]

mod device;
pub mod holders;
pub mod socket;
pub mod uhid;

pub use device::{Device, KEEPALIVE_EVERY, MAX_CHANNELS, REPORT_LEN};

use std::sync::atomic::{AtomicBool, AtomicU8};
use std::sync::{mpsc, Arc};

/// A message handed to the backend: a CTAP2 request (CTAPHID_CBOR) or a CTAP1 APDU
/// (CTAPHID_MSG).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageKind {
    Cbor,
    Msg,
}

/// A request in progress. The backend answers on `reply` (through the [`Reply`] it keeps);
/// meanwhile it sets `status` to [`tpm_passkey_wire::ctaphid::keepalive::UPNEEDED`] while it
/// waits for the user, and watches `cancel`, which the transport sets on CTAPHID_CANCEL.
#[derive(Debug)]
pub struct Job {
    pub reply: mpsc::Receiver<Vec<u8>>,
    pub status: Arc<AtomicU8>,
    pub cancel: Arc<AtomicBool>,
}

/// Wakes a transport's I/O loop (it then polls its device).
pub type Wake = Arc<dyn Fn() + Send + Sync>;

/// The backend's half of a request's answer. Sending it — or dropping it unsent — wakes
/// the transport at once, so the answer goes out when it exists, not at the loop's next
/// timer (issue 22: a 20 ms poll used to be in every CBOR command's time).
pub struct Reply {
    tx: Option<mpsc::Sender<Vec<u8>>>,
    wake: Wake,
}

impl std::fmt::Debug for Reply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reply").finish_non_exhaustive()
    }
}

impl Reply {
    /// A reply whose answer the transport receives on the returned end, woken by `wake`.
    pub fn channel(wake: Wake) -> (Reply, mpsc::Receiver<Vec<u8>>) {
        let (tx, rx) = mpsc::channel();
        (Reply { tx: Some(tx), wake }, rx)
    }

    /// Delivers the answer and wakes the transport.
    pub fn send(mut self, answer: Vec<u8>) {
        if let Some(tx) = self.tx.take() {
            let _ = tx.send(answer);
        }
        (self.wake)();
    }
}

impl Drop for Reply {
    fn drop(&mut self) {
        // Dropped unsent (the backend gave up): the transport must see it now, too.
        if self.tx.take().is_some() {
            (self.wake)();
        }
    }
}

/// Where a message came from, as far as the transport can tell: for the socket transport
/// the connected peer's pid (SO_PEERCRED), so the approval prompt can name the application.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Origin {
    pub pid: Option<u32>,
}

/// Answers complete CTAPHID messages. Implementations serialise requests across devices:
/// `submit` returns `None` while another request is in flight (the transport then answers
/// ERR_CHANNEL_BUSY, §11.2.9.1).
pub trait Backend: Send + Sync {
    /// Starts a request; its answer, when sent, calls `wake` (see [`Reply`]).
    fn submit(
        &self,
        kind: MessageKind,
        payload: Vec<u8>,
        origin: Origin,
        wake: Wake,
    ) -> Option<Job>;
    /// CTAPHID_INIT capability flags (§11.2.9.1.3): CBOR, WINK, NMSG.
    fn capabilities(&self) -> u8;
    /// CTAPHID_WINK: draw the user's attention (the approval agent may flash its window).
    fn wink(&self) {}
}
