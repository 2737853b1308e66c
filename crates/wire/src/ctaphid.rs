//! CTAPHID framing, CTAP 2.1 §11.2.4 "Message and packet structure".
//!
//! A message travels as one initialization packet (CID, CMD with bit 7 set, 16-bit
//! big-endian length, 57 data bytes) and up to 128 continuation packets (CID, SEQ 0..=127,
//! 59 data bytes), each exactly 64 bytes. This module splits messages into packets and
//! reassembles them; channel allocation, timeouts and busy handling are the transport's.

/// Size of one HID report, CTAP 2.1 §11.2.4 (full-speed USB, 64-byte endpoints).
pub const REPORT_LEN: usize = 64;
const INIT_DATA: usize = REPORT_LEN - 7;
const CONT_DATA: usize = REPORT_LEN - 5;
/// The largest message a 64-byte transport can carry: 57 + 128 × 59.
pub const MAX_MESSAGE: usize = INIT_DATA + 128 * CONT_DATA;
/// The broadcast channel, used only by CTAPHID_INIT (§11.2.9.1.3).
pub const BROADCAST_CID: u32 = 0xffff_ffff;

/// CTAPHID commands (§11.2.9), without the bit-7 frame-type marker.
pub mod cmd {
    pub const PING: u8 = 0x01;
    pub const MSG: u8 = 0x03;
    pub const LOCK: u8 = 0x04;
    pub const INIT: u8 = 0x06;
    pub const WINK: u8 = 0x08;
    pub const CBOR: u8 = 0x10;
    pub const CANCEL: u8 = 0x11;
    pub const KEEPALIVE: u8 = 0x3b;
    pub const ERROR: u8 = 0x3f;
}

/// CTAPHID_ERROR codes (§11.2.9.1.6).
pub mod err {
    pub const INVALID_CMD: u8 = 0x01;
    pub const INVALID_PAR: u8 = 0x02;
    pub const INVALID_LEN: u8 = 0x03;
    pub const INVALID_SEQ: u8 = 0x04;
    pub const MSG_TIMEOUT: u8 = 0x05;
    pub const CHANNEL_BUSY: u8 = 0x06;
    pub const LOCK_REQUIRED: u8 = 0x0a;
    pub const INVALID_CHANNEL: u8 = 0x0b;
    pub const OTHER: u8 = 0x7f;
}

/// CTAPHID_KEEPALIVE status bytes (§11.2.9.2.1).
pub mod keepalive {
    pub const PROCESSING: u8 = 1;
    pub const UPNEEDED: u8 = 2;
}

/// Capability flags reported by CTAPHID_INIT (§11.2.9.1.3).
pub mod capability {
    pub const WINK: u8 = 0x01;
    pub const CBOR: u8 = 0x04;
    /// Set when the device does NOT implement CTAPHID_MSG (CTAP1).
    pub const NMSG: u8 = 0x08;
}

/// One 64-byte report, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Packet<'a> {
    Init {
        cid: u32,
        cmd: u8,
        len: u16,
        data: &'a [u8],
    },
    Cont {
        cid: u32,
        seq: u8,
        data: &'a [u8],
    },
}

impl<'a> Packet<'a> {
    /// Parses a report; anything but exactly 64 bytes is refused.
    pub fn parse(report: &'a [u8]) -> Option<Self> {
        if report.len() != REPORT_LEN {
            return None;
        }
        let cid = u32::from_be_bytes([report[0], report[1], report[2], report[3]]);
        let b = report[4];
        Some(if b & 0x80 != 0 {
            Packet::Init {
                cid,
                cmd: b & 0x7f,
                len: u16::from_be_bytes([report[5], report[6]]),
                data: &report[7..],
            }
        } else {
            Packet::Cont {
                cid,
                seq: b,
                data: &report[5..],
            }
        })
    }

    pub fn cid(&self) -> u32 {
        match self {
            Packet::Init { cid, .. } | Packet::Cont { cid, .. } => *cid,
        }
    }
}

/// Splits a message into reports. `payload` longer than [`MAX_MESSAGE`] is truncated by
/// the caller's contract; responses we build are far shorter.
pub fn fragment(cid: u32, command: u8, payload: &[u8]) -> Vec<[u8; REPORT_LEN]> {
    let payload = &payload[..payload.len().min(MAX_MESSAGE)];
    let mut out = Vec::with_capacity(1 + payload.len() / CONT_DATA);
    let mut first = [0u8; REPORT_LEN];
    first[..4].copy_from_slice(&cid.to_be_bytes());
    first[4] = command | 0x80;
    // MAX_MESSAGE (7609) fits in u16.
    first[5..7].copy_from_slice(&(payload.len() as u16).to_be_bytes());
    let n = payload.len().min(INIT_DATA);
    first[7..7 + n].copy_from_slice(&payload[..n]);
    out.push(first);
    for (seq, chunk) in payload[n..].chunks(CONT_DATA).enumerate() {
        let mut p = [0u8; REPORT_LEN];
        p[..4].copy_from_slice(&cid.to_be_bytes());
        p[4] = seq as u8; // at most 128 chunks, seq 0..=127
        p[5..5 + chunk.len()].copy_from_slice(chunk);
        out.push(p);
    }
    out
}

/// Why a message could not be reassembled; each maps to a CTAPHID_ERROR code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("invalid length")]
    InvalidLen,
    #[error("invalid sequence")]
    InvalidSeq,
}

impl FrameError {
    pub fn code(self) -> u8 {
        match self {
            FrameError::InvalidLen => err::INVALID_LEN,
            FrameError::InvalidSeq => err::INVALID_SEQ,
        }
    }
}

/// A message being reassembled from an initialization packet and its continuations.
#[derive(Debug, Clone)]
pub struct Reassembly {
    pub cid: u32,
    pub cmd: u8,
    len: usize,
    buf: Vec<u8>,
    next_seq: u8,
}

impl Reassembly {
    /// Starts from an initialization packet's fields.
    pub fn start(cid: u32, cmd: u8, len: u16, data: &[u8]) -> Result<Self, FrameError> {
        let len = usize::from(len);
        if len > MAX_MESSAGE {
            return Err(FrameError::InvalidLen);
        }
        let mut buf = Vec::with_capacity(len);
        buf.extend_from_slice(&data[..len.min(data.len())]);
        Ok(Self {
            cid,
            cmd,
            len,
            buf,
            next_seq: 0,
        })
    }

    /// Adds a continuation packet; sequence numbers must run 0, 1, 2, … (§11.2.4).
    pub fn push(&mut self, seq: u8, data: &[u8]) -> Result<(), FrameError> {
        if seq != self.next_seq || self.is_complete() {
            return Err(FrameError::InvalidSeq);
        }
        self.next_seq += 1;
        let want = self.len - self.buf.len();
        self.buf.extend_from_slice(&data[..want.min(data.len())]);
        Ok(())
    }

    pub fn is_complete(&self) -> bool {
        self.buf.len() == self.len
    }

    /// The message, once complete.
    pub fn into_payload(self) -> Vec<u8> {
        self.buf
    }
}

#[cfg(test)]
mod tests;
