//! One CTAPHID device: the channel and transaction state machine of CTAP 2.1 §11.2.
//!
//! The I/O loop feeds it reports ([`Device::on_report`]) and polls it ([`Device::poll`])
//! when woken — by the backend's answer ([`crate::Reply`], through the waker the loop
//! gives with [`Device::set_waker`]) or when [`Device::wait_hint`] says (the next keepalive,
//! a message's deadline); both may produce reports to send.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use tpm_passkey_wire::ctaphid::{
    self, capability, cmd, err, fragment, keepalive, FrameError, Packet, Reassembly, BROADCAST_CID,
};

use crate::{Backend, Job, MessageKind, Origin};

pub use tpm_passkey_wire::ctaphid::REPORT_LEN;

/// §11.2.9.2.1: keepalives at least every 100 ms while processing.
pub const KEEPALIVE_EVERY: Duration = Duration::from_millis(100);
/// How long the next packet of a message may take before ERR_MSG_TIMEOUT (§11.2.4 leaves
/// the value to the device). Counted from the last packet, not the first, and generous: on
/// a busy machine a browser's packets pass through its own HID service, hidraw, uhid and the
/// helper, and with the CPU taken (tests/qemu/browsers.sh under load) Chromium's
/// multi-packet makeCredential took more than 500 ms to arrive in full — a 500 ms limit per
/// packet failed too. Chromium takes ERR_MSG_TIMEOUT as a device error and the ceremony fails.
/// All the timeout buys is freeing the device from a writer that died mid-message, so it
/// can be long: other channels get ERR_CHANNEL_BUSY meanwhile and retry, and the writer's
/// own channel resynchronises at once with CTAPHID_INIT.
const TRANSACTION_TIMEOUT: Duration = Duration::from_secs(2);
/// The longest CTAPHID_LOCK (§11.2.9.2.2: 0–10 s).
const MAX_LOCK: u8 = 10;

const PROTOCOL_VERSION: u8 = 2;
/// Channels one device keeps (§11.2.9.1.3 leaves the number to the authenticator). A client
/// that allocates more pushes out the least recently used idle channel, whose owner gets
/// ERR_INVALID_CHANNEL and allocates again: a flood of INITs cannot grow memory, nor lock the
/// other clients of a shared hidraw node out.
pub const MAX_CHANNELS: usize = 128;
const VERSION: [u8; 3] = [0, 1, 0];

struct Receiving {
    msg: Reassembly,
    deadline: Instant,
}

struct Running {
    cid: u32,
    cmd: u8,
    job: Job,
    next_keepalive: Instant,
}

/// See the module documentation.
pub struct Device<B: Backend + ?Sized> {
    backend: std::sync::Arc<B>,
    /// Allocated channels, each with when it was last used (a tick, for eviction).
    channels: HashMap<u32, u64>,
    tick: u64,
    receiving: Option<Receiving>,
    running: Option<Running>,
    lock: Option<(u32, Instant)>,
    /// Asked once per complete message: where it came from.
    origin: Box<dyn FnMut() -> Origin + Send>,
    /// Wakes the I/O loop when a request's answer arrives.
    wake: crate::Wake,
}

impl<B: Backend + ?Sized> std::fmt::Debug for Device<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Device")
            .field("channels", &self.channels.len())
            .finish_non_exhaustive()
    }
}

fn error(cid: u32, code: u8) -> Vec<[u8; REPORT_LEN]> {
    tracing::debug!(
        cid = format_args!("{cid:#010x}"),
        code = format_args!("{code:#04x}"),
        "CTAPHID_ERROR sent"
    );
    fragment(cid, cmd::ERROR, &[code])
}

impl<B: Backend + ?Sized> Device<B> {
    pub fn new(backend: std::sync::Arc<B>) -> Self {
        Self::with_origin(backend, Origin::default())
    }

    /// A device whose messages all come from `origin` (one socket connection).
    pub fn with_origin(backend: std::sync::Arc<B>, origin: Origin) -> Self {
        Self::with_origin_source(backend, move || origin)
    }

    /// A device shared by several clients (a hidraw node): `source` finds, for each
    /// message, who sent it as far as it can tell.
    pub fn with_origin_source(
        backend: std::sync::Arc<B>,
        source: impl FnMut() -> Origin + Send + 'static,
    ) -> Self {
        Device {
            backend,
            channels: HashMap::new(),
            tick: 0,
            receiving: None,
            running: None,
            lock: None,
            origin: Box::new(source),
            wake: std::sync::Arc::new(|| {}),
        }
    }

    /// How the backend's answers wake the I/O loop (without one, the loop must poll).
    pub fn set_waker(&mut self, wake: crate::Wake) {
        self.wake = wake;
    }

    /// True while a request is being processed (the I/O loop should poll often).
    pub fn is_busy(&self) -> bool {
        self.running.is_some() || self.receiving.is_some()
    }

    fn busy_channel(&self) -> Option<u32> {
        self.running
            .as_ref()
            .map(|r| r.cid)
            .or_else(|| self.receiving.as_ref().map(|r| r.msg.cid))
    }

