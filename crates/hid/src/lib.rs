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

pub use device::{Device, MAX_CHANNELS, REPORT_LEN};

use std::sync::atomic::{AtomicBool, AtomicU8};
use std::sync::{mpsc, Arc};

/// A message handed to the backend: a CTAP2 request (CTAPHID_CBOR) or a CTAP1 APDU
/// (CTAPHID_MSG).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageKind {
    Cbor,
    Msg,
}

/// A request in progress. The backend answers on `reply`; meanwhile it sets `status` to
/// [`tpm_passkey_wire::ctaphid::keepalive::UPNEEDED`] while it waits for the user, and
/// watches `cancel`, which the transport sets on CTAPHID_CANCEL.
#[derive(Debug)]
pub struct Job {
    pub reply: mpsc::Receiver<Vec<u8>>,
    pub status: Arc<AtomicU8>,
    pub cancel: Arc<AtomicBool>,
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
    fn submit(&self, kind: MessageKind, payload: Vec<u8>, origin: Origin) -> Option<Job>;
    /// CTAPHID_INIT capability flags (§11.2.9.1.3): CBOR, WINK, NMSG.
    fn capabilities(&self) -> u8;
    /// CTAPHID_WINK: draw the user's attention (the approval agent may flash its window).
    fn wink(&self) {}
}