    fn locked_by_other(&mut self, cid: u32) -> bool {
        match self.lock {
            Some((owner, until)) if Instant::now() < until => owner != cid,
            Some(_) => {
                self.lock = None;
                false
            }
            None => false,
        }
    }

    /// Handles one incoming report; returns the reports to send.
    pub fn on_report(&mut self, report: &[u8]) -> Vec<[u8; REPORT_LEN]> {
        let Some(packet) = Packet::parse(report) else {
            return Vec::new();
        };
        match packet {
            Packet::Init {
                cid,
                cmd: command,
                len,
                data,
            } => self.on_init(cid, command, len, data),
            Packet::Cont { cid, seq, data } => {
                let Some(rx) = &mut self.receiving else {
                    return Vec::new(); // §11.2.4: spurious continuations are ignored
                };
                if rx.msg.cid != cid {
                    return Vec::new();
                }
                if let Err(e) = rx.msg.push(seq, data) {
                    self.receiving = None;
                    return error(cid, e.code());
                }
                rx.deadline = Instant::now() + TRANSACTION_TIMEOUT;
                if rx.msg.is_complete() {
                    let Some(rx) = self.receiving.take() else {
                        return Vec::new();
                    };
                    let (cid, command) = (rx.msg.cid, rx.msg.cmd);
                    return self.dispatch(cid, command, rx.msg.into_payload());
                }
                Vec::new()
            }
        }
    }

    fn on_init(&mut self, cid: u32, command: u8, len: u16, data: &[u8]) -> Vec<[u8; REPORT_LEN]> {
        if cid == 0 {
            return error(cid, err::INVALID_CHANNEL);
        }
        if command == cmd::INIT {
            return self.init(cid, len, data);
        }
        if cid == BROADCAST_CID || !self.channels.contains_key(&cid) {
            return error(cid, err::INVALID_CHANNEL);
        }
        self.tick += 1;
        self.channels.insert(cid, self.tick);
        if command == cmd::CANCEL {
            // §11.2.9.1.5: cancels the channel's running request; no response of its own.
            if let Some(r) = &self.running {
                if r.cid == cid {
                    r.job.cancel.store(true, Ordering::SeqCst);
                }
            }
            return Vec::new();
        }
        match self.busy_channel() {
            Some(busy) if busy == cid && self.receiving.is_some() => {
                // A new message before the last one finished arriving.
                self.receiving = None;
                return error(cid, err::INVALID_SEQ);
            }
            Some(_) => return error(cid, err::CHANNEL_BUSY),
            None => {}
        }
        if self.locked_by_other(cid) {
            return error(cid, err::CHANNEL_BUSY);
        }
        let msg = match Reassembly::start(cid, command, len, data) {
            Ok(m) => m,
            Err(FrameError::InvalidLen) | Err(FrameError::InvalidSeq) => {
                return error(cid, err::INVALID_LEN)
            }
        };
        if msg.is_complete() {
            return self.dispatch(cid, command, msg.into_payload());
        }
        self.receiving = Some(Receiving {
            msg,
            deadline: Instant::now() + TRANSACTION_TIMEOUT,
        });
        Vec::new()
    }

    /// §11.2.9.1.3 CTAPHID_INIT: on the broadcast channel, allocate a channel; on an
    /// allocated one, abort what it was doing (resynchronise).
    fn init(&mut self, cid: u32, len: u16, data: &[u8]) -> Vec<[u8; REPORT_LEN]> {
        if len != 8 {
            return error(cid, err::INVALID_LEN);
        }
        let new_cid = if cid == BROADCAST_CID {
            match self.allocate() {
                Some(c) => c,
                None => return error(cid, err::OTHER),
            }
        } else {
            if !self.channels.contains_key(&cid) {
                return error(cid, err::INVALID_CHANNEL);
            }
            if self.receiving.as_ref().is_some_and(|r| r.msg.cid == cid) {
                self.receiving = None;
            }
            if let Some(r) = &self.running {
                if r.cid == cid {
                    r.job.cancel.store(true, Ordering::SeqCst);
                }
            }
            cid
        };
        let mut payload = data[..8].to_vec();
        payload.extend_from_slice(&new_cid.to_be_bytes());
        payload.push(PROTOCOL_VERSION);
        payload.extend_from_slice(&VERSION);
        payload.push(self.backend.capabilities());
        fragment(cid, cmd::INIT, &payload)
    }

    fn allocate(&mut self) -> Option<u32> {
        if self.channels.len() >= MAX_CHANNELS {
            // Never the channel with a request in flight or holding the lock: a flood must not
            // cut a running ceremony short or let a stranger take a locked device.
            let busy = self.busy_channel();
            let locker = self.lock.map(|(c, _)| c);
            let oldest = self
                .channels
                .iter()
                .filter(|(c, _)| Some(**c) != busy && Some(**c) != locker)
                .min_by_key(|(_, t)| **t)
                .map(|(c, _)| *c)?;
            self.channels.remove(&oldest);
        }
        self.tick += 1;
        for _ in 0..16 {
            let mut b = [0u8; 4];
            getrandom::fill(&mut b).ok()?;
            let c = u32::from_be_bytes(b);
            if c != 0 && c != BROADCAST_CID && !self.channels.contains_key(&c) {
                self.channels.insert(c, self.tick);
                return Some(c);
            }
        }
        None
    }

    /// How many channels are allocated (bounded by [`MAX_CHANNELS`]).
    pub fn channel_count(&self) -> usize {
        self.channels.len()
    }

    fn dispatch(&mut self, cid: u32, command: u8, payload: Vec<u8>) -> Vec<[u8; REPORT_LEN]> {
        let caps = self.backend.capabilities();
        match command {
            cmd::PING => fragment(cid, cmd::PING, &payload),
            cmd::WINK if caps & capability::WINK != 0 => {
                self.backend.wink();
                fragment(cid, cmd::WINK, &[])
            }
            cmd::LOCK => {
                let [secs] = payload[..] else {
                    return error(cid, err::INVALID_LEN);
                };
                if secs > MAX_LOCK {
                    return error(cid, err::INVALID_PAR);
                }
                self.lock = (secs > 0)
                    .then(|| (cid, Instant::now() + Duration::from_secs(u64::from(secs))));
                fragment(cid, cmd::LOCK, &[])
            }
            cmd::CBOR | cmd::MSG => {
                if command == cmd::MSG && caps & capability::NMSG != 0 {
                    return error(cid, err::INVALID_CMD);
                }
                if command == cmd::CBOR && payload.is_empty() {
                    return error(cid, err::INVALID_LEN);
                }
                let kind = if command == cmd::CBOR {
                    MessageKind::Cbor
                } else {
                    MessageKind::Msg
                };
                match self
                    .backend
                    .submit(kind, payload, (self.origin)(), self.wake.clone())
                {
                    Some(job) => {
                        self.running = Some(Running {
                            cid,
                            cmd: command,
                            job,
                            next_keepalive: Instant::now() + KEEPALIVE_EVERY,
                        });
                        self.poll()
                    }
                    None => error(cid, err::CHANNEL_BUSY),
                }
            }
            _ => error(cid, err::INVALID_CMD),
        }
    }

    /// Time passing: a finished request's response, a keepalive when due, or
    /// ERR_MSG_TIMEOUT for a message that stopped arriving.
    pub fn poll(&mut self) -> Vec<[u8; REPORT_LEN]> {
        let now = Instant::now();
        if let Some(rx) = &self.receiving {
            if now > rx.deadline {
                let cid = rx.msg.cid;
                tracing::info!(
                    cid = format_args!("{cid:#010x}"),
                    "a CTAPHID message stopped arriving: ERR_MSG_TIMEOUT"
                );
                self.receiving = None;
                return error(cid, err::MSG_TIMEOUT);
            }
        }
        let Some(r) = &mut self.running else {
            return Vec::new();
        };
        match r.job.reply.try_recv() {
            Ok(response) => {
                let (cid, command) = (r.cid, r.cmd);
                self.running = None;
                fragment(cid, command, &response)
            }
            Err(std::sync::mpsc::TryRecvError::Empty) => {
                if now >= r.next_keepalive {
                    r.next_keepalive = now + KEEPALIVE_EVERY;
                    let status = match r.job.status.load(Ordering::SeqCst) {
                        keepalive::UPNEEDED => keepalive::UPNEEDED,
                        _ => keepalive::PROCESSING,
                    };
                    fragment(r.cid, ctaphid::cmd::KEEPALIVE, &[status])
                } else {
                    Vec::new()
                }
            }
            Err(std::sync::mpsc::TryRecvError::Disconnected) => {
                let cid = r.cid;
                self.running = None;
                error(cid, err::OTHER)
            }
        }
    }

    /// How long the I/O loop may wait for a report (or the backend's wake-up) before calling
    /// [`Device::poll`]: while a request runs, until its next keepalive (§11.2.9.1.3: every
    /// 100 ms) — its answer wakes the loop itself; while a message is arriving, until its
    /// deadline; idle, for ever (None) — nothing happens here until a report comes, so the
    /// loop does not wake.
    pub fn wait_hint(&self) -> Option<Duration> {
        if let Some(r) = &self.running {
            return Some(
                r.next_keepalive
                    .saturating_duration_since(Instant::now())
                    .max(Duration::from_millis(1)),
            );
        }
        self.receiving.as_ref().map(|rx| {
            rx.deadline.saturating_duration_since(Instant::now()) + Duration::from_millis(1)
        })
    }
}

impl<B: Backend + ?Sized> Drop for Device<B> {
    fn drop(&mut self) {
        // The client went away mid-request: let the engine stop waiting for the user.
        if let Some(r) = &self.running {
            r.job.cancel.store(true, Ordering::SeqCst);
        }
    }
}

#[cfg(test)]
mod tests;
